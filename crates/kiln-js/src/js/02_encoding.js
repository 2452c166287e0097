// Kiln prelude: TextEncoder / TextDecoder (UTF-8 only), atob / btoa.

/** UTF-8 encode a string to a fresh Uint8Array (lone surrogates become U+FFFD). */
function utf8Encode(s) {
  return hostUtf8Encode(StringPrototypeIsWellFormed(s) ? s : StringPrototypeToWellFormed(s));
}

/** UTF-8 decode bytes (a Uint8Array), replacing errors, and strip a leading BOM. */
function utf8DecodeStripBOM(bytes) {
  if (TypedArrayPrototypeGetLength(bytes) === 0) return "";
  const s = hostUtf8Decode(bytes, false);
  return StringPrototypeCharCodeAt(s, 0) === 0xfeff ? StringPrototypeSlice(s, 1) : s;
}

const UTF8_LABELS = ["unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8"];

function trimAsciiWhitespace(s) {
  let start = 0;
  let end = s.length;
  while (start < end && isAsciiWhitespace(StringPrototypeCharCodeAt(s, start))) start++;
  while (end > start && isAsciiWhitespace(StringPrototypeCharCodeAt(s, end - 1))) end--;
  return start === 0 && end === s.length ? s : StringPrototypeSlice(s, start, end);
}
function isAsciiWhitespace(c) {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;
}

/**
 * Number of trailing bytes (0..3) that form the valid beginning of an incomplete UTF-8
 * sequence; these are held back while streaming.
 */
function utf8IncompleteTail(bytes, len) {
  for (let back = 1; back <= 3 && back <= len; back++) {
    const b = bytes[len - back];
    if ((b & 0xc0) === 0x80) continue;
    let need = 0;
    if (b >= 0xc2 && b <= 0xdf) need = 2;
    else if (b >= 0xe0 && b <= 0xef) need = 3;
    else if (b >= 0xf0 && b <= 0xf4) need = 4;
    if (need <= back) return 0;
    if (back >= 2) {
      const b1 = bytes[len - back + 1];
      const lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
      const hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
      if (b1 < lo || b1 > hi) return 0;
    }
    return back;
  }
  return 0;
}

class TextEncoder {
  #brand = true;

