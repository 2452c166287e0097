// Benchmark case "json": parse a ~1 KB JSON body, add one field, answer it re-serialised. Same
// behaviour as the axum baseline's `POST /echo`: a returned object is sent as 200 JSON.
export function init() {
  registerWebHandler("POST", "/echo", async (req) => {
    const body = await req.json();
    body.echoed = true;
    return body;
  });
}
