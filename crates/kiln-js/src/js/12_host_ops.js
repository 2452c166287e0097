// Kiln prelude: asynchronous host operations and the APIs built on them (`wasm.run`).
//
// hostCall(op, args, bytes) asks the host to start an operation (host.startOp returns its
// id) and returns a promise; the worker runs the operation off the isolate and calls
// internal.completeOp(id, ok, payloadJson, bytes) in a later turn (`bytes`, a Uint8Array, is the
// binary part of a result: a fetched body lands in the value's `bytes` property; an operation
// answering null with bytes, like `files.read`, resolves to the Uint8Array itself).
// Failures reject with a KilnError carrying the host's machine-readable code.

const hostStartOp = host.startOp;
const hostCancelOp = host.cancelOp;

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

/** Errors of `kv` / `kv.user`. */
class KvError extends KilnError {}
defineValue(KvError.prototype, "name", "KvError");

/** Errors of `wasm.run`. */
class WasmError extends KilnError {}
defineValue(WasmError.prototype, "name", "WasmError");

/** Errors of `files.read` / `files.text` / `files.list`. */
class FilesError extends KilnError {}
defineValue(FilesError.prototype, "name", "FilesError");

/** Errors of `render` (template not found, template syntax or runtime errors). */
class TemplateError extends KilnError {}
defineValue(TemplateError.prototype, "name", "TemplateError");

/** The error class of an operation's failures, by its namespace (`kv.set` → KvError). */
function errorClassOf(op, code) {
  if (code === "EGRESS_DENIED") return EgressDeniedError;
  if (op === "fetch" || StringPrototypeStartsWith(op, "fetch.")) return FetchError;
  if (StringPrototypeStartsWith(op, "kv.")) return KvError;
  if (StringPrototypeStartsWith(op, "wasm.")) return WasmError;
  if (StringPrototypeStartsWith(op, "files.")) return FilesError;
  if (StringPrototypeStartsWith(op, "template.")) return TemplateError;
  if (StringPrototypeStartsWith(op, "db.")) return DbError;
  return KilnError;
}

/** id -> { resolve, reject } of operations in flight. */
const pendingOps = new MapCtor();

function hostCall(op, args, bytes) {
  const id = hostStartOp(op, JSONStringify(args), bytes);
  return new PromiseCtor((resolve, reject) => {
    MapPrototypeSet(pendingOps, id, { __proto__: null, op, resolve, reject });
  });
}

/** Called by the host when operation `id` finished. */
internal.completeOp = function completeOp(id, ok, payload, bytes) {
  const entry = MapPrototypeGet(pendingOps, id);
  if (entry === undefined) return;
  MapPrototypeDelete(pendingOps, id);
  const value = JSONParse(payload);
  if (ok) {
    if (bytes !== undefined) {
      // A purely binary result (`files.read`) answers null: the promise resolves to the bytes.
      if (value === null) {
        entry.resolve(bytes);
        return;
      }
      defineValue(value, "bytes", bytes);
    }
    entry.resolve(value);
  } else {
    const ErrorClass = errorClassOf(entry.op, value.code);
    entry.reject(new ErrorClass(value.code, value.message));
  }
};

/** Runs `fn` and turns a synchronous throw (bad arguments) into a rejected promise. */
function asyncCall(fn) {
  try {
    return fn();
  } catch (err) {
    return new PromiseCtor((_resolve, reject) => reject(err));
  }
}

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
   * A non-zero exit code resolves; traps and limits reject with a WasmError.
   */
  run(path, options = undefined) {
    return asyncCall(() => {
      let file;
      try {
        file = bundleWasmPath("wasm.run", path);
      } catch (err) {
        if (err instanceof TypeErrorCtor) throw err;
        throw new WasmError("WASM_NOT_FOUND", err.message);
      }
      if (options !== undefined && options !== null && !isObjectLike(options)) {
        throw new TypeErrorCtor("wasm.run: options must be an object");
      }
      const opts = options ?? { __proto__: null };
      const stdin = opts.stdin;
      if (stdin !== undefined && stdin !== null && typeof stdin !== "string" && !isObjectLike(stdin)) {
        throw new TypeErrorCtor("wasm.run: options.stdin must be a string, an ArrayBuffer or a typed array");
      }
      const args = { __proto__: null, path: file, args: stringList(opts.args, "options.args"), env: stringMap(opts.env, "options.env") };
      return hostCall("wasm.run", args, stdin ?? undefined);
    });
  },
});


