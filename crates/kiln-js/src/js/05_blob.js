// Kiln prelude: Blob and File (File API), FormData (XHR standard), and form bodies: the
// multipart/form-data serialisation of `new Response(formData)` / `fetch(url, { body:
// formData })`, and `formData()` parsing (done in Rust by host.parseFormData; see
// src/form_data.rs). A Blob holds its bytes in memory, immutably: slices and bodies share
// them, and every read hands out a copy.

const hostParseFormData = host.parseFormData;

const FormDataIterator = makeIteratorClass("FormData Iterator");

/** TypeErrors of `await request.formData()` on an incoming body: the client's fault (→ 400). */
const clientFormErrors = new WeakSetCtor();

// Internal access (filled in by the static blocks).
let isBlob; // (v) => boolean
let blobBytes; // (blob) => its Uint8Array; never handed to scripts
let blobType; // (blob) => its type
let fileName; // (file) => its name
let fileLastModified; // (file) => its lastModified
let isFile; // (v) => boolean
let isFormData; // (v) => boolean
let formDataList; // (formData) => its [name, value] entry list

// Constructor token and arguments for Blobs / Files built from bytes the prelude owns.
const kAdopt = { __proto__: null };
let adoptBytes = null;
let adoptType = "";
let adoptName = "";
let adoptLastModified = 0;

/** A Blob adopting `bytes` (not copied: the caller gives them up). */
function makeBlob(bytes, type) {
  adoptBytes = bytes;
  adoptType = type;
  return new Blob(kAdopt);
}

/** A File adopting `bytes`. */
function makeFile(bytes, name, type, lastModified) {
  adoptBytes = bytes;
  adoptType = type;
  adoptName = name;
  adoptLastModified = lastModified;
  return new File(kAdopt);
}

/** A Blob `type`: lower-cased, or "" if it holds a character outside U+0020–U+007E. */
function normalizeBlobType(value) {
  const s = toDOMString(value);
  return isPrintableAscii(s) ? StringPrototypeToLowerCase(s) : "";
}

