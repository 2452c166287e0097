// Kiln prelude: primordials.
//
// All prelude files are concatenated (in file-name order) into the body of
//   (function (host, global) { "use strict"; ...; return internal; })
// and evaluated once per isolate, so they share one function scope.
//
// Every builtin the prelude relies on is captured here, at load time, before any
// script code runs. A script that later rewrites globals or prototypes
// (`JSON.stringify = null`, `Array.prototype.push = ...`, `Promise.prototype.then = ...`)
// must not be able to break Kiln's dispatch of other requests. Rules for the rest of
// the prelude:
//   - call builtins only through the captured bindings below;
//   - no spread / array destructuring / for-of over arrays on internal paths (they use
//     the patchable Array iterator); use indexed loops and `ReflectApply`;
//   - append to arrays with `a[a.length] = v`;
//   - use null-prototype objects for descriptors and string-keyed dictionaries.

/** The object handed back to Rust. Filled in by the other files. */
const internal = { __proto__: null };

const FunctionPrototype = Function.prototype;
const FunctionPrototypeCall = FunctionPrototype.call;
const FunctionPrototypeBind = FunctionPrototype.bind;
// uncurryThis(fn)(thisArg, ...args) === fn.call(thisArg, ...args), immune to later
// changes of Function.prototype.call/bind.
const uncurryThis = FunctionPrototypeBind.bind(FunctionPrototypeCall);
const FunctionPrototypeToString = uncurryThis(FunctionPrototype.toString);

const ReflectApply = Reflect.apply;
const ReflectOwnKeys = Reflect.ownKeys;
const ReflectGetPrototypeOf = Reflect.getPrototypeOf;

const ObjectCtor = Object;
const ObjectPrototype = Object.prototype;
const ObjectDefineProperty = Object.defineProperty;
const ObjectFreeze = Object.freeze;
const ObjectKeys = Object.keys;
const ObjectGetPrototypeOf = Object.getPrototypeOf;
const ObjectSetPrototypeOf = Object.setPrototypeOf;
const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
const ObjectGetOwnPropertySymbols = Object.getOwnPropertySymbols;
const ObjectIs = Object.is;
const ObjectHasOwn = Object.hasOwn;
const ObjectPrototypeToString = uncurryThis(ObjectPrototype.toString);
const ObjectPrototypeIsPrototypeOf = uncurryThis(ObjectPrototype.isPrototypeOf);
const ObjectPrototypePropertyIsEnumerable = uncurryThis(ObjectPrototype.propertyIsEnumerable);

const ArrayCtor = Array;
const ArrayIsArray = Array.isArray;
const ArrayPrototype = Array.prototype;
const ArrayPrototypeJoin = uncurryThis(ArrayPrototype.join);
const ArrayPrototypeSort = uncurryThis(ArrayPrototype.sort);
const ArrayPrototypeIndexOf = uncurryThis(ArrayPrototype.indexOf);
const ArrayPrototypeIncludes = uncurryThis(ArrayPrototype.includes);
const ArrayIteratorPrototype = ObjectGetPrototypeOf(ArrayPrototype[Symbol.iterator].call([]));
const IteratorPrototype = ObjectGetPrototypeOf(ArrayIteratorPrototype);

const StringCtor = String;
const StringFromCharCode = String.fromCharCode;
const StringPrototype = String.prototype;
const StringPrototypeCharCodeAt = uncurryThis(StringPrototype.charCodeAt);
const StringPrototypeCodePointAt = uncurryThis(StringPrototype.codePointAt);
const StringPrototypeSlice = uncurryThis(StringPrototype.slice);
const StringPrototypeIndexOf = uncurryThis(StringPrototype.indexOf);
const StringPrototypeIncludes = uncurryThis(StringPrototype.includes);
const StringPrototypeStartsWith = uncurryThis(StringPrototype.startsWith);
const StringPrototypeToLowerCase = uncurryThis(StringPrototype.toLowerCase);
const StringPrototypeToUpperCase = uncurryThis(StringPrototype.toUpperCase);
const StringPrototypeRepeat = uncurryThis(StringPrototype.repeat);
const StringPrototypePadStart = uncurryThis(StringPrototype.padStart);
const StringPrototypeIsWellFormed = uncurryThis(StringPrototype.isWellFormed);
const StringPrototypeToWellFormed = uncurryThis(StringPrototype.toWellFormed);
const StringPrototypeValueOf = uncurryThis(StringPrototype.valueOf);

