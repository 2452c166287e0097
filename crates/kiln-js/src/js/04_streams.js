// Kiln prelude: ReadableStream — the WHATWG Streams default-reader subset: underlying sources
// with start/pull/cancel and a count high-water mark, ReadableStreamDefaultReader, async
// iteration, tee() and ReadableStream.from(). Not provided: byte streams with BYOB readers
// (`type: "bytes"` streams behave as default streams), WritableStream, TransformStream and so
// pipeTo/pipeThrough.
//
// Bodies use it: `response.body` of a fetched response pulls chunks from the host as the
// script reads, `new Response(stream)` is drained when the handler returns it.
//
// Internals work on a null-prototype state record and settle promises through captured
// resolvers, never through a script-replaceable `then`.

const PromisePrototypeThen = uncurryThis(PromisePrototype.then);
const SymbolAsyncIterator = SymbolCtor.asyncIterator;
const kStreamToken = { __proto__: null };

let isReadableStream; // (v) => boolean
let streamIsDisturbed; // (stream) => boolean
let streamIsLocked; // (stream) => boolean
let streamFromSource; // (pull(controller) => promise|undefined, cancel(reason)) => ReadableStream
let streamTee; // (stream) => [ReadableStream, ReadableStream]
let readableStreamState; // (stream) => state record

