// A notes API on the script's own SQL database (see migrations/), with a kv view counter.
interface Note {
  id: number;
  text: string;
  created_at: number;
}

export function init() {
  registerWebHandler("POST", "/notes", async (req) => {
    const { text } = (await req.json()) as { text?: unknown };
    if (typeof text !== "string" || text === "") throw new HttpError(400, "text is required");
    const { lastInsertId } = await db.execute("INSERT INTO notes (text, created_at) VALUES (?, ?)", [text, Date.now()]);
    return Response.json({ id: lastInsertId }, { status: 201 });
  });

  registerWebHandler("GET", "/notes/:id", async (req, ctx) => {
    const [note] = await db.query<Note & { [column: string]: KilnSqlResult }>(
      "SELECT id, text, created_at FROM notes WHERE id = ?", [Number(ctx.params.id)]);
    if (!note) throw new HttpError(404, "no such note");
    const views = await kv.increment(`views:${note.id}`);
    return { ...note, views };
  });

  // Both notes or neither: a throw inside the callback rolls the transaction back.
  registerWebHandler("POST", "/notes/pair", async (req) => {
    const { first, second } = (await req.json()) as { first: string; second: string };
    return db.transaction(async (tx) => {
      await tx.execute("INSERT INTO notes (text, created_at) VALUES (?, ?)", [first, Date.now()]);
      if (!second) throw new HttpError(400, "second is required");
      await tx.execute("INSERT INTO notes (text, created_at) VALUES (?, ?)", [second, Date.now()]);
      const [{ n }] = await tx.query<{ n: number }>("SELECT COUNT(*) AS n FROM notes");
      return { total: n };
    });
  });
}
