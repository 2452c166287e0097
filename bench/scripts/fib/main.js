// Benchmark case "fib": pure interpreter compute. Same behaviour as the axum baseline's
// `GET /fib?n=20`: recursive fib(n), n capped at 30, 400 on a bad n.
const MAX_N = 30;

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

export function init() {
  registerWebHandler("GET", "/fib", (req, ctx) => {
    const n = Number(ctx.query.n ?? 20);
    if (!Number.isInteger(n) || n < 0 || n > MAX_N) {
      return Response.json({ error: `n must be an integer from 0 to ${MAX_N}` }, { status: 400 });
    }
    return { n, fib: fib(n) };
  });
}
