// Routes, parameters and errors.
export function init() {
  registerWebHandler("GET", "/hello/:name", (req, ctx) => {
    const shout = ctx.query.shout === "1";
    const greeting = `hello, ${ctx.params.name}`;
    return Response.json({ greeting: shout ? greeting.toUpperCase() : greeting, requestId: ctx.requestId });
  }, { summary: "Greets by name" });

  registerWebHandler("POST", "/hello/echo", async (req) => {
    const body: unknown = await req.json();
    if (typeof body !== "object" || body === null) throw new HttpError(400, "send a JSON object");
    return { echoed: body };
  });
}
