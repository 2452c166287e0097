// Kiln prelude: Headers (Fetch standard, guard "none" or "immutable").

const HeadersIterator = makeIteratorClass("Headers Iterator");

/** RFC 9110 token characters, indexed by char code (0..127). */
const TOKEN_CHARS = new Uint8ArrayCtor(128);
{
  const extra = "!#$%&'*+-.^_`|~";
  for (let c = 0x30; c <= 0x39; c++) TOKEN_CHARS[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) TOKEN_CHARS[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) TOKEN_CHARS[c] = 1;
  for (let i = 0; i < extra.length; i++) TOKEN_CHARS[StringPrototypeCharCodeAt(extra, i)] = 1;
}

function isToken(s) {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    if (c >= 128 || TOKEN_CHARS[c] === 0) return false;
  }
  return true;
}

/** Validate a header name and return it in lower case. */
function normalizeHeaderName(name, what) {
  const s = toByteString(name, what);
  if (!isToken(s)) throw new TypeErrorCtor(`${what}: '${s}' is not a valid header name`);
  // Token characters are ASCII, so toLowerCase is the ASCII lower-casing the standard asks for.
  return StringPrototypeToLowerCase(s);
}

function isHttpWhitespace(c) {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Strip leading/trailing HTTP whitespace and validate a header value. */
function normalizeHeaderValue(value, what) {
  let s = toByteString(value, what);
  let start = 0;
  let end = s.length;
  while (start < end && isHttpWhitespace(StringPrototypeCharCodeAt(s, start))) start++;
  while (end > start && isHttpWhitespace(StringPrototypeCharCodeAt(s, end - 1))) end--;
  if (start !== 0 || end !== s.length) s = StringPrototypeSlice(s, start, end);
  for (let i = 0; i < s.length; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    if (c === 0x00 || c === 0x0a || c === 0x0d) {
      throw new TypeErrorCtor(`${what}: the header value contains a forbidden character (NUL, CR or LF)`);
    }
  }
  return s;
}

// Internal access to Headers state (filled in by the static block).
let headersFromFlat; // (flat, immutable) => Headers
let headersToFlat; // (headers) => flat array
let headersGetInternal; // (headers, lowerName) => string | null
let headersHasInternal; // (headers, lowerName) => boolean
let headersSetInternal; // (headers, lowerName, value) => void, ignores the guard
let headersMakeImmutable; // (headers) => void
let isHeaders; // (v) => boolean

class Headers {
  #names = [];
  #values = [];
  #immutable = false;
  #sorted = null;

  static {
    headersFromFlat = (flat, immutable) => {
      const h = new Headers();
      const names = h.#names;
      const values = h.#values;
      for (let i = 0, j = 0; i + 1 < flat.length; i += 2, j++) {
        names[j] = flat[i];
        values[j] = flat[i + 1];
      }
      h.#immutable = immutable;
      return h;
    };
    headersToFlat = (h) => {
      const names = h.#names;
      const values = h.#values;
      const out = [];
      for (let i = 0; i < names.length; i++) {
        out[2 * i] = names[i];
        out[2 * i + 1] = values[i];
      }
      return out;
    };
    headersGetInternal = (h, name) => h.#get(name);
    headersHasInternal = (h, name) => ArrayPrototypeIndexOf(h.#names, name) !== -1;
    headersSetInternal = (h, name, value) => h.#set(name, value);
    headersMakeImmutable = (h) => {
      h.#immutable = true;
    };
    isHeaders = (v) => isObjectLike(v) && #names in v;
    platformBrandChecks[platformBrandChecks.length] = isHeaders;
  }

  constructor(init = undefined) {
    if (init === undefined || init === null) {
      if (init === null) throw new TypeErrorCtor("Headers: init must be an object, an array of [name, value] pairs or a Headers");
      return;
    }
    if (!isObjectLike(init)) {
      throw new TypeErrorCtor("Headers: init must be an object, an array of [name, value] pairs or a Headers");
    }
    if (#names in init) {
      this.#names = copyArray(init.#names);
      this.#values = copyArray(init.#values);
      return;
    }
    const method = init[SymbolIterator];
    if (method !== undefined && method !== null) {
      if (typeof method !== "function") throw new TypeErrorCtor("Headers: init[Symbol.iterator] is not a function");
      for (const pair of { [SymbolIterator]: () => ReflectApply(method, init, []) }) {
        if (!isObjectLike(pair)) throw new TypeErrorCtor("Headers: each header must be a [name, value] pair");
        const items = [];
        for (const item of pair) items[items.length] = item;
        if (items.length !== 2) throw new TypeErrorCtor("Headers: each header pair must have exactly two elements");
        this.#append(normalizeHeaderName(items[0], "Headers"), normalizeHeaderValue(items[1], "Headers"));
      }
      return;
    }
    const keys = ReflectOwnKeys(init);
    for (let i = 0; i < keys.length; i++) {
      const desc = ObjectGetOwnPropertyDescriptor(init, keys[i]);
      if (desc === undefined || !desc.enumerable) continue;
      if (typeof keys[i] === "symbol") throw new TypeErrorCtor("Headers: header names cannot be symbols");
      this.#append(normalizeHeaderName(keys[i], "Headers"), normalizeHeaderValue(init[keys[i]], "Headers"));
    }
  }

  #append(name, value) {
    const names = this.#names;
    const values = this.#values;
    names[names.length] = name;
    values[values.length] = value;
    this.#sorted = null;
  }

  #get(name) {
    const names = this.#names;
    let result = null;
    for (let i = 0; i < names.length; i++) {
      if (names[i] === name) result = result === null ? this.#values[i] : result + ", " + this.#values[i];
    }
    return result;
  }

  #set(name, value) {
    const names = this.#names;
    const values = this.#values;
    let found = -1;
    let w = 0;
    for (let r = 0; r < names.length; r++) {
      if (names[r] === name) {
        if (found !== -1) continue;
        found = w;
      }
      names[w] = names[r];
      values[w] = values[r];
      w++;
    }
    names.length = w;
    values.length = w;
    if (found === -1) {
      names[w] = name;
      values[w] = value;
    } else {
      values[found] = value;
    }
    this.#sorted = null;
  }

  #checkMutable() {
    if (this.#immutable) throw new TypeErrorCtor("Headers: these headers are immutable");
  }

  /** The "sort and combine" view used for iteration. */
  #sortedPairs() {
    if (this.#sorted !== null) return this.#sorted;
    const names = this.#names;
    const values = this.#values;
    const unique = [];
    for (let i = 0; i < names.length; i++) {
      if (ArrayPrototypeIndexOf(unique, names[i]) === -1) unique[unique.length] = names[i];
    }
    ArrayPrototypeSort(unique, (a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const out = [];
    for (let u = 0; u < unique.length; u++) {
      const name = unique[u];
      if (name === "set-cookie") {
        for (let i = 0; i < names.length; i++) {
          if (names[i] === name) out[out.length] = [name, values[i]];
        }
      } else {
        out[out.length] = [name, this.#get(name)];
      }
    }
    this.#sorted = out;
    return out;
  }

  append(name, value) {
    requireArgs(arguments.length, 2, "Headers.append");
    const n = normalizeHeaderName(name, "Headers.append");
    const v = normalizeHeaderValue(value, "Headers.append");
    this.#checkMutable();
    this.#append(n, v);
  }

  delete(name) {
    requireArgs(arguments.length, 1, "Headers.delete");
    const n = normalizeHeaderName(name, "Headers.delete");
    this.#checkMutable();
    const names = this.#names;
    const values = this.#values;
    let w = 0;
    for (let r = 0; r < names.length; r++) {
      if (names[r] === n) continue;
      names[w] = names[r];
      values[w] = values[r];
      w++;
    }
    if (w !== names.length) {
      names.length = w;
      values.length = w;
      this.#sorted = null;
    }
  }

  get(name) {
    requireArgs(arguments.length, 1, "Headers.get");
    return this.#get(normalizeHeaderName(name, "Headers.get"));
  }

  getSetCookie() {
    const names = this.#names;
    const out = [];
    for (let i = 0; i < names.length; i++) {
      if (names[i] === "set-cookie") out[out.length] = this.#values[i];
    }
    return out;
  }

  has(name) {
    requireArgs(arguments.length, 1, "Headers.has");
    return ArrayPrototypeIndexOf(this.#names, normalizeHeaderName(name, "Headers.has")) !== -1;
  }

  set(name, value) {
    requireArgs(arguments.length, 2, "Headers.set");
    const n = normalizeHeaderName(name, "Headers.set");
    const v = normalizeHeaderValue(value, "Headers.set");
    this.#checkMutable();
    this.#set(n, v);
  }

  forEach(callback, thisArg = undefined) {
    requireArgs(arguments.length, 1, "Headers.forEach");
    if (typeof callback !== "function") throw new TypeErrorCtor("Headers.forEach: callback is not a function");
    for (let i = 0; i < this.#sortedPairs().length; i++) {
      const pair = this.#sortedPairs()[i];
      ReflectApply(callback, thisArg, [pair[1], pair[0], this]);
    }
  }

  keys() {
    return new HeadersIterator(() => this.#sortedPairs(), 0);
  }
  values() {
    return new HeadersIterator(() => this.#sortedPairs(), 1);
  }
  entries() {
    return new HeadersIterator(() => this.#sortedPairs(), 2);
  }

  [kInspect]() {
    const view = { __proto__: null };
    const pairs = this.#sortedPairs();
    for (let i = 0; i < pairs.length; i++) {
      const name = pairs[i][0];
      if (name in view) {
        const prev = view[name];
        if (ArrayIsArray(prev)) prev[prev.length] = pairs[i][1];
        else view[name] = [prev, pairs[i][1]];
      } else {
        view[name] = pairs[i][1];
      }
    }
    return view;
  }
}
defineValue(Headers.prototype, SymbolIterator, Headers.prototype.entries);
defineToStringTag(Headers.prototype, "Headers");

defineGlobal("Headers", Headers);