/** `new PromiseCtor` plus its resolvers. */
function promiseWithResolvers() {
  let resolve;
  let reject;
  const promise = new PromiseCtor((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { __proto__: null, promise, resolve, reject };
}

/** Runs `onFulfilled`/`onRejected` when `value` (a promise or not) settles. */
function whenSettled(value, onFulfilled, onRejected) {
  const p = new PromiseCtor((resolve) => resolve(value));
  PromisePrototypeThen(p, onFulfilled, onRejected);
}

/** A rejected promise whose rejection is marked handled (nobody may ever look at it). */
function handledRejection(error) {
  const p = new PromiseCtor((_, reject) => reject(error));
  PromisePrototypeThen(p, undefined, () => {});
  return p;
}

function newStreamState(highWaterMark) {
  return {
    __proto__: null,
    state: "readable", // "closed" | "errored"
    queue: [],
    head: 0,
    storedError: undefined,
    reads: [], // pending read requests: { chunk(c), close(), error(e) }
    reader: null, // the reader's record: { closed: resolvers }
    disturbed: false,
    started: false,
    pulling: false,
    pullAgain: false,
    closeRequested: false,
    highWaterMark,
    pull: null, // (controller) => promise|undefined
    cancel: null, // (reason) => promise|undefined
    controller: null,
  };
}

function queueLength(st) {
  return st.queue.length - st.head;
}

function dequeue(st) {
  const chunk = st.queue[st.head];
  st.queue[st.head] = undefined;
  st.head++;
  if (st.head === st.queue.length) {
    st.queue = [];
    st.head = 0;
  }
  return chunk;
}

function desiredSize(st) {
  if (st.state === "errored") return null;
  if (st.state === "closed") return 0;
  return st.highWaterMark - queueLength(st);
}

function finishClose(st) {
  st.state = "closed";
  const reads = st.reads;
  st.reads = [];
  for (let i = 0; i < reads.length; i++) reads[i].close();
  if (st.reader !== null) st.reader.closed.resolve(undefined);
}

function streamError(st, error) {
  if (st.state !== "readable") return;
  st.state = "errored";
  st.storedError = error;
  st.queue = [];
  st.head = 0;
  const reads = st.reads;
  st.reads = [];
  for (let i = 0; i < reads.length; i++) reads[i].error(error);
  if (st.reader !== null) {
    PromisePrototypeThen(st.reader.closed.promise, undefined, () => {});
    st.reader.closed.reject(error);
  }
}

function callPullIfNeeded(st) {
  if (!st.started || st.state !== "readable" || st.closeRequested || st.pull === null) return;
  if (st.reads.length === 0 && desiredSize(st) <= 0) return;
  if (st.pulling) {
    st.pullAgain = true;
    return;
  }
  st.pulling = true;
  let result;
  try {
    result = st.pull(st.controller);
  } catch (e) {
    streamError(st, e);
    return;
  }
  whenSettled(
    result,
    () => {
      st.pulling = false;
      if (st.pullAgain) {
        st.pullAgain = false;
        callPullIfNeeded(st);
      }
    },
    (e) => streamError(st, e),
  );
}

function streamEnqueue(st, chunk) {
  if (st.closeRequested || st.state !== "readable") {
    throw new TypeErrorCtor("ReadableStream: cannot enqueue into a closed or errored stream");
  }
  if (st.reads.length > 0) {
    const reads = st.reads;
    const first = reads[0];
    const rest = [];
    for (let i = 1; i < reads.length; i++) rest[rest.length] = reads[i];
    st.reads = rest;
    first.chunk(chunk);
  } else {
    st.queue[st.queue.length] = chunk;
  }
  callPullIfNeeded(st);
}

function streamClose(st) {
  if (st.closeRequested || st.state !== "readable") {
    throw new TypeErrorCtor("ReadableStream: the stream is already closing or closed");
  }
  st.closeRequested = true;
  if (queueLength(st) === 0) finishClose(st);
}

/** Reads one chunk into `request` ({ chunk, close, error }). */
function streamRead(st, request) {
  st.disturbed = true;
  if (st.state === "closed") {
    request.close();
  } else if (st.state === "errored") {
    request.error(st.storedError);
  } else if (queueLength(st) > 0) {
    const chunk = dequeue(st);
    if (st.closeRequested && queueLength(st) === 0) finishClose(st);
    else callPullIfNeeded(st);
    request.chunk(chunk);
  } else {
    st.reads[st.reads.length] = request;
    callPullIfNeeded(st);
  }
}

/** Cancels the stream; resolves once the source has been told. */
function streamCancel(st, reason) {
  st.disturbed = true;
  if (st.state === "closed") return new PromiseCtor((resolve) => resolve(undefined));
  if (st.state === "errored") return handledRejection(st.storedError);
  st.queue = [];
  st.head = 0;
  finishClose(st);
  const cancel = st.cancel;
  st.pull = null;
  st.cancel = null;
  return new PromiseCtor((resolve, reject) => {
    let result;
    try {
      result = cancel === null ? undefined : cancel(reason);
    } catch (e) {
      reject(e);
      return;
    }
    whenSettled(result, () => resolve(undefined), reject);
  });
}

function checkSourceMethod(fn, name) {
  if (fn !== undefined && typeof fn !== "function") {
    throw new TypeErrorCtor(`ReadableStream: source.${name} must be a function`);
  }
}

class ReadableStreamDefaultController {
  #st;
  constructor(token, st) {
    if (token !== kStreamToken) throw new TypeErrorCtor("Illegal constructor");
    this.#st = st;
  }
  get desiredSize() {
    return desiredSize(this.#st);
  }
  enqueue(chunk = undefined) {
    streamEnqueue(this.#st, chunk);
  }
  close() {
    streamClose(this.#st);
  }
  error(e = undefined) {
    streamError(this.#st, e);
  }
}
defineToStringTag(ReadableStreamDefaultController.prototype, "ReadableStreamDefaultController");

class ReadableStreamDefaultReader {
  #st = null;
  #closed;

  constructor(stream) {
    requireArgs(arguments.length, 1, "ReadableStreamDefaultReader constructor");
    if (!isReadableStream(stream)) throw new TypeErrorCtor("ReadableStreamDefaultReader: the argument must be a ReadableStream");
    const st = readableStreamState(stream);
    if (st.reader !== null) throw new TypeErrorCtor("ReadableStreamDefaultReader: the stream is locked to another reader");
    const closed = promiseWithResolvers();
    this.#closed = closed;
    this.#st = st;
    st.reader = { __proto__: null, closed };
    if (st.state === "closed") closed.resolve(undefined);
    else if (st.state === "errored") {
      PromisePrototypeThen(closed.promise, undefined, () => {});
      closed.reject(st.storedError);
    }
  }

  get closed() {
    return this.#closed.promise;
  }

  read() {
    const st = this.#st;
    if (st === null) return handledRejection(new TypeErrorCtor("ReadableStreamDefaultReader.read: the reader has been released"));
    return new PromiseCtor((resolve, reject) => {
      streamRead(st, {
        __proto__: null,
        chunk: (value) => resolve({ value, done: false }),
        close: () => resolve({ value: undefined, done: true }),
        error: reject,
      });
    });
  }

  releaseLock() {
    const st = this.#st;
    if (st === null) return;
    const released = new TypeErrorCtor("ReadableStreamDefaultReader: the reader has been released");
    const reads = st.reads;
    st.reads = [];
    for (let i = 0; i < reads.length; i++) reads[i].error(released);
    if (st.state === "readable") {
      PromisePrototypeThen(this.#closed.promise, undefined, () => {});
      this.#closed.reject(released);
    }
    st.reader = null;
    this.#st = null;
  }

  cancel(reason = undefined) {
    const st = this.#st;
    if (st === null) return handledRejection(new TypeErrorCtor("ReadableStreamDefaultReader.cancel: the reader has been released"));
    return streamCancel(st, reason);
  }
}
defineToStringTag(ReadableStreamDefaultReader.prototype, "ReadableStreamDefaultReader");

/** The async iterator of `stream.values()` / `for await (const chunk of stream)`. */
function streamIterator(stream, preventCancel) {
  const reader = new ReadableStreamDefaultReader(stream);
  let finished = false;
  const iterator = {
    next() {
      if (finished) return new PromiseCtor((resolve) => resolve({ value: undefined, done: true }));
      return new PromiseCtor((resolve, reject) => {
        PromisePrototypeThen(
          reader.read(),
          (result) => {
            if (result.done) {
              finished = true;
              reader.releaseLock();
            }
            resolve(result);
          },
          (e) => {
            finished = true;
            reader.releaseLock();
            reject(e);
          },
        );
      });
    },
    return(value = undefined) {
      if (finished) return new PromiseCtor((resolve) => resolve({ value, done: true }));
      finished = true;
      return new PromiseCtor((resolve, reject) => {
        const done = () => {
          reader.releaseLock();
          resolve({ value, done: true });
        };
        if (preventCancel) {
          done();
          return;
        }
        PromisePrototypeThen(reader.cancel(value), done, (e) => {
          reader.releaseLock();
          reject(e);
        });
      });
    },
    [SymbolAsyncIterator]() {
      return this;
    },
  };
  return iterator;
}

class ReadableStream {
  #st;

  static {
    isReadableStream = (v) => isObjectLike(v) && #st in v;
    readableStreamState = (s) => s.#st;
    streamIsDisturbed = (s) => s.#st.disturbed;
    streamIsLocked = (s) => s.#st.reader !== null;
    streamFromSource = (pull, cancel) => {
      const stream = new ReadableStream();
      const st = stream.#st;
      st.highWaterMark = 0; // pull only when read: the host is asked for one chunk at a time
      st.pull = pull;
      st.cancel = cancel;
      return stream;
    };
    platformBrandChecks[platformBrandChecks.length] = isReadableStream;
  }

  constructor(source = undefined, strategy = undefined) {
    if (source !== undefined && source !== null && !isObjectLike(source)) {
      throw new TypeErrorCtor("ReadableStream: the underlying source must be an object");
    }
    let highWaterMark = 1;
    if (strategy !== undefined && strategy !== null) {
      if (!isObjectLike(strategy)) throw new TypeErrorCtor("ReadableStream: the strategy must be an object");
      const hwm = strategy.highWaterMark;
      if (hwm !== undefined) {
        highWaterMark = NumberCtor(hwm);
        if (NumberIsNaN(highWaterMark) || highWaterMark < 0) {
          throw new RangeErrorCtor("ReadableStream: highWaterMark must be a non-negative number");
        }
      }
    }
    const st = newStreamState(highWaterMark);
    this.#st = st;
    st.controller = new ReadableStreamDefaultController(kStreamToken, st);
    if (source === undefined || source === null) {
      st.started = true;
      return;
    }
    const type = source.type;
    if (type !== undefined && type !== "bytes") {
      throw new TypeErrorCtor(`ReadableStream: unsupported source type '${toDOMString(type)}'`);
    }
    const start = source.start;
    const pull = source.pull;
    const cancel = source.cancel;
    checkSourceMethod(start, "start");
    checkSourceMethod(pull, "pull");
    checkSourceMethod(cancel, "cancel");
    if (pull !== undefined) st.pull = (controller) => ReflectApply(pull, source, [controller]);
    if (cancel !== undefined) st.cancel = (reason) => ReflectApply(cancel, source, [reason]);
    const started = start === undefined ? undefined : ReflectApply(start, source, [st.controller]);
    whenSettled(
      started,
      () => {
        st.started = true;
        callPullIfNeeded(st);
      },
      (e) => streamError(st, e),
    );
  }

  static from(iterable) {
    requireArgs(arguments.length, 1, "ReadableStream.from");
    if (!isObjectLike(iterable) && typeof iterable !== "string") {
      throw new TypeErrorCtor("ReadableStream.from: the argument must be iterable");
    }
    const asyncMethod = iterable[SymbolAsyncIterator];
    const method = asyncMethod !== undefined && asyncMethod !== null ? asyncMethod : iterable[SymbolIterator];
    if (typeof method !== "function") throw new TypeErrorCtor("ReadableStream.from: the argument must be iterable");
    const iterator = ReflectApply(method, iterable, []);
    if (!isObjectLike(iterator)) throw new TypeErrorCtor("ReadableStream.from: the iterator must be an object");
    const next = iterator.next;
    return streamFromSource(
      (controller) =>
        new PromiseCtor((resolve, reject) => {
          whenSettled(
            ReflectApply(next, iterator, []),
            (result) => {
              if (!isObjectLike(result)) {
                reject(new TypeErrorCtor("ReadableStream.from: the iterator result must be an object"));
                return;
              }
              if (result.done) controller.close();
              else {
                // A sync iterator may yield promises: their values are the chunks.
                whenSettled(
                  result.value,
                  (value) => {
                    controller.enqueue(value);
                    resolve(undefined);
                  },
                  reject,
                );
                return;
              }
              resolve(undefined);
            },
            reject,
          );
        }),
      (reason) => {
        const ret = iterator.return;
        if (typeof ret === "function") return ReflectApply(ret, iterator, [reason]);
        return undefined;
      },
    );
  }

  get locked() {
    return this.#st.reader !== null;
  }

  cancel(reason = undefined) {
    if (this.#st.reader !== null) return handledRejection(new TypeErrorCtor("ReadableStream.cancel: the stream is locked to a reader"));
    return streamCancel(this.#st, reason);
  }

  getReader(options = undefined) {
    if (options !== undefined && options !== null) {
      if (!isObjectLike(options)) throw new TypeErrorCtor("ReadableStream.getReader: options must be an object");
      const mode = options.mode;
      if (mode !== undefined) {
        throw new TypeErrorCtor(`ReadableStream.getReader: reader mode '${toDOMString(mode)}' is not supported; use a default reader`);
      }
    }
    return new ReadableStreamDefaultReader(this);
  }

  tee() {
    return streamTee(this);
  }

  values(options = undefined) {
    const preventCancel = isObjectLike(options) ? !!options.preventCancel : false;
    return streamIterator(this, preventCancel);
  }

  [SymbolAsyncIterator](options = undefined) {
    return this.values(options);
  }

  pipeTo() {
    return handledRejection(new TypeErrorCtor("ReadableStream.pipeTo is not supported (there is no WritableStream); read the stream instead"));
  }

  pipeThrough() {
    throw new TypeErrorCtor("ReadableStream.pipeThrough is not supported (there is no TransformStream); read the stream instead");
  }

  [kInspect]() {
    return { locked: this.#st.reader !== null, state: this.#st.state };
  }
}
defineToStringTag(ReadableStream.prototype, "ReadableStream");

streamTee = (stream) => {
  const reader = new ReadableStreamDefaultReader(stream);
  let reading = false;
  let cancelled = 0;
  const reasons = [undefined, undefined];
  const branches = [null, null];
  const states = [null, null];
  const pull = () => {
    if (reading) return undefined;
    reading = true;
    return new PromiseCtor((resolve) => {
      PromisePrototypeThen(
        reader.read(),
        (result) => {
          reading = false;
          for (let i = 0; i < 2; i++) {
            const st = states[i];
            if (st.state !== "readable" || st.closeRequested) continue;
            if (result.done) streamClose(st);
            else streamEnqueue(st, result.value);
          }
          resolve(undefined);
        },
        (e) => {
          reading = false;
          streamError(states[0], e);
          streamError(states[1], e);
          resolve(undefined);
        },
      );
    });
  };
  for (let i = 0; i < 2; i++) {
    const index = i;
    branches[i] = streamFromSource(pull, (reason) => {
      reasons[index] = reason;
      cancelled++;
      if (cancelled === 2) return reader.cancel(reasons);
      return undefined;
    });
    states[i] = readableStreamState(branches[i]);
  }
  return [branches[0], branches[1]];
};

/**
 * Reads a body stream to its end into one Uint8Array (chunks must be BufferSources);
 * `what` names the caller in errors.
 */
function drainStreamBytes(stream, what) {
  const reader = new ReadableStreamDefaultReader(stream);
  const chunks = [];
  let total = 0;
  return new PromiseCtor((resolve, reject) => {
    const step = () => {
      PromisePrototypeThen(
        reader.read(),
        (result) => {
          if (result.done) {
            const out = new Uint8ArrayCtor(total);
            let at = 0;
            for (let i = 0; i < chunks.length; i++) {
              TypedArrayPrototypeSet(out, chunks[i], at);
              at += TypedArrayPrototypeGetLength(chunks[i]);
            }
            resolve(out);
            return;
          }
          const bytes = bufferSourceBytes(result.value);
          if (bytes === null) {
            const e = new TypeErrorCtor(`${what}: a body stream must yield Uint8Array chunks`);
            PromisePrototypeThen(reader.cancel(e), undefined, () => {});
            reject(e);
            return;
          }
          chunks[chunks.length] = bytes;
          total += TypedArrayPrototypeGetLength(bytes);
          step();
        },
        reject,
      );
    };
    step();
  });
}

/** A stream of one chunk (a copy of `bytes`'s view), then closed. */
function streamOfBytes(bytes) {
  const stream = new ReadableStream();
  const st = readableStreamState(stream);
  if (TypedArrayPrototypeGetLength(bytes) > 0) streamEnqueue(st, bytes);
  streamClose(st);
  return stream;
}

defineGlobal("ReadableStream", ReadableStream);
defineGlobal("ReadableStreamDefaultReader", ReadableStreamDefaultReader);
defineGlobal("ReadableStreamDefaultController", ReadableStreamDefaultController);