const NumberCtor = Number;
const NumberIsInteger = Number.isInteger;
const NumberIsFinite = Number.isFinite;
const NumberIsNaN = Number.isNaN;
const NumberParseInt = Number.parseInt;
const NumberParseFloat = Number.parseFloat;
const NumberPrototypeToString = uncurryThis(Number.prototype.toString);
const NumberPrototypeValueOf = uncurryThis(Number.prototype.valueOf);
const NumberPrototypeToFixed = uncurryThis(Number.prototype.toFixed);
const BooleanPrototypeValueOf = uncurryThis(Boolean.prototype.valueOf);
const BigIntPrototypeToString = uncurryThis(BigInt.prototype.toString);
const BigIntPrototypeValueOf = uncurryThis(BigInt.prototype.valueOf);
const MathTrunc = Math.trunc;
const MathMin = Math.min;
const MathMax = Math.max;

const SymbolCtor = Symbol;
const SymbolIterator = Symbol.iterator;
const SymbolToStringTag = Symbol.toStringTag;
const SymbolFor = Symbol.for;
const SymbolPrototypeToString = uncurryThis(Symbol.prototype.toString);
const SymbolPrototypeValueOf = uncurryThis(Symbol.prototype.valueOf);

const ErrorCtor = Error;
const ErrorPrototype = Error.prototype;
const ErrorIsError = typeof Error.isError === "function" ? Error.isError : null;
const TypeErrorCtor = TypeError;
const RangeErrorCtor = RangeError;
const SyntaxErrorCtor = SyntaxError;
const EvalErrorCtor = EvalError;
const ReferenceErrorCtor = ReferenceError;
const URIErrorCtor = URIError;
const InternalErrorCtor = typeof global.InternalError === "function" ? global.InternalError : null;
const InternalErrorPrototype = InternalErrorCtor !== null ? InternalErrorCtor.prototype : null;

const JSONStringify = JSON.stringify;
const JSONParse = JSON.parse;

const DateCtor = Date;
const DateNow = Date.now;
const DatePrototypeGetTime = uncurryThis(Date.prototype.getTime);
const DatePrototypeToISOString = uncurryThis(Date.prototype.toISOString);

const RegExpCtor = RegExp;
const RegExpPrototypeExec = uncurryThis(RegExp.prototype.exec);
const RegExpPrototypeGetSource = uncurryThis(ObjectGetOwnPropertyDescriptor(RegExp.prototype, "source").get);
const RegExpPrototypeGetFlags = uncurryThis(ObjectGetOwnPropertyDescriptor(RegExp.prototype, "flags").get);

const MapCtor = Map;
const MapPrototype = Map.prototype;
const MapPrototypeGet = uncurryThis(MapPrototype.get);
const MapPrototypeSet = uncurryThis(MapPrototype.set);
const MapPrototypeHas = uncurryThis(MapPrototype.has);
const MapPrototypeDelete = uncurryThis(MapPrototype.delete);
const MapPrototypeClear = uncurryThis(MapPrototype.clear);
const MapPrototypeForEach = uncurryThis(MapPrototype.forEach);
const MapPrototypeGetSize = uncurryThis(ObjectGetOwnPropertyDescriptor(MapPrototype, "size").get);
const SetCtor = Set;
const SetPrototype = Set.prototype;
const SetPrototypeAdd = uncurryThis(SetPrototype.add);
const SetPrototypeForEach = uncurryThis(SetPrototype.forEach);
const SetPrototypeGetSize = uncurryThis(ObjectGetOwnPropertyDescriptor(SetPrototype, "size").get);
const WeakMapPrototypeHas = uncurryThis(WeakMap.prototype.has);
const WeakSetCtor = WeakSet;
const WeakSetPrototypeAdd = uncurryThis(WeakSet.prototype.add);
const WeakSetPrototypeHas = uncurryThis(WeakSet.prototype.has);

const PromiseCtor = Promise;
const PromisePrototype = Promise.prototype;

