// Kiln prelude: fetch(input, init) over the `fetch` host operation.
//
// The Request constructor normalises the arguments; the host checks the egress policy (after
// DNS resolution and again on every redirect, which it follows itself), enforces the
// per-invocation limits and answers with the status, headers and buffered body (the body
// arrives as the result's binary part). An AbortSignal rejects the promise at once and cancels
// the operation: the host drops the request, closing its connection.

/** fetch failures other than network errors (`FETCH_TIMEOUT`, `FETCH_LIMIT_EXCEEDED`, …). */
class FetchError extends KilnError {}
defineValue(FetchError.prototype, "name", "FetchError");

/** A fetch the egress policy refused (`code` is `EGRESS_DENIED`). */
class EgressDeniedError extends KilnError {}
defineValue(EgressDeniedError.prototype, "name", "EgressDeniedError");

/** Network failures reject with a TypeError, as on the Web; the cause carries Kiln's code. */
function fetchFailure(err) {
  if (err instanceof FetchError && err.code === "FETCH_NETWORK") {
    return new TypeErrorCtor(`fetch failed: ${err.message}`, { cause: err });
  }
  return err;
}

function fetch(input, init = undefined) {
  const argc = arguments.length;
  return new PromiseCtor((resolve, reject) => {
    requireArgs(argc, 1, "fetch");
    const parts = requestFetchParts(new Request(input, init));
    const signal = parts[5];
    if (signal !== null && abortSignalIsAborted(signal)) {
      reject(abortSignalReason(signal));
      return;
    }
    const body = parts[3];
    let bytes;
    if (body !== null) {
      if (body.used) throw new TypeErrorCtor("fetch: the request body has already been used");
      body.used = true;
      bytes = body.text !== null ? body.text : body.bytes;
    }
    const args = {
      __proto__: null,
      url: parts[1],
      method: parts[0],
      headers: headersToFlat(parts[2]),
      redirect: parts[4],
    };
    let settled = false;
    const onValue = (value) => {
      if (settled) return;
      settled = true;
      const data = value.bytes === undefined ? new Uint8ArrayCtor(0) : value.bytes;
      resolve(createFetchedResponse(value.status, value.statusText, value.headers, data, value.url, value.redirected));
    };
    const onError = (err) => {
      if (settled) return;
      settled = true;
      reject(fetchFailure(err));
    };
    // Registered like hostCall's own entries, without a promise in between: chaining one
    // would go through Promise.prototype.then, which scripts can replace.
    const id = hostStartOp("fetch", JSONStringify(args), bytes);
    MapPrototypeSet(pendingOps, id, { __proto__: null, op: "fetch", resolve: onValue, reject: onError });
    if (signal !== null) {
      abortSignalAddAlgorithm(signal, () => {
        if (settled) return;
        settled = true;
        MapPrototypeDelete(pendingOps, id);
        hostCancelOp(id);
        reject(abortSignalReason(signal));
      });
    }
  });
}

defineGlobal("FetchError", FetchError);
defineGlobal("EgressDeniedError", EgressDeniedError);
defineGlobal("fetch", fetch);
