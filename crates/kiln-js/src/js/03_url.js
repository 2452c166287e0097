// Kiln prelude: URL and URLSearchParams (WHATWG URL; parsing is done by the host).

const HEX_BYTE = [];
for (let i = 0; i < 256; i++) {
  HEX_BYTE[i] = "%" + (i < 16 ? "0" : "") + StringPrototypeToUpperCase(NumberPrototypeToString(i, 16));
}

function isFormSafe(c) {
  // application/x-www-form-urlencoded: ASCII alphanumerics and *-._ pass through.
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) ||
    c === 0x2a || c === 0x2d || c === 0x2e || c === 0x5f;
}

/** application/x-www-form-urlencoded byte serializer for one (well-formed) string. */
function formUrlEncode(s) {
  let out = "";
  let last = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    if (isFormSafe(c)) continue;
    out += StringPrototypeSlice(s, last, i);
    if (c === 0x20) {
      out += "+";
    } else if (c < 0x80) {
      out += HEX_BYTE[c];
    } else {
      let cp = c;
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
        const d = StringPrototypeCharCodeAt(s, i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        } else {
          cp = 0xfffd;
        }
      } else if (c >= 0xd800 && c <= 0xdfff) {
        cp = 0xfffd;
      }
      if (cp < 0x800) {
        out += HEX_BYTE[0xc0 | (cp >> 6)] + HEX_BYTE[0x80 | (cp & 0x3f)];
      } else if (cp < 0x10000) {
        out += HEX_BYTE[0xe0 | (cp >> 12)] + HEX_BYTE[0x80 | ((cp >> 6) & 0x3f)] + HEX_BYTE[0x80 | (cp & 0x3f)];
      } else {
        out += HEX_BYTE[0xf0 | (cp >> 18)] + HEX_BYTE[0x80 | ((cp >> 12) & 0x3f)] +
          HEX_BYTE[0x80 | ((cp >> 6) & 0x3f)] + HEX_BYTE[0x80 | (cp & 0x3f)];
      }
    }
    last = i + 1;
  }
  return last === 0 ? s : out + StringPrototypeSlice(s, last);
}

function serializeFormList(list) {
  let out = "";
  for (let i = 0; i < list.length; i++) {
    const pair = list[i];
    if (i > 0) out += "&";
    out += formUrlEncode(pair[0]) + "=" + formUrlEncode(pair[1]);
  }
  return out;
}

function hexValue(c) {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Replace every `+` by a space (no String.prototype.replace: it consults patchable symbols). */
function plusToSpace(s) {
  let i = StringPrototypeIndexOf(s, "+");
  if (i === -1) return s;
  let out = "";
  let last = 0;
  while (i !== -1) {
    out += StringPrototypeSlice(s, last, i) + " ";
    last = i + 1;
    i = StringPrototypeIndexOf(s, "+", last);
  }
  return out + StringPrototypeSlice(s, last);
}

/** Form-urlencoded value decoding: `+` → space, percent-decode bytes, UTF-8 decode. */
function formDecode(s) {
  if (StringPrototypeIndexOf(s, "%") === -1) return toUSVString(plusToSpace(s));
  const bytes = utf8Encode(s);
  const n = TypedArrayPrototypeGetLength(bytes);
  const out = new Uint8ArrayCtor(n);
  let j = 0;
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if (b === 0x2b) {
      out[j++] = 0x20;
    } else if (b === 0x25 && i + 2 < n && hexValue(bytes[i + 1]) !== -1 && hexValue(bytes[i + 2]) !== -1) {
      out[j++] = (hexValue(bytes[i + 1]) << 4) | hexValue(bytes[i + 2]);
      i += 2;
    } else {
      out[j++] = b;
    }
  }
  return hostUtf8Decode(u8View(out, 0, j), false);
}

