// Benchmark case "hello": the smallest possible handler. Same behaviour as the axum baseline's
// `GET /` (bench/baseline/src/main.rs): a returned string is sent as 200 text/plain.
export function init() {
  registerWebHandler("GET", "/", () => "hello world");
}
