// Kiln prelude: crypto.getRandomValues / crypto.randomUUID (randomness comes from the host's
// CSPRNG) and crypto.subtle: digest (SHA-1/256/384/512) and HMAC keys (importKey "raw" / "jwk",
// generateKey, exportKey, sign, verify). Other algorithms reject with NotSupportedError.

const hostDigest = host.digest;
const hostHmacSign = host.hmacSign;
const hostHmacVerify = host.hmacVerify;

const INTEGER_TYPED_ARRAYS = [
  "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array",
  "BigInt64Array", "BigUint64Array",
];
const kCryptoToken = { __proto__: null };

const HASHES = ["SHA-1", "SHA-256", "SHA-384", "SHA-512"];
/** HMAC's default key length per hash: the hash's block size, in bits. */
const HMAC_DEFAULT_BITS = { __proto__: null, "SHA-1": 512, "SHA-256": 512, "SHA-384": 1024, "SHA-512": 1024 };
const KEY_USAGES = ["sign", "verify"];
const kKeyToken = { __proto__: null };

function notSupported(what) {
  return new DOMExceptionCtor(`crypto.subtle: ${what} is not supported (Kiln offers SHA digests and HMAC)`, "NotSupportedError");
}

/** The normalised name of an algorithm given as a string or `{ name }`. */
function algorithmName(algorithm) {
  const name = typeof algorithm === "string" ? algorithm : isObjectLike(algorithm) ? algorithm.name : undefined;
  if (typeof name !== "string") throw new TypeErrorCtor("crypto.subtle: the algorithm must be a name or an object with a name");
  return StringPrototypeToUpperCase(name);
}

function hashName(hash) {
  if (hash === undefined) throw new TypeErrorCtor("crypto.subtle: HMAC needs a hash (e.g. { name: \"HMAC\", hash: \"SHA-256\" })");
  const name = algorithmName(hash);
  if (!ArrayPrototypeIncludes(HASHES, name)) throw notSupported(`the hash ${name}`);
  return name;
}

function dataBytes(data, what) {
  const bytes = bufferSourceBytes(data);
  if (bytes === null) throw new TypeErrorCtor(`crypto.subtle.${what}: data must be an ArrayBuffer or a typed array`);
  return bytes;
}

function checkUsages(usages) {
  if (!isObjectLike(usages) || !ArrayIsArray(usages)) throw new TypeErrorCtor("crypto.subtle: key usages must be an array");
  const out = [];
  for (let i = 0; i < usages.length; i++) {
    const u = toDOMString(usages[i]);
    if (!ArrayPrototypeIncludes(KEY_USAGES, u)) throw new DOMExceptionCtor(`crypto.subtle: '${u}' is not a usage of HMAC keys`, "SyntaxError");
    if (!ArrayPrototypeIncludes(out, u)) out[out.length] = u;
  }
  if (out.length === 0) throw new DOMExceptionCtor("crypto.subtle: a secret key needs at least one usage", "SyntaxError");
  return out;
}

let keyBytes; // (CryptoKey) => Uint8Array
let isCryptoKey; // (v) => boolean

class CryptoKey {
  #raw;
  #algorithm;
  #extractable;
  #usages;

  static {
    keyBytes = (k) => k.#raw;
    isCryptoKey = (v) => isObjectLike(v) && #raw in v;
  }

  constructor(token, raw, hash, extractable, usages) {
    if (token !== kKeyToken) throw new TypeErrorCtor("Illegal constructor");
    this.#raw = raw;
    this.#algorithm = ObjectFreeze({ name: "HMAC", hash: ObjectFreeze({ name: hash }), length: TypedArrayPrototypeGetLength(raw) * 8 });
    this.#extractable = extractable;
    this.#usages = ObjectFreeze(usages);
  }
  get type() {
    return "secret";
  }
  get extractable() {
    return this.#extractable;
  }
  get algorithm() {
    return this.#algorithm;
  }
  get usages() {
    return this.#usages;
  }
  [kInspect]() {
    return { type: "secret", extractable: this.#extractable, algorithm: this.#algorithm, usages: this.#usages };
  }
}
defineToStringTag(CryptoKey.prototype, "CryptoKey");

function hmacKeyFor(key, usage, algorithm, what) {
  if (!isCryptoKey(key)) throw new TypeErrorCtor(`crypto.subtle.${what}: the key must be a CryptoKey`);
  if (algorithmName(algorithm) !== "HMAC") throw notSupported(`the algorithm ${algorithmName(algorithm)}`);
  if (!ArrayPrototypeIncludes(key.usages, usage)) {
    throw new DOMExceptionCtor(`crypto.subtle.${what}: the key's usages do not include '${usage}'`, "InvalidAccessError");
  }
  return key;
}

/** Runs `work` and returns a promise of its result (errors reject; nothing throws). */
function subtlePromise(work) {
  return new PromiseCtor((resolve) => resolve(work()));
}

class SubtleCrypto {
  constructor(token) {
    if (token !== kCryptoToken) throw new TypeErrorCtor("Illegal constructor");
  }

  digest(algorithm, data) {
    return subtlePromise(() => {
      const name = algorithmName(algorithm);
      if (!ArrayPrototypeIncludes(HASHES, name)) throw notSupported(`the digest ${name}`);
      return TypedArrayPrototypeGetBuffer(hostDigest(name, dataBytes(data, "digest")));
    });
  }