  get encoding() {
    if (!(#brand in this)) throw new TypeErrorCtor("Illegal invocation");
    return "utf-8";
  }

  encode(input = "") {
    if (!(#brand in this)) throw new TypeErrorCtor("Illegal invocation");
    return hostUtf8Encode(toUSVString(input));
  }

  encodeInto(source, destination) {
    if (!(#brand in this)) throw new TypeErrorCtor("Illegal invocation");
    requireArgs(arguments.length, 2, "TextEncoder.encodeInto");
    const s = toUSVString(source);
    if (typedArrayName(destination) !== "Uint8Array") {
      throw new TypeErrorCtor("TextEncoder.encodeInto: destination must be a Uint8Array");
    }
    const cap = TypedArrayPrototypeGetLength(destination);
    let read = 0;
    let written = 0;
    const n = s.length;
    while (read < n) {
      const cp = StringPrototypeCodePointAt(s, read);
      if (cp < 0x80) {
        if (written + 1 > cap) break;
        destination[written++] = cp;
        read++;
      } else if (cp < 0x800) {
        if (written + 2 > cap) break;
        destination[written++] = 0xc0 | (cp >> 6);
        destination[written++] = 0x80 | (cp & 0x3f);
        read++;
      } else if (cp < 0x10000) {
        if (written + 3 > cap) break;
        destination[written++] = 0xe0 | (cp >> 12);
        destination[written++] = 0x80 | ((cp >> 6) & 0x3f);
        destination[written++] = 0x80 | (cp & 0x3f);
        read++;
      } else {
        if (written + 4 > cap) break;
        destination[written++] = 0xf0 | (cp >> 18);
        destination[written++] = 0x80 | ((cp >> 12) & 0x3f);
        destination[written++] = 0x80 | ((cp >> 6) & 0x3f);
        destination[written++] = 0x80 | (cp & 0x3f);
        read += 2;
      }
    }
    return { read, written };
  }

  [kInspect]() {
    return { encoding: "utf-8" };
  }
}
defineToStringTag(TextEncoder.prototype, "TextEncoder");

class TextDecoder {
  #fatal;
  #ignoreBOM;
  #bomSeen = false;
  #pending = null;

  constructor(label = "utf-8", options = undefined) {
    const normalized = StringPrototypeToLowerCase(trimAsciiWhitespace(toDOMString(label)));
    if (!ArrayPrototypeIncludes(UTF8_LABELS, normalized)) {
      throw new RangeErrorCtor(`TextDecoder: the encoding label '${toDOMString(label)}' is not supported (only UTF-8 is)`);
    }
    if (options !== undefined && options !== null && !isObjectLike(options)) {
      throw new TypeErrorCtor("TextDecoder: options must be an object");
    }
    this.#fatal = options != null && !!options.fatal;
    this.#ignoreBOM = options != null && !!options.ignoreBOM;
  }

  get encoding() {
    if (!(#fatal in this)) throw new TypeErrorCtor("Illegal invocation");
    return "utf-8";
  }
  get fatal() {
    if (!(#fatal in this)) throw new TypeErrorCtor("Illegal invocation");
    return this.#fatal;
  }
  get ignoreBOM() {
    if (!(#fatal in this)) throw new TypeErrorCtor("Illegal invocation");
    return this.#ignoreBOM;
  }

  decode(input = undefined, options = undefined) {
    if (!(#fatal in this)) throw new TypeErrorCtor("Illegal invocation");
    let bytes;
    if (input === undefined || input === null) {
      if (input === null) throw new TypeErrorCtor("TextDecoder.decode: input must be an ArrayBuffer or ArrayBufferView");
      bytes = new Uint8ArrayCtor(0);
    } else {
      bytes = bufferSourceBytes(input);
      if (bytes === null) throw new TypeErrorCtor("TextDecoder.decode: input must be an ArrayBuffer or ArrayBufferView");
    }
    if (options !== undefined && options !== null && !isObjectLike(options)) {
      throw new TypeErrorCtor("TextDecoder.decode: options must be an object");
    }
    const stream = options != null && !!options.stream;
    let len = TypedArrayPrototypeGetLength(bytes);
    const pending = this.#pending;
    if (pending !== null) {
      const plen = TypedArrayPrototypeGetLength(pending);
      const joined = new Uint8ArrayCtor(plen + len);
      TypedArrayPrototypeSet(joined, pending, 0);
      TypedArrayPrototypeSet(joined, bytes, plen);
      bytes = joined;
      len += plen;
      this.#pending = null;
    }
    if (stream) {
      const tail = utf8IncompleteTail(bytes, len);
      if (tail > 0) {
        this.#pending = u8Copy(u8View(bytes, len - tail, len));
        bytes = u8View(bytes, 0, len - tail);
        len -= tail;
      }
    }
    let s = "";
    if (len > 0) {
      try {
        s = hostUtf8Decode(bytes, this.#fatal);
      } catch (e) {
        this.#pending = null;
        this.#bomSeen = false;
        if (this.#fatal) throw new TypeErrorCtor("TextDecoder.decode: the encoded data is not valid UTF-8");
        throw e;
      }
    }
    if (!this.#ignoreBOM && !this.#bomSeen && s.length > 0) {
      this.#bomSeen = true;
      if (StringPrototypeCharCodeAt(s, 0) === 0xfeff) s = StringPrototypeSlice(s, 1);
    }
    if (!stream) this.#bomSeen = false;
    return s;
  }

  [kInspect]() {
    return { encoding: "utf-8", fatal: this.#fatal, ignoreBOM: this.#ignoreBOM };
  }
}
defineToStringTag(TextDecoder.prototype, "TextDecoder");

const BASE64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_VALUES = new Uint8ArrayCtor(128).fill(255);
for (let i = 0; i < 64; i++) BASE64_VALUES[StringPrototypeCharCodeAt(BASE64_CHARS, i)] = i;

/** A string of chars 0..255 from bytes (chunked: argument lists have limits). */
function bytesToBinaryString(bytes, n) {
  let out = "";
  for (let start = 0; start < n; start += 8192) {
    const end = MathMin(n, start + 8192);
    const chunk = new ArrayCtor(end - start);
    for (let i = start; i < end; i++) chunk[i - start] = bytes[i];
    out += ReflectApply(StringFromCharCode, null, chunk);
  }
  return out;
}

function btoa(data) {
  requireArgs(arguments.length, 1, "btoa");
  const s = toDOMString(data);
  const n = s.length;
  const out = new Uint8ArrayCtor(MathTrunc((n + 2) / 3) * 4);
  let j = 0;
  for (let i = 0; i < n; i += 3) {
    const a = StringPrototypeCharCodeAt(s, i);
    const b = i + 1 < n ? StringPrototypeCharCodeAt(s, i + 1) : 0;
    const c = i + 2 < n ? StringPrototypeCharCodeAt(s, i + 2) : 0;
    if (a > 0xff || b > 0xff || c > 0xff) {
      throw new DOMExceptionCtor("btoa: the string contains characters outside of the Latin1 range", "InvalidCharacterError");
    }
    const triple = (a << 16) | (b << 8) | c;
    out[j++] = StringPrototypeCharCodeAt(BASE64_CHARS, (triple >> 18) & 63);
    out[j++] = StringPrototypeCharCodeAt(BASE64_CHARS, (triple >> 12) & 63);
    out[j++] = i + 1 < n ? StringPrototypeCharCodeAt(BASE64_CHARS, (triple >> 6) & 63) : 0x3d;
    out[j++] = i + 2 < n ? StringPrototypeCharCodeAt(BASE64_CHARS, triple & 63) : 0x3d;
  }
  return bytesToBinaryString(out, j);
}

/** The forgiving-base64 decode of the HTML standard. */
function atob(data) {
  requireArgs(arguments.length, 1, "atob");
  const s = toDOMString(data);
  const invalid = () => new DOMExceptionCtor("atob: the string to be decoded is not correctly encoded", "InvalidCharacterError");
  // Drop ASCII whitespace and validate the alphabet.
  const codes = new Uint8ArrayCtor(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    if (isAsciiWhitespace(c)) continue;
    if (c >= 128 || (BASE64_VALUES[c] === 255 && c !== 0x3d)) throw invalid();
    codes[n++] = c;
  }
  if (n % 4 === 0 && n > 0 && codes[n - 1] === 0x3d) {
    n--;
    if (codes[n - 1] === 0x3d) n--;
  }
  if (n % 4 === 1) throw invalid();
  const out = new Uint8ArrayCtor(MathTrunc((n * 3) / 4));
  let bits = 0;
  let acc = 0;
  let j = 0;
  for (let i = 0; i < n; i++) {
    const v = BASE64_VALUES[codes[i]];
    if (v === 255) throw invalid(); // "=" before the end
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (acc >> bits) & 0xff;
      acc &= (1 << bits) - 1;
    }
  }
  return bytesToBinaryString(out, j);
}

defineGlobal("atob", atob);
defineGlobal("btoa", btoa);
defineGlobal("TextEncoder", TextEncoder);
defineGlobal("TextDecoder", TextDecoder);
