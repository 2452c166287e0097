// Kiln prelude: asynchronous host operations and the APIs built on them (`wasm.run`).
//
// hostCall(op, args, bytes) asks the host to start an operation (host.startOp returns its
// id) and returns a promise; the worker runs the operation off the isolate and calls
// internal.completeOp(id, ok, payloadJson) in a later turn. Failures reject with a KilnError
// carrying the host's machine-readable code.

const hostStartOp = host.startOp;

/** Errors raised by Kiln's platform APIs: `err.code` is machine-readable. */
class KilnError extends ErrorCtor {
  #code;

  constructor(code, message = undefined, options = undefined) {
    if (options !== undefined && options !== null && !isObjectLike(options)) {
      throw new TypeErrorCtor("KilnError: options must be an object");
    }
    const text = message === undefined || message === null ? toDOMString(code) : toDOMString(message);
    if (options != null && options.cause !== undefined) super(text, { cause: options.cause });
    else super(text);
    this.#code = toDOMString(code);
  }

  get code() {
    return this.#code;
  }
}
defineValue(KilnError.prototype, "name", "KilnError");

/** id -> { resolve, reject } of operations in flight. */
const pendingOps = new MapCtor();

function hostCall(op, args, bytes) {
  const id = hostStartOp(op, JSONStringify(args), bytes);
  return new PromiseCtor((resolve, reject) => {
    MapPrototypeSet(pendingOps, id, { __proto__: null, resolve, reject });
  });
}

/** Called by the host when operation `id` finished. */
internal.completeOp = function completeOp(id, ok, payload) {
  const entry = MapPrototypeGet(pendingOps, id);
  if (entry === undefined) return;
  MapPrototypeDelete(pendingOps, id);
  const value = JSONParse(payload);
  if (ok) entry.resolve(value);
  else entry.reject(new KilnError(value.code, value.message));
};

// ---------------------------------------------------------------------------
// wasm: run a WebAssembly module shipped in the script's bundle.

function stringList(value, what) {
  if (value === undefined || value === null) return [];
  if (!ArrayIsArray(value)) throw new TypeErrorCtor(`wasm.run: ${what} must be an array of strings`);
  const out = [];
  for (let i = 0; i < value.length; i++) {
    if (typeof value[i] !== "string") throw new TypeErrorCtor(`wasm.run: ${what} must be an array of strings`);
    out[i] = value[i];
  }
  return out;
}

function stringMap(value, what) {
  const out = { __proto__: null };
  if (value === undefined || value === null) return out;
  if (!isObjectLike(value) || ArrayIsArray(value)) throw new TypeErrorCtor(`wasm.run: ${what} must be an object of strings`);
  const keys = ObjectKeys(value);
  for (let i = 0; i < keys.length; i++) {
    const v = value[keys[i]];
    if (typeof v !== "string") throw new TypeErrorCtor(`wasm.run: ${what}.${keys[i]} must be a string`);
    out[keys[i]] = v;
  }
  return out;
}

const wasm = ObjectFreeze({
  __proto__: null,
  /**
   * Runs `path` (a .wasm file of this script's bundle) as a WASI command:
   * `await wasm.run("tools/wc.wasm", { stdin, args, env })` → `{ stdout, stderr, exitCode }`.
   * A non-zero exit code resolves; traps and limits reject with a KilnError.
   */
  run(path, options = undefined) {
    try {
      if (typeof path !== "string" || path === "") throw new TypeErrorCtor("wasm.run: the module path must be a non-empty string");
      if (options !== undefined && options !== null && !isObjectLike(options)) {
        throw new TypeErrorCtor("wasm.run: options must be an object");
      }
      const opts = options ?? { __proto__: null };
      const stdin = opts.stdin;
      if (stdin !== undefined && stdin !== null && typeof stdin !== "string" && !isObjectLike(stdin)) {
        throw new TypeErrorCtor("wasm.run: options.stdin must be a string, an ArrayBuffer or a typed array");
      }
      const args = { __proto__: null, path, args: stringList(opts.args, "options.args"), env: stringMap(opts.env, "options.env") };
      return hostCall("wasm.run", args, stdin ?? undefined);
    } catch (err) {
      return new PromiseCtor((_resolve, reject) => reject(err));
    }
  },
});

defineGlobal("KilnError", KilnError);
defineGlobal("wasm", wasm);
