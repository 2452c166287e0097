// Kiln prelude: crypto.getRandomValues / crypto.randomUUID (randomness comes from the host's CSPRNG).

const INTEGER_TYPED_ARRAYS = [
  "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array",
  "BigInt64Array", "BigUint64Array",
];
const kCryptoToken = { __proto__: null };

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
}
defineToStringTag(Crypto.prototype, "Crypto");

defineGlobal("Crypto", Crypto);
defineGlobal("crypto", new Crypto(kCryptoToken));