const ArrayBufferCtor = ArrayBuffer;
const ArrayBufferIsView = ArrayBuffer.isView;
const ArrayBufferPrototypeGetByteLength = uncurryThis(ObjectGetOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength").get);
const ArrayBufferPrototypeTransfer =
  typeof ArrayBuffer.prototype.transfer === "function" ? uncurryThis(ArrayBuffer.prototype.transfer) : null;
const ArrayBufferPrototypeGetDetached = (() => {
  const d = ObjectGetOwnPropertyDescriptor(ArrayBuffer.prototype, "detached");
  return d !== undefined && typeof d.get === "function" ? uncurryThis(d.get) : null;
})();
const SharedArrayBufferPrototypeGetByteLength =
  typeof global.SharedArrayBuffer === "function"
    ? uncurryThis(ObjectGetOwnPropertyDescriptor(global.SharedArrayBuffer.prototype, "byteLength").get)
    : null;
const Uint8ArrayCtor = Uint8Array;
const TypedArrayPrototype = ObjectGetPrototypeOf(Uint8Array.prototype);
const TypedArrayPrototypeGetSymbolToStringTag = uncurryThis(ObjectGetOwnPropertyDescriptor(TypedArrayPrototype, SymbolToStringTag).get);
const TypedArrayPrototypeGetBuffer = uncurryThis(ObjectGetOwnPropertyDescriptor(TypedArrayPrototype, "buffer").get);
const TypedArrayPrototypeGetByteOffset = uncurryThis(ObjectGetOwnPropertyDescriptor(TypedArrayPrototype, "byteOffset").get);
const TypedArrayPrototypeGetByteLength = uncurryThis(ObjectGetOwnPropertyDescriptor(TypedArrayPrototype, "byteLength").get);
const TypedArrayPrototypeGetLength = uncurryThis(ObjectGetOwnPropertyDescriptor(TypedArrayPrototype, "length").get);
const TypedArrayPrototypeSet = uncurryThis(TypedArrayPrototype.set);
const DataViewCtor = DataView;
const DataViewPrototypeGetBuffer = uncurryThis(ObjectGetOwnPropertyDescriptor(DataView.prototype, "buffer").get);
const DataViewPrototypeGetByteOffset = uncurryThis(ObjectGetOwnPropertyDescriptor(DataView.prototype, "byteOffset").get);
const DataViewPrototypeGetByteLength = uncurryThis(ObjectGetOwnPropertyDescriptor(DataView.prototype, "byteLength").get);
/** Typed-array constructors by their [Symbol.toStringTag] name. */
const TypedArrayCtors = { __proto__: null };
{
  const names = [
    "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array",
    "Uint32Array", "Float16Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array",
  ];
  for (let i = 0; i < names.length; i++) {
    if (typeof global[names[i]] === "function") TypedArrayCtors[names[i]] = global[names[i]];
  }
}

const nativeQueueMicrotask = global.queueMicrotask;
if (typeof nativeQueueMicrotask !== "function") {
  throw new ErrorCtor("Kiln prelude: the engine lacks queueMicrotask (needs quickjs-ng >= 0.5)");
}

// Host functions, captured so that nothing can swap them later.
const hostLog = host.log;
const hostScheduleTimer = host.scheduleTimer;
const hostCancelTimer = host.cancelTimer;
const hostFillRandom = host.fillRandom;
const hostRandomUUID = host.randomUUID;
const hostUtf8Encode = host.utf8Encode;
const hostUtf8Decode = host.utf8Decode;
const hostUrlParse = host.urlParse;
const hostUrlSet = host.urlSet;
const hostComplete = host.complete;
const hostFail = host.fail;

// ---------------------------------------------------------------------------
// Small helpers shared by every file.

/** Install a Web-style global: writable, configurable, not enumerable. */
function defineGlobal(name, value) {
  ObjectDefineProperty(global, name, { __proto__: null, value, writable: true, enumerable: false, configurable: true });
}

/** Define a non-enumerable data property (methods, constants). */
function defineValue(obj, name, value, writable = true) {
  ObjectDefineProperty(obj, name, { __proto__: null, value, writable, enumerable: false, configurable: true });
}

function defineToStringTag(proto, tag) {
  ObjectDefineProperty(proto, SymbolToStringTag, { __proto__: null, value: tag, writable: false, enumerable: false, configurable: true });
}

/** WebIDL-ish "N arguments required" check. */
function requireArgs(actual, required, what) {
  if (actual < required) {
    throw new TypeErrorCtor(`${what}: ${required} argument${required === 1 ? "" : "s"} required, but only ${actual} present`);
  }
}

/** The value of a data descriptor (undefined for accessors), immune to Object.prototype.value. */
function descValue(d) {
  return d !== undefined && ObjectHasOwn(d, "value") ? d.value : undefined;
}
function descGetter(d) {
  return d !== undefined && ObjectHasOwn(d, "get") ? d.get : undefined;
}
function descSetter(d) {
  return d !== undefined && ObjectHasOwn(d, "set") ? d.set : undefined;
}

/** CreateDataProperty: define an own enumerable data property (never runs setters, `__proto__`-safe). */
function createDataProperty(obj, key, value) {
  ObjectDefineProperty(obj, key, { __proto__: null, value, writable: true, enumerable: true, configurable: true });
}

function isObjectLike(v) {
  return (typeof v === "object" && v !== null) || typeof v === "function";
}

/** WebIDL DOMString conversion (Symbols throw, like String concatenation on the Web). */
function toDOMString(v) {
  if (typeof v === "string") return v;
  if (typeof v === "symbol") throw new TypeErrorCtor("Cannot convert a Symbol value to a string");
  return StringCtor(v);
}

/** WebIDL USVString conversion: lone surrogates become U+FFFD. */
function toUSVString(v) {
  const s = toDOMString(v);
  return StringPrototypeIsWellFormed(s) ? s : StringPrototypeToWellFormed(s);
}

/** WebIDL ByteString conversion. */
function toByteString(v, what) {
  const s = toDOMString(v);
  for (let i = 0; i < s.length; i++) {
    if (StringPrototypeCharCodeAt(s, i) > 0xff) {
      throw new TypeErrorCtor(`${what}: the value contains a character outside the range 0-255`);
    }
  }
  return s;
}

function isNativePromise(v) {
  return isObjectLike(v) && ObjectPrototypeIsPrototypeOf(PromisePrototype, v);
}

function isErrorObject(v) {
  if (!isObjectLike(v)) return false;
  if (ErrorIsError !== null) return ErrorIsError(v);
  return ObjectPrototypeIsPrototypeOf(ErrorPrototype, v);
}

/** Objects that certainly are not buffers (skips a throwing brand check on the hot path). */
function isPlainObjectOrArray(v) {
  const proto = ObjectGetPrototypeOf(v);
  return proto === ObjectPrototype || proto === ArrayPrototype || proto === null;
}

function isArrayBuffer(v) {
  if (!isObjectLike(v) || isPlainObjectOrArray(v)) return false;
  try {
    ArrayBufferPrototypeGetByteLength(v);
    return true;
  } catch {
    return false;
  }
}

function isSharedArrayBuffer(v) {
  if (SharedArrayBufferPrototypeGetByteLength === null || !isObjectLike(v) || isPlainObjectOrArray(v)) return false;
  try {
    SharedArrayBufferPrototypeGetByteLength(v);
    return true;
  } catch {
    return false;
  }
}

/** "Uint8Array", ... for typed arrays; undefined for anything else. */
function typedArrayName(v) {
  return isObjectLike(v) ? TypedArrayPrototypeGetSymbolToStringTag(v) : undefined;
}

function isDataView(v) {
  return ArrayBufferIsView(v) && typedArrayName(v) === undefined;
}

// Copies that never consult Symbol.species / `constructor` (which scripts can patch).

/** Shallow copy of an array-like into a fresh Array. */
function copyArray(a) {
  const n = a.length;
  const out = new ArrayCtor(n);
  for (let i = 0; i < n; i++) out[i] = a[i];
  return out;
}

/** Remove the element at index i of one of our own arrays. */
function removeAt(a, i) {
  const n = a.length;
  for (let j = i; j + 1 < n; j++) a[j] = a[j + 1];
  a.length = n - 1;
}

/** A Uint8Array viewing bytes [start, end) of another Uint8Array (no copy). */
function u8View(u8, start, end) {
  return new Uint8ArrayCtor(TypedArrayPrototypeGetBuffer(u8), TypedArrayPrototypeGetByteOffset(u8) + start, end - start);
}

/** A fresh Uint8Array holding a copy of a Uint8Array's bytes. */
function u8Copy(u8) {
  const out = new Uint8ArrayCtor(TypedArrayPrototypeGetLength(u8));
  TypedArrayPrototypeSet(out, u8, 0);
  return out;
}

/** Split a string on a literal separator (String.prototype.split consults patchable symbols). */
function splitString(s, sep) {
  const out = [];
  let start = 0;
  for (;;) {
    const i = StringPrototypeIndexOf(s, sep, start);
    if (i === -1) break;
    out[out.length] = StringPrototypeSlice(s, start, i);
    start = i + sep.length;
  }
  out[out.length] = StringPrototypeSlice(s, start);
  return out;
}

/**
 * A Uint8Array viewing the bytes of a BufferSource (ArrayBuffer, SharedArrayBuffer or
 * ArrayBufferView) without copying, or null if `v` is not a BufferSource.
 */
function bufferSourceBytes(v) {
  if (!isObjectLike(v)) return null;
  if (ArrayBufferIsView(v)) {
    if (typedArrayName(v) !== undefined) {
      return new Uint8ArrayCtor(TypedArrayPrototypeGetBuffer(v), TypedArrayPrototypeGetByteOffset(v), TypedArrayPrototypeGetByteLength(v));
    }
    return new Uint8ArrayCtor(DataViewPrototypeGetBuffer(v), DataViewPrototypeGetByteOffset(v), DataViewPrototypeGetByteLength(v));
  }
  if (isArrayBuffer(v) || isSharedArrayBuffer(v)) return new Uint8ArrayCtor(v);
  return null;
}

/** Iterator objects shared by Headers / URLSearchParams / FormData-like classes. */
class PairIterator {
  #source; // () => array of [name, value] pairs (re-read on every step: "live")
  #kind; // 0 keys, 1 values, 2 entries
  #index = 0;
  constructor(source, kind) {
    this.#source = source;
    this.#kind = kind;
  }
  next() {
    if (!(#source in this)) throw new TypeErrorCtor("next called on an incompatible receiver");
    const pairs = this.#source();
    const i = this.#index;
    if (i >= pairs.length) return { value: undefined, done: true };
    this.#index = i + 1;
    const pair = pairs[i];
    if (this.#kind === 0) return { value: pair[0], done: false };
    if (this.#kind === 1) return { value: pair[1], done: false };
    return { value: [pair[0], pair[1]], done: false };
  }
}
ObjectSetPrototypeOf(PairIterator.prototype, IteratorPrototype);
function makeIteratorClass(tag) {
  const C = class extends PairIterator {
    constructor(source, kind) {
      super(source, kind);
    }
  };
  defineToStringTag(C.prototype, tag);
  return C;
}

/** Brand checks for platform objects that structuredClone must refuse. */
const platformBrandChecks = [];
function isPlatformObject(v) {
  for (let i = 0; i < platformBrandChecks.length; i++) {
    if (platformBrandChecks[i](v)) return true;
  }
  return false;
}

// DOMException: quickjs-ng provides it natively, but only in the first context of a runtime
// (JS_NewContext adds it through the atob/btoa intrinsic, which skips it once the class is
// registered). Fall back to an equivalent class so every context has one.
const DOMExceptionCtor = typeof global.DOMException === "function" ? global.DOMException : makeDOMException();

function makeDOMException() {
  const legacyNames = [
    "IndexSizeError", "DOMStringSizeError", "HierarchyRequestError", "WrongDocumentError",
    "InvalidCharacterError", "NoDataAllowedError", "NoModificationAllowedError", "NotFoundError",
    "NotSupportedError", "InUseAttributeError", "InvalidStateError", "SyntaxError",
    "InvalidModificationError", "NamespaceError", "InvalidAccessError", "ValidationError",
    "TypeMismatchError", "SecurityError", "NetworkError", "AbortError", "URLMismatchError",
    "QuotaExceededError", "TimeoutError", "InvalidNodeTypeError", "DataCloneError",
  ];
  const constants = [
    "INDEX_SIZE_ERR", "DOMSTRING_SIZE_ERR", "HIERARCHY_REQUEST_ERR", "WRONG_DOCUMENT_ERR",
    "INVALID_CHARACTER_ERR", "NO_DATA_ALLOWED_ERR", "NO_MODIFICATION_ALLOWED_ERR", "NOT_FOUND_ERR",
    "NOT_SUPPORTED_ERR", "INUSE_ATTRIBUTE_ERR", "INVALID_STATE_ERR", "SYNTAX_ERR",
    "INVALID_MODIFICATION_ERR", "NAMESPACE_ERR", "INVALID_ACCESS_ERR", "VALIDATION_ERR",
    "TYPE_MISMATCH_ERR", "SECURITY_ERR", "NETWORK_ERR", "ABORT_ERR", "URL_MISMATCH_ERR",
    "QUOTA_EXCEEDED_ERR", "TIMEOUT_ERR", "INVALID_NODE_TYPE_ERR", "DATA_CLONE_ERR",
  ];
  class DOMException extends ErrorCtor {
    #name;
    constructor(message = "", name = "Error") {
      super(toDOMString(message));
      this.#name = toDOMString(name);
    }
    get name() {
      return this.#name;
    }
    get code() {
      const i = ArrayPrototypeIndexOf(legacyNames, this.#name);
      return i === -1 ? 0 : i + 1;
    }
  }
  for (let i = 0; i < constants.length; i++) {
    ObjectDefineProperty(DOMException, constants[i], { __proto__: null, value: i + 1, enumerable: true });
    ObjectDefineProperty(DOMException.prototype, constants[i], { __proto__: null, value: i + 1, enumerable: true });
  }
  defineToStringTag(DOMException.prototype, "DOMException");
  defineGlobal("DOMException", DOMException);
  return DOMException;
}
