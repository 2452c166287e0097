// Kiln prelude: TextEncoder / TextDecoder (UTF-8 only).
// atob, btoa, DOMException and queueMicrotask are provided natively by quickjs-ng and
// captured in 00_primordials.js.

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
        this.#pending = TypedArrayPrototypeSlice(bytes, len - tail, len);
        bytes = TypedArrayPrototypeSubarray(bytes, 0, len - tail);
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

defineGlobal("TextEncoder", TextEncoder);
defineGlobal("TextDecoder", TextDecoder);