function isPrintableAscii(s) {
  for (let i = 0; i < s.length; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/** A fresh Uint8Array holding the chunks (Uint8Arrays) one after the other. */
function concatBytes(chunks) {
  let total = 0;
  for (let i = 0; i < chunks.length; i++) total += TypedArrayPrototypeGetLength(chunks[i]);
  const out = new Uint8ArrayCtor(total);
  let offset = 0;
  for (let i = 0; i < chunks.length; i++) {
    TypedArrayPrototypeSet(out, chunks[i], offset);
    offset += TypedArrayPrototypeGetLength(chunks[i]);
  }
  return out;
}

/** `endings: "native"`: every CR LF or lone CR becomes LF (the native line ending here). */
function nativeLineEndings(s) {
  if (!StringPrototypeIncludes(s, "\r")) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    if (c !== 0x0d) out += s[i];
    else {
      out += "\n";
      if (StringPrototypeCharCodeAt(s, i + 1) === 0x0a) i++;
    }
  }
  return out;
}

/** The bytes of a blobParts sequence: strings (as UTF-8), BufferSources and Blobs. */
function blobPartsBytes(parts, native, what) {
  if (parts === undefined) return new Uint8ArrayCtor(0);
  const method = isObjectLike(parts) ? parts[SymbolIterator] : undefined;
  if (typeof method !== "function") {
    throw new TypeErrorCtor(`${what}: the parts must be a sequence (e.g. an array) of strings, ArrayBuffers, typed arrays or Blobs`);
  }
  const chunks = [];
  for (const part of { [SymbolIterator]: () => ReflectApply(method, parts, []) }) {
    if (isBlob(part)) {
      chunks[chunks.length] = blobBytes(part);
      continue;
    }
    const view = bufferSourceBytes(part);
    if (view !== null) chunks[chunks.length] = view;
    else {
      const s = toUSVString(part);
      chunks[chunks.length] = utf8Encode(native ? nativeLineEndings(s) : s);
    }
  }
  return concatBytes(chunks);
}

/** Validated BlobPropertyBag: [type, native]. */
function blobOptions(options, what) {
  if (options === undefined || options === null) return ["", false];
  if (!isObjectLike(options)) throw new TypeErrorCtor(`${what}: options must be an object`);
  const type = options.type;
  const endings = options.endings;
  let native = false;
  if (endings !== undefined) {
    const e = toDOMString(endings);
    if (e !== "transparent" && e !== "native") {
      throw new TypeErrorCtor(`${what}: options.endings must be "transparent" or "native"`);
    }
    native = e === "native";
  }
  return [type === undefined ? "" : normalizeBlobType(type), native];
}

/** WebIDL `long long` conversion for slice() positions (NaN → 0; ±Infinity kept). */
function toPosition(v) {
  const n = NumberCtor(v);
  if (NumberIsNaN(n)) return 0;
  return MathTrunc(n);
}

/** A slice() bound: negative counts from the end; clamped to [0, size]. */
function relativePosition(v, size, fallback) {
  if (v === undefined) return fallback;
  const n = toPosition(v);
  return n < 0 ? MathMax(size + n, 0) : MathMin(n, size);
}

class Blob {
  #bytes;
  #type;

  static {
    isBlob = (v) => isObjectLike(v) && #bytes in v;
    blobBytes = (b) => b.#bytes;
    blobType = (b) => b.#type;
    platformBrandChecks[platformBrandChecks.length] = isBlob;
  }

  constructor(blobParts = undefined, options = undefined) {
    if (blobParts === kAdopt) {
      this.#bytes = adoptBytes;
      this.#type = adoptType;
      adoptBytes = null;
      return;
    }
    const what = new.target === Blob ? "Blob" : "File";
    const opts = blobOptions(options, what);
    this.#bytes = blobPartsBytes(blobParts, opts[1], what);
    this.#type = opts[0];
  }

  get size() {
    return TypedArrayPrototypeGetLength(this.#bytes);
  }
  get type() {
    return this.#type;
  }

  slice(start = undefined, end = undefined, contentType = undefined) {
    const size = TypedArrayPrototypeGetLength(this.#bytes);
    const from = relativePosition(start, size, 0);
    const to = relativePosition(end, size, size);
    const span = MathMax(to - from, 0);
    const type = contentType === undefined ? "" : normalizeBlobType(contentType);
    return makeBlob(u8View(this.#bytes, from, from + span), type);
  }

  async arrayBuffer() {
    return TypedArrayPrototypeGetBuffer(u8Copy(this.#bytes));
  }
  async bytes() {
    return u8Copy(this.#bytes);
  }
  async text() {
    return utf8DecodeStripBOM(this.#bytes);
  }
  stream() {
    return streamOfBytes(u8Copy(this.#bytes));
  }

  [kInspect]() {
    return { size: this.size, type: this.#type };
  }
}
defineToStringTag(Blob.prototype, "Blob");

class File extends Blob {
  #name;
  #lastModified;

  static {
    isFile = (v) => isObjectLike(v) && #name in v;
    fileName = (f) => f.#name;
    fileLastModified = (f) => f.#lastModified;
  }

  constructor(fileBits, fileName, options = undefined) {
    if (fileBits === kAdopt) {
      super(kAdopt);
      this.#name = adoptName;
      this.#lastModified = adoptLastModified;
      return;
    }
    requireArgs(arguments.length, 2, "File constructor");
    super(fileBits, options);
    this.#name = toUSVString(fileName);
    const lastModified = isObjectLike(options) ? options.lastModified : undefined;
    this.#lastModified = lastModified === undefined ? DateNow() : toPosition(lastModified);
  }

  get name() {
    return this.#name;
  }
  get lastModified() {
    return this.#lastModified;
  }
  get webkitRelativePath() {
    return "";
  }

  [kInspect]() {
    return { name: this.#name, size: this.size, type: this.type, lastModified: this.#lastModified };
  }
}
defineToStringTag(File.prototype, "File");

/** A FormData entry value: a string, or a File (a Blob becomes a File named "blob"). */
function formEntryValue(value, filename, hasFilename, what) {
  if (!isBlob(value)) {
    if (hasFilename) throw new TypeErrorCtor(`${what}: a filename is only allowed with a Blob or File value`);
    return toUSVString(value);
  }
  const file = isFile(value);
  if (file && !hasFilename) return value;
  const name = hasFilename ? toUSVString(filename) : file ? fileName(value) : "blob";
  return makeFile(blobBytes(value), name, blobType(value), file ? fileLastModified(value) : DateNow());
}

class FormData {
  #list = [];

  static {
    isFormData = (v) => isObjectLike(v) && #list in v;
    formDataList = (fd) => fd.#list;
    platformBrandChecks[platformBrandChecks.length] = isFormData;
  }

  constructor(form = undefined) {
    if (form !== undefined) {
      throw new TypeErrorCtor("FormData: there are no HTML forms here; create an empty FormData and append() to it");
    }
  }

  append(name, value, filename = undefined) {
    requireArgs(arguments.length, 2, "FormData.append");
    const list = this.#list;
    list[list.length] = [toUSVString(name), formEntryValue(value, filename, arguments.length > 2, "FormData.append")];
  }

  set(name, value, filename = undefined) {
    requireArgs(arguments.length, 2, "FormData.set");
    const n = toUSVString(name);
    const v = formEntryValue(value, filename, arguments.length > 2, "FormData.set");
    const list = this.#list;
    let found = false;
    let w = 0;
    for (let r = 0; r < list.length; r++) {
      if (list[r][0] === n) {
        if (found) continue;
        found = true;
        list[w++] = [n, v];
        continue;
      }
      list[w++] = list[r];
    }
    list.length = w;
    if (!found) list[list.length] = [n, v];
  }

  delete(name) {
    requireArgs(arguments.length, 1, "FormData.delete");
    const n = toUSVString(name);
    const list = this.#list;
    let w = 0;
    for (let r = 0; r < list.length; r++) {
      if (list[r][0] !== n) list[w++] = list[r];
    }
    list.length = w;
  }

  get(name) {
    requireArgs(arguments.length, 1, "FormData.get");
    const n = toUSVString(name);
    const list = this.#list;
    for (let i = 0; i < list.length; i++) {
      if (list[i][0] === n) return list[i][1];
    }
    return null;
  }

  getAll(name) {
    requireArgs(arguments.length, 1, "FormData.getAll");
    const n = toUSVString(name);
    const list = this.#list;
    const out = [];
    for (let i = 0; i < list.length; i++) {
      if (list[i][0] === n) out[out.length] = list[i][1];
    }
    return out;
  }

  has(name) {
    requireArgs(arguments.length, 1, "FormData.has");
    return this.get(name) !== null;
  }

  forEach(callback, thisArg = undefined) {
    requireArgs(arguments.length, 1, "FormData.forEach");
    if (typeof callback !== "function") throw new TypeErrorCtor("FormData.forEach: callback is not a function");
    const list = this.#list;
    for (let i = 0; i < list.length; i++) ReflectApply(callback, thisArg, [list[i][1], list[i][0], this]);
  }

  keys() {
    return new FormDataIterator(() => this.#list, 0);
  }
  values() {
    return new FormDataIterator(() => this.#list, 1);
  }
  entries() {
    return new FormDataIterator(() => this.#list, 2);
  }

  [kInspect]() {
    const out = [];
    const list = this.#list;
    for (let i = 0; i < list.length; i++) out[i] = [list[i][0], list[i][1]];
    return out;
  }
}
defineValue(FormData.prototype, SymbolIterator, FormData.prototype.entries);
defineToStringTag(FormData.prototype, "FormData");

// ---------------------------------------------------------------------------
// Form bodies.

/** A name or filename in a multipart header: `"`, CR and LF percent-escaped (HTML standard). */
function escapeMultipartName(s) {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    out += c === 0x22 ? "%22" : c === 0x0d ? "%0D" : c === 0x0a ? "%0A" : s[i];
  }
  return out;
}

/** `multipart/form-data` encoding of a FormData: [bytes, contentType], with a fresh boundary. */
function formDataMultipart(fd) {
  const boundary = "----KilnFormBoundary" + StringPrototypeSlice(hostRandomUUID(), 0, 8) +
    StringPrototypeSlice(hostRandomUUID(), 24);
  const list = formDataList(fd);
  const chunks = [];
  const crlf = utf8Encode("\r\n");
  for (let i = 0; i < list.length; i++) {
    const name = list[i][0];
    const value = list[i][1];
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeMultipartName(name)}"`;
    if (typeof value === "string") {
      chunks[chunks.length] = utf8Encode(head + "\r\n\r\n");
      chunks[chunks.length] = utf8Encode(value);
    } else {
      const type = blobType(value) === "" ? "application/octet-stream" : blobType(value);
      head += `; filename="${escapeMultipartName(fileName(value))}"\r\nContent-Type: ${type}\r\n\r\n`;
      chunks[chunks.length] = utf8Encode(head);
      chunks[chunks.length] = blobBytes(value);
    }
    chunks[chunks.length] = crlf;
  }
  chunks[chunks.length] = utf8Encode(`--${boundary}--\r\n`);
  return [concatBytes(chunks), `multipart/form-data; boundary=${boundary}`];
}

/**
 * `formData()` of a body: `bytes` parsed as `contentType` (the header value, or null). A
 * TypeError on failure; for an incoming request it answers 400 INVALID_FORM_DATA if uncaught.
 */
function parseFormBody(bytes, contentType, incoming, what) {
  const result = hostParseFormData(bytes, contentType === null ? "" : contentType);
  if (typeof result === "string") {
    const err = new TypeErrorCtor(`${what}: ${result}`);
    if (incoming) WeakSetPrototypeAdd(clientFormErrors, err);
    throw err;
  }
  const fd = new FormData();
  const list = formDataList(fd);
  const now = DateNow();
  for (let i = 0; i < result.length; i++) {
    const item = result[i];
    list[i] = item.length === 2 ? [item[0], item[1]] : [item[0], makeFile(item[1], item[2], item[3], now)];
  }
  return fd;
}

/** The `type` of a body's blob(): the Content-Type value, or "" if absent or not printable ASCII. */
function bodyBlobType(contentType) {
  return contentType !== null && isPrintableAscii(contentType) ? contentType : "";
}

defineGlobal("Blob", Blob);
defineGlobal("File", File);
defineGlobal("FormData", FormData);
