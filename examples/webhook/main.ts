// Verifies an HMAC-SHA256 signed webhook with a secret (`kiln secrets set webhook WEBHOOK_SECRET`)
// and a variable from kiln.toml.
function fromHex(hex: string) {
  const pairs = hex.match(/../g) ?? [];
  return Uint8Array.from(pairs, (b) => parseInt(b, 16));
}

export function init() {
  registerWebHandler("POST", "/webhook", async (req, ctx) => {
    const secret = ctx.env.WEBHOOK_SECRET;
    if (!secret) throw new HttpError(503, "WEBHOOK_SECRET is not set");
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret),
      { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    const body = await req.bytes();
    const signature = fromHex(req.headers.get(ctx.env.SIGNATURE_HEADER) ?? "");
    if (!(await crypto.subtle.verify("HMAC", key, signature, body))) throw new HttpError(401, "bad signature");
    const event = JSON.parse(new TextDecoder().decode(body)) as { type?: string };
    console.log("webhook received", event.type);
    return { received: event.type ?? null };
  });
}
