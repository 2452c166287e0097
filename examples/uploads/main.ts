// Uploads: a multipart form with a file, limited to 256 KiB on this route, kept in kv and
// served back as a Blob with its type.
export function init() {
  registerWebHandler("POST", "/files/:name", async (req, ctx) => {
    const form = await req.formData();
    const file = form.get("file");
    if (!(file instanceof File)) throw new HttpError(400, "send the content as the `file` field");
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await file.bytes()));
    const sha256 = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    await kv.set(`file:${ctx.params.name}`, { type: file.type, data: btoa(String.fromCharCode(...(await file.bytes()))) });
    return Response.json({ name: file.name, size: file.size, sha256 }, { status: 201 });
  }, { maxBodyBytes: 256 * 1024 });

  registerWebHandler("GET", "/files/:name", async (req, ctx) => {
    const saved = await kv.get<{ type: string; data: string }>(`file:${ctx.params.name}`);
    if (saved === null) throw new HttpError(404, "no such file");
    const bytes = Uint8Array.from(atob(saved.data), (c) => c.charCodeAt(0));
    return new Response(new Blob([bytes], { type: saved.type }));
  });
}