/** application/x-www-form-urlencoded parser → array of [name, value]. */
function parseFormUrlEncoded(input) {
  const list = [];
  const n = input.length;
  let start = 0;
  while (start < n) {
    let amp = StringPrototypeIndexOf(input, "&", start);
    if (amp === -1) amp = n;
    if (amp > start) {
      const eq = StringPrototypeIndexOf(input, "=", start);
      let name;
      let value;
      if (eq === -1 || eq > amp) {
        name = StringPrototypeSlice(input, start, amp);
        value = "";
      } else {
        name = StringPrototypeSlice(input, start, eq);
        value = StringPrototypeSlice(input, eq + 1, amp);
      }
      list[list.length] = [formDecode(name), formDecode(value)];
    }
    start = amp + 1;
  }
  return list;
}

const URLSearchParamsIterator = makeIteratorClass("URLSearchParams Iterator");

// Bridges between URL and URLSearchParams (filled in by the static blocks below).
let searchParamsCreateLinked; // (url, query) => URLSearchParams
let searchParamsReplaceList; // (params, query) => void
let urlUpdateQuery; // (url, serializedQuery) => void
let searchParamsSerialize; // (params) => string
let isURLSearchParams; // (v) => boolean

class URLSearchParams {
  #list = [];
  #url = null;