// ---------------------------------------------------------------------------
// kv: the script's key/value storage; kv.user: the same, in the signed-in user's space.

function kvKey(key, what) {
  if (typeof key !== "string") throw new TypeErrorCtor(`${what}: the key must be a string`);
  return key;
}

function makeKv(scope) {
  const call = (op, args) => hostCall(op, args, undefined);
  return {
    __proto__: null,
    /** The value at `key`, or null. */
    get(key) {
      return asyncCall(() => call("kv.get", { __proto__: null, scope, key: kvKey(key, "kv.get") }));
    },
    /** The values at `keys`, in order (null where absent). */
    getMany(keys) {
      return asyncCall(() => {
        if (!ArrayIsArray(keys)) throw new TypeErrorCtor("kv.getMany: expected an array of keys");
        const list = [];
        for (let i = 0; i < keys.length; i++) list[i] = kvKey(keys[i], "kv.getMany");
        return call("kv.getMany", { __proto__: null, scope, keys: list });
      });
    },
    /** Stores any JSON-serialisable `value`; `{ ttl }` in seconds makes it expire. */
    set(key, value, options = undefined) {
      return asyncCall(() => {
        kvKey(key, "kv.set");
        if (value === undefined || typeof value === "function" || typeof value === "symbol") {
          throw new TypeErrorCtor("kv.set: the value must be JSON-serialisable (not undefined, a function or a symbol)");
        }
        if (options !== undefined && options !== null && !isObjectLike(options)) {
          throw new TypeErrorCtor("kv.set: options must be an object");
        }
        const ttl = options?.ttl;
        if (ttl !== undefined && (typeof ttl !== "number" || !(ttl > 0))) {
          throw new TypeErrorCtor("kv.set: options.ttl must be a positive number of seconds");
        }
        // Serialise here so toJSON and the script's own objects behave as in JSON.stringify.
        const json = JSONStringify(value);
        if (json === undefined) throw new TypeErrorCtor("kv.set: the value is not JSON-serialisable");
        return call("kv.set", { __proto__: null, scope, key, value: JSONParse(json), ttl: ttl ?? null });
      });
    },
    /** Deletes `key`; resolves to whether it existed. */
    delete(key) {
      return asyncCall(() => call("kv.delete", { __proto__: null, scope, key: kvKey(key, "kv.delete") }));
    },
    /** `{ keys, cursor }`: keys in order, `cursor` for the next page (null on the last). */
    list(options = undefined) {
      return asyncCall(() => {
        if (options !== undefined && options !== null && !isObjectLike(options)) {
          throw new TypeErrorCtor("kv.list: options must be an object");
        }
        const prefix = options?.prefix ?? "";
        const cursor = options?.cursor ?? null;
        const limit = options?.limit ?? 100;
        if (typeof prefix !== "string") throw new TypeErrorCtor("kv.list: options.prefix must be a string");
        if (cursor !== null && typeof cursor !== "string") throw new TypeErrorCtor("kv.list: options.cursor must be a string");
        if (!NumberIsInteger(limit) || limit < 1 || limit > 1000) {
          throw new TypeErrorCtor("kv.list: options.limit must be an integer from 1 to 1000");
        }
        return call("kv.list", { __proto__: null, scope, prefix, cursor, limit });
      });
    },
    /** Atomically adds `by` (default 1) to the number at `key`; resolves to the new value. */
    increment(key, by = 1) {
      return asyncCall(() => {
        kvKey(key, "kv.increment");
        if (typeof by !== "number" || !NumberIsFinite(by)) throw new TypeErrorCtor("kv.increment: `by` must be a finite number");
        return call("kv.increment", { __proto__: null, scope, key, by });
      });
    },
  };
}

const kvUser = ObjectFreeze(makeKv("user"));
const kv = makeKv("script");
kv.user = kvUser;
ObjectFreeze(kv);

defineGlobal("KilnError", KilnError);
defineGlobal("KvError", KvError);
defineGlobal("WasmError", WasmError);
defineGlobal("wasm", wasm);
defineGlobal("kv", kv);
