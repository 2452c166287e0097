// Fetches a URL (the operator must allow its host in [egress]) and reports its size, reading
// the body as a stream so that a large download is never held whole.
export function init() {
  registerWebHandler("GET", "/measure", async (req, ctx) => {
    const url = ctx.query.url;
    if (!url) throw new HttpError(400, "pass ?url=");
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
      let bytes = 0;
      let chunks = 0;
      if (response.body !== null) {
        for await (const chunk of response.body) {
          bytes += chunk.length;
          chunks++;
        }
      }
      return { status: response.status, bytes, chunks };
    } catch (e) {
      if (e instanceof EgressDeniedError) throw new HttpError(403, e.message, { code: e.code });
      throw e;
    }
  });
}