  importKey(format, keyData, algorithm, extractable, usages) {
    return subtlePromise(() => {
      if (algorithmName(algorithm) !== "HMAC") throw notSupported(`importing ${algorithmName(algorithm)} keys`);
      const hash = hashName(algorithm.hash);
      let raw;
      if (format === "raw") {
        raw = u8Copy(dataBytes(keyData, "importKey"));
      } else if (format === "jwk") {
        if (!isObjectLike(keyData) || keyData.kty !== "oct" || typeof keyData.k !== "string") {
          throw new DOMExceptionCtor("crypto.subtle.importKey: a JWK for HMAC needs kty \"oct\" and k", "DataError");
        }
        let b64 = "";
        const k = keyData.k;
        for (let i = 0; i < k.length; i++) {
          const c = k[i];
          b64 += c === "-" ? "+" : c === "_" ? "/" : c;
        }
        while (b64.length % 4 !== 0) b64 += "=";
        const bin = atob(b64);
        raw = new Uint8ArrayCtor(bin.length);
        for (let i = 0; i < bin.length; i++) raw[i] = StringPrototypeCharCodeAt(bin, i);
      } else {
        throw notSupported(`the key format '${toDOMString(format)}'`);
      }
      if (TypedArrayPrototypeGetLength(raw) === 0) throw new DOMExceptionCtor("crypto.subtle.importKey: an HMAC key cannot be empty", "DataError");
      return new CryptoKey(kKeyToken, raw, hash, !!extractable, checkUsages(usages));
    });
  }

  generateKey(algorithm, extractable, usages) {
    return subtlePromise(() => {
      if (algorithmName(algorithm) !== "HMAC") throw notSupported(`generating ${algorithmName(algorithm)} keys`);
      const hash = hashName(algorithm.hash);
      const bits = algorithm.length === undefined ? HMAC_DEFAULT_BITS[hash] : NumberCtor(algorithm.length);
      if (!NumberIsInteger(bits) || bits <= 0 || bits % 8 !== 0 || bits > 8192) {
        throw new DOMExceptionCtor("crypto.subtle.generateKey: length must be a positive multiple of 8, at most 8192", "OperationError");
      }
      const raw = new Uint8ArrayCtor(bits / 8);
      hostFillRandom(raw);
      return new CryptoKey(kKeyToken, raw, hash, !!extractable, checkUsages(usages));
    });
  }

  exportKey(format, key) {
    return subtlePromise(() => {
      if (!isCryptoKey(key)) throw new TypeErrorCtor("crypto.subtle.exportKey: the key must be a CryptoKey");
      if (!key.extractable) throw new DOMExceptionCtor("crypto.subtle.exportKey: the key is not extractable", "InvalidAccessError");
      const raw = keyBytes(key);
      if (format === "raw") return TypedArrayPrototypeGetBuffer(u8Copy(raw));
      if (format === "jwk") {
        let bin = "";
        for (let i = 0; i < raw.length; i++) bin += StringFromCharCode(raw[i]);
        let k = "";
        const b64 = btoa(bin);
        for (let i = 0; i < b64.length; i++) {
          const c = b64[i];
          if (c === "=") break;
          k += c === "+" ? "-" : c === "/" ? "_" : c;
        }
        const hash = key.algorithm.hash.name;
        const ops = [];
        for (let i = 0; i < key.usages.length; i++) ops[i] = key.usages[i];
        return { kty: "oct", k, alg: `HS${StringPrototypeSlice(hash, 4)}`, ext: true, key_ops: ops };
      }
      throw notSupported(`the key format '${toDOMString(format)}'`);
    });
  }

  sign(algorithm, key, data) {
    return subtlePromise(() => {
      const k = hmacKeyFor(key, "sign", algorithm, "sign");
      return TypedArrayPrototypeGetBuffer(hostHmacSign(k.algorithm.hash.name, keyBytes(k), dataBytes(data, "sign")));
    });
  }

  verify(algorithm, key, signature, data) {
    return subtlePromise(() => {
      const k = hmacKeyFor(key, "verify", algorithm, "verify");
      return hostHmacVerify(k.algorithm.hash.name, keyBytes(k), dataBytes(signature, "verify"), dataBytes(data, "verify"));
    });
  }
}
defineToStringTag(SubtleCrypto.prototype, "SubtleCrypto");
const subtle = new SubtleCrypto(kCryptoToken);

class Crypto {
  #brand = true;
  constructor(token) {
    if (token !== kCryptoToken) throw new TypeErrorCtor("Illegal constructor");
  }

  getRandomValues(array) {
    if (!isObjectLike(this) || !(#brand in this)) throw new TypeErrorCtor("Illegal invocation");
    requireArgs(arguments.length, 1, "Crypto.getRandomValues");
    const name = typedArrayName(array);
    if (name === undefined || !ArrayPrototypeIncludes(INTEGER_TYPED_ARRAYS, name)) {
      throw new DOMExceptionCtor(
        "Crypto.getRandomValues: the argument must be an integer typed array (not Float32Array, Float64Array or DataView)",
        "TypeMismatchError");
    }
    const byteLength = TypedArrayPrototypeGetByteLength(array);
    if (byteLength > 65536) {
      throw new DOMExceptionCtor(
        `Crypto.getRandomValues: the array's byte length (${byteLength}) exceeds the number of bytes of entropy available via this API (65536)`,
        "QuotaExceededError");
    }
    if (byteLength > 0) {
      hostFillRandom(new Uint8ArrayCtor(TypedArrayPrototypeGetBuffer(array), TypedArrayPrototypeGetByteOffset(array), byteLength));
    }
    return array;
  }

  randomUUID() {
    if (!isObjectLike(this) || !(#brand in this)) throw new TypeErrorCtor("Illegal invocation");
    return hostRandomUUID();
  }

  get subtle() {
    return subtle;
  }
}
defineToStringTag(Crypto.prototype, "Crypto");

defineGlobal("Crypto", Crypto);
defineGlobal("CryptoKey", CryptoKey);
defineGlobal("SubtleCrypto", SubtleCrypto);
defineGlobal("crypto", new Crypto(kCryptoToken));
