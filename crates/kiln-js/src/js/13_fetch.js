// Kiln prelude: fetch(input, init) over the `fetch` host operation.
//
// The Request constructor normalises the arguments; the host checks the egress policy (after
// DNS resolution and again on every redirect, which it follows itself), enforces the
// per-invocation limits and answers with the status, the headers and the body's first bytes
// (the result's binary part); a longer body is streamed on (`fetchedBody`). An AbortSignal
// rejects the promise at once and cancels the operation: the host drops the request, closing
// its connection.

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

/**
 * The body of a fetched response: the bytes the host sent with the answer and, when the
 * response was longer, a stream pulling the rest from the host (`fetch.read`) as the script
 * reads; cancelling it (or dropping it unread, until the invocation ends) closes the connection.
 */
function fetchedBody(value) {
  const first = value.bytes === undefined ? new Uint8ArrayCtor(0) : value.bytes;
  const handle = value.body;
  if (handle === undefined || handle === null) return new BodyData(null, first);
  let pending = TypedArrayPrototypeGetLength(first) > 0 ? first : null;
  const body = new BodyData(null, null);
  body.stream = streamFromSource(
    (controller) => {
      if (pending !== null) {
        controller.enqueue(pending);
        pending = null;
        return undefined;
      }
      return new PromiseCtor((resolve, reject) => {
        PromisePrototypeThen(
          hostCall("fetch.read", { __proto__: null, body: handle }),
          (chunk) => {
            if (chunk.done) controller.close();
            else controller.enqueue(chunk.bytes);
            resolve(undefined);
          },
          (err) => reject(fetchFailure(err)),
        );
      });
    },
    () => {
      pending = null;
      PromisePrototypeThen(hostCall("fetch.cancel", { __proto__: null, body: handle }), undefined, () => {});
      return undefined;
    },
  );
  return body;
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
    const args = {
      __proto__: null,
      url: parts[1],
      method: parts[0],
      headers: headersToFlat(parts[2]),
      redirect: parts[4],
    };
    let settled = false;
    let id = null;
    const onValue = (value) => {
      if (settled) return;
      settled = true;
      resolve(createFetchedResponse(value.status, value.statusText, value.headers, fetchedBody(value), value.url, value.redirected));
    };
    const onError = (err) => {
      if (settled) return;
      settled = true;
      reject(fetchFailure(err));
    };
    const start = (bytes) => {
      if (settled) return;
      // Registered like hostCall's own entries, without a promise in between: chaining one
      // would go through Promise.prototype.then, which scripts can replace.
      id = hostStartOp("fetch", JSONStringify(args), bytes);
      MapPrototypeSet(pendingOps, id, { __proto__: null, op: "fetch", resolve: onValue, reject: onError });
    };
    if (signal !== null) {
      abortSignalAddAlgorithm(signal, () => {
        if (settled) return;
        settled = true;
        if (id !== null) {
          MapPrototypeDelete(pendingOps, id);
          hostCancelOp(id);
        }
        reject(abortSignalReason(signal));
      });
    }
    if (body === null) {
      start(undefined);
    } else if (body.stream !== null) {
      // A stream request body is read whole first (requests are sent with a length).
      PromisePrototypeThen(consumeStream(body, "fetch"), start, onError);
    } else {
      if (body.used) throw new TypeErrorCtor("fetch: the request body has already been used");
      body.used = true;
      start(body.text !== null ? body.text : body.bytes);
    }
  });
}

defineGlobal("FetchError", FetchError);
defineGlobal("EgressDeniedError", EgressDeniedError);
defineGlobal("fetch", fetch);