  static {
    searchParamsCreateLinked = (url, query) => {
      const p = new URLSearchParams();
      p.#list = parseFormUrlEncoded(query);
      p.#url = url;
      return p;
    };
    searchParamsReplaceList = (p, query) => {
      p.#list = parseFormUrlEncoded(query);
    };
    searchParamsSerialize = (p) => serializeFormList(p.#list);
    isURLSearchParams = (v) => isObjectLike(v) && #list in v;
    platformBrandChecks[platformBrandChecks.length] = isURLSearchParams;
  }

  constructor(init = "") {
    if (isObjectLike(init)) {
      const method = init[SymbolIterator];
      if (method !== undefined && method !== null) {
        if (typeof method !== "function") throw new TypeErrorCtor("URLSearchParams: init[Symbol.iterator] is not a function");
        for (const pair of { [SymbolIterator]: () => ReflectApply(method, init, []) }) {
          if (!isObjectLike(pair)) throw new TypeErrorCtor("URLSearchParams: each pair must be an iterable [name, value]");
          const items = [];
          for (const item of pair) items[items.length] = toUSVString(item);
          if (items.length !== 2) throw new TypeErrorCtor("URLSearchParams: each pair must have exactly two elements");
          this.#list[this.#list.length] = items;
        }
      } else {
        const keys = ReflectOwnKeys(init);
        for (let i = 0; i < keys.length; i++) {
          const desc = ObjectGetOwnPropertyDescriptor(init, keys[i]);
          if (desc === undefined || !desc.enumerable) continue;
          const name = toUSVString(keys[i]);
          const value = toUSVString(init[keys[i]]);
          // A record can only hold each key once; keep the last value.
          let found = false;
          for (let j = 0; j < this.#list.length; j++) {
            if (this.#list[j][0] === name) {
              this.#list[j][1] = value;
              found = true;
              break;
            }
          }
          if (!found) this.#list[this.#list.length] = [name, value];
        }
      }
    } else {
      let s = toUSVString(init);
      if (StringPrototypeCharCodeAt(s, 0) === 0x3f /* ? */) s = StringPrototypeSlice(s, 1);
      this.#list = parseFormUrlEncoded(s);
    }
  }

  #update() {
    if (this.#url !== null) urlUpdateQuery(this.#url, serializeFormList(this.#list));
  }

  get size() {
    return this.#list.length;
  }

  append(name, value) {
    requireArgs(arguments.length, 2, "URLSearchParams.append");
    const list = this.#list;
    list[list.length] = [toUSVString(name), toUSVString(value)];
    this.#update();
  }

  delete(name, value = undefined) {
    requireArgs(arguments.length, 1, "URLSearchParams.delete");
    const n = toUSVString(name);
    const v = value === undefined ? undefined : toUSVString(value);
    const list = this.#list;
    const kept = [];
    for (let i = 0; i < list.length; i++) {
      const pair = list[i];
      if (pair[0] === n && (v === undefined || pair[1] === v)) continue;
      kept[kept.length] = pair;
    }
    this.#list = kept;
    this.#update();
  }

  get(name) {
    requireArgs(arguments.length, 1, "URLSearchParams.get");
    const n = toUSVString(name);
    const list = this.#list;
    for (let i = 0; i < list.length; i++) {
      if (list[i][0] === n) return list[i][1];
    }
    return null;
  }

  getAll(name) {
    requireArgs(arguments.length, 1, "URLSearchParams.getAll");
    const n = toUSVString(name);
    const list = this.#list;
    const out = [];
    for (let i = 0; i < list.length; i++) {
      if (list[i][0] === n) out[out.length] = list[i][1];
    }
    return out;
  }

  has(name, value = undefined) {
    requireArgs(arguments.length, 1, "URLSearchParams.has");
    const n = toUSVString(name);
    const v = value === undefined ? undefined : toUSVString(value);
    const list = this.#list;
    for (let i = 0; i < list.length; i++) {
      if (list[i][0] === n && (v === undefined || list[i][1] === v)) return true;
    }
    return false;
  }

  set(name, value) {
    requireArgs(arguments.length, 2, "URLSearchParams.set");
    const n = toUSVString(name);
    const v = toUSVString(value);
    const list = this.#list;
    const kept = [];
    let found = false;
    for (let i = 0; i < list.length; i++) {
      const pair = list[i];
      if (pair[0] === n) {
        if (found) continue;
        found = true;
        kept[kept.length] = [n, v];
      } else {
        kept[kept.length] = pair;
      }
    }
    if (!found) kept[kept.length] = [n, v];
    this.#list = kept;
    this.#update();
  }

  sort() {
    // Stable sort by name, comparing UTF-16 code units.
    ArrayPrototypeSort(this.#list, (a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.#update();
  }

  forEach(callback, thisArg = undefined) {
    requireArgs(arguments.length, 1, "URLSearchParams.forEach");
    if (typeof callback !== "function") throw new TypeErrorCtor("URLSearchParams.forEach: callback is not a function");
    for (let i = 0; i < this.#list.length; i++) {
      const pair = this.#list[i];
      ReflectApply(callback, thisArg, [pair[1], pair[0], this]);
    }
  }

  keys() {
    return new URLSearchParamsIterator(() => this.#list, 0);
  }
  values() {
    return new URLSearchParamsIterator(() => this.#list, 1);
  }
  entries() {
    return new URLSearchParamsIterator(() => this.#list, 2);
  }

  toString() {
    return serializeFormList(this.#list);
  }

  [kInspect]() {
    const view = { __proto__: null };
    const list = this.#list;
    for (let i = 0; i < list.length; i++) {
      const name = list[i][0];
      if (name in view) {
        const prev = view[name];
        if (ArrayIsArray(prev)) prev[prev.length] = list[i][1];
        else view[name] = [prev, list[i][1]];
      } else {
        view[name] = list[i][1];
      }
    }
    return view;
  }
}
defineValue(URLSearchParams.prototype, SymbolIterator, URLSearchParams.prototype.entries);
defineToStringTag(URLSearchParams.prototype, "URLSearchParams");

// Indices into the array returned by host.urlParse / host.urlSet.
const U_HREF = 0;
const U_PROTOCOL = 1;
const U_USERNAME = 2;
const U_PASSWORD = 3;
const U_HOST = 4;
const U_HOSTNAME = 5;
const U_PORT = 6;
const U_PATHNAME = 7;
const U_SEARCH = 8;
const U_HASH = 9;
const U_ORIGIN = 10;

let urlGetParts; // (url) => parts array

class URL {
  #parts;
  #searchParams = null;

  static {
    urlUpdateQuery = (url, serialized) => {
      const r = hostUrlSet(url.#parts[U_HREF], "search", serialized);
      if (r !== null) url.#parts = r;
    };
    urlGetParts = (url) => url.#parts;
    platformBrandChecks[platformBrandChecks.length] = (v) => isObjectLike(v) && #parts in v;
  }

  constructor(url, base = undefined) {
    requireArgs(arguments.length, 1, "URL constructor");
    const u = toUSVString(url);
    const b = base === undefined ? undefined : toUSVString(base);
    const parts = hostUrlParse(u, b);
    if (parts === null) throw new TypeErrorCtor(b === undefined ? `Invalid URL: '${u}'` : `Invalid URL: '${u}' (base '${b}')`);
    this.#parts = parts;
  }

  static canParse(url, base = undefined) {
    requireArgs(arguments.length, 1, "URL.canParse");
    const u = toUSVString(url);
    const b = base === undefined ? undefined : toUSVString(base);
    return hostUrlParse(u, b) !== null;
  }

  static parse(url, base = undefined) {
    requireArgs(arguments.length, 1, "URL.parse");
    const u = toUSVString(url);
    const b = base === undefined ? undefined : toUSVString(base);
    if (hostUrlParse(u, b) === null) return null;
    return new URL(u, b);
  }

  #set(part, value) {
    const r = hostUrlSet(this.#parts[U_HREF], part, value);
    if (r === null) return false;
    this.#parts = r;
    return true;
  }

  #syncSearchParams() {
    if (this.#searchParams !== null) {
      const search = this.#parts[U_SEARCH];
      searchParamsReplaceList(this.#searchParams, search === "" ? "" : StringPrototypeSlice(search, 1));
    }
  }

  get href() {
    return this.#parts[U_HREF];
  }
  set href(value) {
    const v = toUSVString(value);
    const parts = hostUrlParse(v, undefined);
    if (parts === null) throw new TypeErrorCtor(`Invalid URL: '${v}'`);
    this.#parts = parts;
    this.#syncSearchParams();
  }
  get origin() {
    return this.#parts[U_ORIGIN];
  }
  get protocol() {
    return this.#parts[U_PROTOCOL];
  }
  set protocol(value) {
    this.#set("protocol", toUSVString(value));
  }
  get username() {
    return this.#parts[U_USERNAME];
  }
  set username(value) {
    this.#set("username", toUSVString(value));
  }
  get password() {
    return this.#parts[U_PASSWORD];
  }
  set password(value) {
    this.#set("password", toUSVString(value));
  }
  get host() {
    return this.#parts[U_HOST];
  }
  set host(value) {
    this.#set("host", toUSVString(value));
  }
  get hostname() {
    return this.#parts[U_HOSTNAME];
  }
  set hostname(value) {
    this.#set("hostname", toUSVString(value));
  }
  get port() {
    return this.#parts[U_PORT];
  }
  set port(value) {
    this.#set("port", toUSVString(value));
  }
  get pathname() {
    return this.#parts[U_PATHNAME];
  }
  set pathname(value) {
    this.#set("pathname", toUSVString(value));
  }
  get search() {
    return this.#parts[U_SEARCH];
  }
  set search(value) {
    if (this.#set("search", toUSVString(value))) this.#syncSearchParams();
  }
  get searchParams() {
    if (this.#searchParams === null) {
      const search = this.#parts[U_SEARCH];
      this.#searchParams = searchParamsCreateLinked(this, search === "" ? "" : StringPrototypeSlice(search, 1));
    }
    return this.#searchParams;
  }
  get hash() {
    return this.#parts[U_HASH];
  }
  set hash(value) {
    this.#set("hash", toUSVString(value));
  }

  toString() {
    return this.#parts[U_HREF];
  }
  toJSON() {
    return this.#parts[U_HREF];
  }

  [kInspect]() {
    const p = this.#parts;
    return {
      href: p[U_HREF], origin: p[U_ORIGIN], protocol: p[U_PROTOCOL], username: p[U_USERNAME],
      password: p[U_PASSWORD], host: p[U_HOST], hostname: p[U_HOSTNAME], port: p[U_PORT],
      pathname: p[U_PATHNAME], hash: p[U_HASH], search: p[U_SEARCH], searchParams: this.searchParams,
    };
  }
}
defineToStringTag(URL.prototype, "URL");

defineGlobal("URL", URL);
defineGlobal("URLSearchParams", URLSearchParams);
