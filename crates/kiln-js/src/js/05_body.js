// Kiln prelude: Request and Response. Bodies are buffered (text or bytes) or a ReadableStream
// (`new Response(stream)`, a fetched response's body, or a buffered body once `.body` was used).
// Form and Blob bodies are encoded and parsed by 05_blob.js.

/** Body data: exactly one of `text` / `bytes` / `stream` is non-null. */
class BodyData {
  text = null;
  bytes = null;
  stream = null;
  used = false;
  /** True for the body of an incoming request: JSON errors are then the client's fault. */
  incoming = false;
  constructor(text, bytes) {
    this.text = text;
    this.bytes = bytes;
  }
}

/** SyntaxErrors raised by `await request.json()` on a malformed incoming body (→ 400). */
const clientBodyErrors = new WeakSetCtor();

const NULL_BODY_STATUSES = [101, 103, 204, 205, 304];
const REDIRECT_STATUSES = [301, 302, 303, 307, 308];

/**
 * Extract a body from a BodyInit value. Returns [BodyData, contentTypeOrNull].
 * Supported: string, ArrayBuffer, ArrayBufferView, URLSearchParams, Blob (and File),
 * FormData (multipart/form-data with a fresh boundary), Kiln Html values; anything else is
 * converted to a string like the Web does for unknown objects.
 */
function extractBody(value, what) {
  if (typeof value === "string") return [new BodyData(toUSVString(value), null), "text/plain;charset=UTF-8"];
  if (isObjectLike(value)) {
    if (isHtml(value)) return [new BodyData(toUSVString(htmlMarkup(value)), null), "text/html;charset=UTF-8"];
    if (isURLSearchParams(value)) {
      return [new BodyData(searchParamsSerialize(value), null), "application/x-www-form-urlencoded;charset=UTF-8"];
    }
    const view = bufferSourceBytes(value);
    if (view !== null) return [new BodyData(null, u8Copy(view)), null];
    // A Blob's bytes are immutable: the body shares them.
    if (isBlob(value)) return [new BodyData(null, blobBytes(value)), blobType(value) === "" ? null : blobType(value)];
    if (isFormData(value)) {
      const encoded = formDataMultipart(value);
      return [new BodyData(null, encoded[0]), encoded[1]];
    }
    if (isReadableStream(value)) {
      if (streamIsLocked(value) || streamIsDisturbed(value)) {
        throw new TypeErrorCtor(`${what}: the body stream is locked or has already been read`);
      }
      const body = new BodyData(null, null);
      body.stream = value;
      return [body, null];
    }
  }
  return [new BodyData(toUSVString(value), null), "text/plain;charset=UTF-8"];
}

/** Whether the body was read, or its stream disturbed or locked. */
function bodyIsUsed(body) {
  return body !== null && (body.used || (body.stream !== null && (streamIsDisturbed(body.stream) || streamIsLocked(body.stream))));
}

/** The body as a stream (a buffered body becomes one, read from then on), or null. */
function bodyStream(body) {
  if (body === null) return null;
  if (body.stream === null) {
    const bytes = body.text !== null ? utf8Encode(body.text) : u8Copy(body.bytes);
    body.text = null;
    body.bytes = null;
    body.stream = streamOfBytes(bytes);
  }
  return body.stream;
}

/** host.complete, or the invocation's failure when the host refuses the answer. */
function safeHostComplete(id, status, headers, bytes) {
  try {
    hostComplete(id, status, headers, bytes);
  } catch (err) {
    safeFail(id, err);
  }
}

/** Reads a stream body to its end (a promise of its bytes). */
function consumeStream(body, what) {
  if (bodyIsUsed(body)) throw new TypeErrorCtor(`${what}: the body has already been used`);
  body.used = true;
  return drainStreamBytes(body.stream, what);
}

/** The body's text: a string, or for a stream body a promise of it. */
function consumeText(body, what) {
  if (body === null) return "";
  if (body.stream !== null) {
    return new PromiseCtor((resolve, reject) => {
      PromisePrototypeThen(consumeStream(body, what), (bytes) => resolve(utf8DecodeStripBOM(bytes)), reject);
    });
  }
  if (body.used) throw new TypeErrorCtor(`${what}: the body has already been used`);
  body.used = true;
  return body.text !== null ? body.text : utf8DecodeStripBOM(body.bytes);
}

/** The body's bytes: a Uint8Array, or for a stream body a promise of one. */
function consumeBytes(body, what) {
  if (body === null) return new Uint8ArrayCtor(0);
  if (body.stream !== null) return consumeStream(body, what);
  if (body.used) throw new TypeErrorCtor(`${what}: the body has already been used`);
  body.used = true;
  return body.text !== null ? utf8Encode(body.text) : u8Copy(body.bytes);
}

/** `arrayBuffer()`: the buffer of consumeBytes's result (or a promise of it). */
function consumeArrayBuffer(body, what) {
  const bytes = consumeBytes(body, what);
  if (body === null || body.stream === null) return TypedArrayPrototypeGetBuffer(bytes);
  return new PromiseCtor((resolve, reject) => {
    PromisePrototypeThen(bytes, (b) => resolve(TypedArrayPrototypeGetBuffer(b)), reject);
  });
}

/**
 * The body's bytes without a copy (callers only read them), marking the body used; for a
 * stream body, a promise of them.
 */
function consumeBytesShared(body, what) {
  if (body === null) return new Uint8ArrayCtor(0);
  if (body.stream !== null) return consumeStream(body, what);
  if (body.used) throw new TypeErrorCtor(`${what}: the body has already been used`);
  body.used = true;
  return body.text !== null ? utf8Encode(body.text) : body.bytes;
}

/** Applies `convert` to the body's bytes, now or (stream bodies) once they have all arrived. */
function withBodyBytes(body, what, convert) {
  const bytes = consumeBytesShared(body, what);
  if (body === null || body.stream === null) return convert(bytes);
  return new PromiseCtor((resolve, reject) => {
    PromisePrototypeThen(bytes, (b) => {
      try {
        resolve(convert(b));
      } catch (e) {
        reject(e);
      }
    }, reject);
  });
}

function consumeFormData(body, headers, what) {
  const contentType = headersGetInternal(headers, "content-type");
  const incoming = body !== null && body.incoming;
  return withBodyBytes(body, what, (bytes) => parseFormBody(bytes, contentType, incoming, what));
}

function consumeBlob(body, headers, what) {
  const type = bodyBlobType(headersGetInternal(headers, "content-type"));
  return withBodyBytes(body, what, (bytes) => makeBlob(bytes, type));
}

function consumeJson(body, what) {
  if (body !== null && body.stream !== null) {
    return new PromiseCtor((resolve, reject) => {
      PromisePrototypeThen(consumeText(body, what), (text) => {
        try {
          resolve(JSONParse(text));
        } catch (e) {
          reject(e);
        }
      }, reject);
    });
  }
  const text = consumeText(body, what);
  try {
    return JSONParse(text);
  } catch (e) {
    if (body !== null && body.incoming) {
      const err = new SyntaxErrorCtor(`The request body is not valid JSON: ${ownMessage(e)}`);
      WeakSetPrototypeAdd(clientBodyErrors, err);
      throw err;
    }
    throw e;
  }
}

function cloneBody(body, what) {
  if (body === null) return null;
  if (bodyIsUsed(body)) throw new TypeErrorCtor(`${what}: the body has already been used`);
  if (body.stream !== null) {
    const branches = streamTee(body.stream);
    body.stream = branches[0];
    const copy = new BodyData(null, null);
    copy.stream = branches[1];
    copy.incoming = body.incoming;
    return copy;
  }
  const copy = new BodyData(body.text, body.bytes); // stored data is never mutated: share it
  copy.incoming = body.incoming;
  return copy;
}

function normalizeMethod(value) {
  const s = toByteString(value, "Request");
  if (!isToken(s)) throw new TypeErrorCtor(`Request: '${s}' is not a valid HTTP method`);
  const upper = StringPrototypeToUpperCase(s);
  if (upper === "CONNECT" || upper === "TRACE" || upper === "TRACK") {
    throw new TypeErrorCtor(`Request: the HTTP method '${s}' is forbidden`);
  }
  if (upper === "DELETE" || upper === "GET" || upper === "HEAD" || upper === "OPTIONS" || upper === "POST" || upper === "PUT") {
    return upper;
  }
  return s;
}

const kIncoming = { __proto__: null }; // constructor token for requests built by dispatch
// Arguments of the request being built by createIncomingRequest (avoids an `arguments` object).
let incomingMethod = null;
let incomingUrl = null;
let incomingHeaders = null;
let incomingBody = null;
const REQUEST_REDIRECTS = ["follow", "error", "manual"];

let createIncomingRequest; // (method, url, flatHeaders, bodyBytesOrNull) => Request
let isRequest; // (v) => boolean
// For fetch: (request) => [method, url, Headers, BodyData | null, redirect, AbortSignal | null]
let requestFetchParts;
// For fetch: (status, statusText, flatHeaders, BodyData, url, redirected) => Response
let createFetchedResponse;
/** Responses fetched after following at least one redirect (`response.redirected`). */
const redirectedResponses = new WeakSetCtor();

// Slots of a Request's state array (see `class Request`).
const RQ_METHOD = 0;
const RQ_URL = 1;
const RQ_HEADERS = 2; // Headers, or null until first use (then built from RQ_HEADERS_FLAT)
const RQ_HEADERS_FLAT = 3; // the host's flat [name, value, ...] list, or null
const RQ_BODY = 4; // BodyData or null
const RQ_REDIRECT = 5;
const RQ_SIGNAL = 6; // AbortSignal, or null until first use

/** Headers of a request state, materialised from the host's flat list on first use. */
function requestStateHeaders(st) {
  let h = st[RQ_HEADERS];
  if (h === null) {
    h = headersFromFlat(st[RQ_HEADERS_FLAT], false);
    st[RQ_HEADERS] = h;
    st[RQ_HEADERS_FLAT] = null;
  }
  return h;
}

class Request {
  // All state lives in one array indexed by the RQ_* slots, created by an array literal:
  // dispatch builds one Request per request, and in QuickJS every declared private field (and
  // a private-method brand) is a property definition on every construction, as is every
  // property of an object literal, while an array literal is a single allocation.
  #s;

  static {
    createIncomingRequest = (method, url, flatHeaders, bytes) => {
      incomingMethod = method;
      incomingUrl = url;
      incomingHeaders = flatHeaders;
      incomingBody = bytes;
      return new Request(kIncoming);
    };
    isRequest = (v) => isObjectLike(v) && #s in v;
    platformBrandChecks[platformBrandChecks.length] = isRequest;
    requestFetchParts = (r) => {
      const st = r.#s;
      return [st[RQ_METHOD], st[RQ_URL], requestStateHeaders(st), st[RQ_BODY], st[RQ_REDIRECT], st[RQ_SIGNAL]];
    };
  }

  constructor(input, init = undefined) {
    if (input === kIncoming) {
      // Fast path for dispatch: arguments are trusted (validated by the host).
      const bytes = incomingBody;
      let body = null;
      if (bytes !== null && bytes !== undefined) {
        body = new BodyData(null, bytes);
        body.incoming = true;
      }
      this.#s = [incomingMethod, incomingUrl, null, incomingHeaders, body, "follow", null];
      incomingHeaders = incomingBody = null;
      return;
    }
    requireArgs(arguments.length, 1, "Request constructor");
    if (init !== undefined && init !== null && !isObjectLike(init)) {
      throw new TypeErrorCtor("Request: init must be an object");
    }
    const st = ["GET", "", null, null, null, "follow", null];
    let inputState = null;
    if (isObjectLike(input) && #s in input) {
      inputState = input.#s;
      st[RQ_METHOD] = inputState[RQ_METHOD];
      st[RQ_URL] = inputState[RQ_URL];
      st[RQ_REDIRECT] = inputState[RQ_REDIRECT];
      st[RQ_SIGNAL] = inputState[RQ_SIGNAL];
    } else {
      const s = toUSVString(input);
      const parts = hostUrlParse(s, undefined);
      if (parts === null) throw new TypeErrorCtor(`Request: invalid URL '${s}'`);
      if (parts[U_USERNAME] !== "" || parts[U_PASSWORD] !== "") {
        throw new TypeErrorCtor("Request: URLs with credentials are not allowed");
      }
      st[RQ_URL] = parts[U_HREF];
    }

    let initBody;
    let initHeaders;
    if (init !== undefined && init !== null) {
      initBody = init.body;
      initHeaders = init.headers;
      const method = init.method;
      if (method !== undefined) st[RQ_METHOD] = normalizeMethod(method);
      const redirect = init.redirect;
      if (redirect !== undefined) {
        const r = toDOMString(redirect);
        if (!ArrayPrototypeIncludes(REQUEST_REDIRECTS, r)) throw new TypeErrorCtor(`Request: invalid redirect mode '${r}'`);
        st[RQ_REDIRECT] = r;
      }
      const signal = init.signal;
      if (signal !== undefined) {
        if (signal !== null && !isAbortSignal(signal)) throw new TypeErrorCtor("Request: init.signal must be an AbortSignal");
        st[RQ_SIGNAL] = signal;
      }
    }

    let headers;
    if (initHeaders !== undefined) headers = new Headers(initHeaders);
    else if (inputState !== null) headers = new Headers(requestStateHeaders(inputState));
    else headers = new Headers();
    st[RQ_HEADERS] = headers;

    const inputBody = inputState !== null ? inputState[RQ_BODY] : null;
    const hasInitBody = initBody !== undefined && initBody !== null;
    const method = st[RQ_METHOD];
    if ((hasInitBody || inputBody !== null) && (method === "GET" || method === "HEAD")) {
      throw new TypeErrorCtor("Request: a GET or HEAD request cannot have a body");
    }
    if (hasInitBody) {
      const extracted = extractBody(initBody, "Request");
      st[RQ_BODY] = extracted[0];
      if (extracted[1] !== null && !headersHasInternal(headers, "content-type")) {
        headersSetInternal(headers, "content-type", extracted[1]);
      }
    } else if (inputBody !== null) {
      st[RQ_BODY] = cloneBody(inputBody, "Request");
      inputBody.used = true; // the new request takes over the input's body
    }
    this.#s = st;
  }

  get method() {
    return this.#s[RQ_METHOD];
  }
  get url() {
    return this.#s[RQ_URL];
  }
  get headers() {
    return requestStateHeaders(this.#s);
  }
  get body() {
    return bodyStream(this.#s[RQ_BODY]);
  }
  get bodyUsed() {
    return bodyIsUsed(this.#s[RQ_BODY]);
  }
  get redirect() {
    return this.#s[RQ_REDIRECT];
  }
  get signal() {
    const st = this.#s;
    let signal = st[RQ_SIGNAL];
    if (signal === null) {
      signal = createAbortSignal();
      st[RQ_SIGNAL] = signal;
    }
    return signal;
  }
  get cache() {
    return "default";
  }
  get credentials() {
    return "same-origin";
  }
  get destination() {
    return "";
  }
  get integrity() {
    return "";
  }
  get keepalive() {
    return false;
  }
  get mode() {
    return "cors";
  }
  get referrer() {
    return "about:client";
  }
  get referrerPolicy() {
    return "";
  }
  get duplex() {
    return "half";
  }

  async text() {
    return consumeText(this.#s[RQ_BODY], "Request.text");
  }
  async json() {
    return consumeJson(this.#s[RQ_BODY], "Request.json");
  }
  async arrayBuffer() {
    return consumeArrayBuffer(this.#s[RQ_BODY], "Request.arrayBuffer");
  }
  async bytes() {
    return consumeBytes(this.#s[RQ_BODY], "Request.bytes");
  }
  async formData() {
    return consumeFormData(this.#s[RQ_BODY], requestStateHeaders(this.#s), "Request.formData");
  }
  async blob() {
    return consumeBlob(this.#s[RQ_BODY], requestStateHeaders(this.#s), "Request.blob");
  }

  clone() {
    const st = this.#s;
    const body = cloneBody(st[RQ_BODY], "Request.clone");
    const r = createIncomingRequest(st[RQ_METHOD], st[RQ_URL], null, null);
    const rs = r.#s;
    rs[RQ_HEADERS] = new Headers(requestStateHeaders(st));
    rs[RQ_BODY] = body;
    rs[RQ_REDIRECT] = st[RQ_REDIRECT];
    rs[RQ_SIGNAL] = st[RQ_SIGNAL];
    return r;
  }

  [kInspect]() {
    const st = this.#s;
    return {
      method: st[RQ_METHOD], url: st[RQ_URL], headers: requestStateHeaders(st), bodyUsed: this.bodyUsed,
      redirect: st[RQ_REDIRECT],
    };
  }
}
defineToStringTag(Request.prototype, "Request");

function toStatus(value) {
  let n = NumberCtor(value);
  if (!NumberIsFinite(n)) return 0;
  n = MathTrunc(n) % 65536;
  return n < 0 ? n + 65536 : n;
}

function validateStatusText(value) {
  const s = toByteString(value, "Response");
  for (let i = 0; i < s.length; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    if (!(c === 0x09 || c === 0x20 || (c >= 0x21 && c <= 0x7e) || c >= 0x80)) {
      throw new TypeErrorCtor("Response: invalid statusText");
    }
  }
  return s;
}

let completeWithResponse; // (id, response) => void
let isResponse; // (v) => boolean
let responseHeaders; // (response) => Headers, created on first use

// Header presets of the common results: host.complete accepts a preset number in place of a
// header list (see HEADER_PRESETS in engine/host.rs), which spares building and converting a
// list on every response.
const NO_HEADERS = 0;
const TEXT_HEADERS = 1;
const HTML_HEADERS = 2;
const JSON_HEADERS = 3;
const BINARY_HEADERS = 4;

/** The header list for a response whose only header is (at most) a content type. */
function contentTypeHeaders(contentType) {
  if (contentType === null) return NO_HEADERS;
  if (contentType === "text/plain;charset=UTF-8") return TEXT_HEADERS;
  if (contentType === "application/json") return JSON_HEADERS;
  if (contentType === "text/html;charset=UTF-8") return HTML_HEADERS;
  return ["content-type", contentType];
}

class Response {
  #status = 200;
  #statusText = "";
  // Created on first use (most handlers never touch a response's headers): until then the
  // only header is #contentType, the body's default content type.
  #headers = null;
  #contentType = null;
  #body = null;
  #type = "default";
  #url = "";

  static {
    isResponse = (v) => isObjectLike(v) && #status in v;
    platformBrandChecks[platformBrandChecks.length] = isResponse;
    completeWithResponse = (id, r) => {
      if (r.#type === "error") {
        hostFail(id, 500, "SCRIPT_ERROR", "The script failed while handling the request", "the handler returned Response.error()");
        return;
      }
      const body = r.#body;
      let payload = null;
      if (body !== null) {
        if (bodyIsUsed(body)) {
          hostFail(id, 500, "SCRIPT_ERROR", "The script failed while handling the request",
            "the handler returned a Response whose body had already been used");
          return;
        }
        if (body.stream !== null) {
          // Read the stream to its end, then answer (the response is sent whole).
          const status = r.#status;
          const headers = r.#headers === null ? contentTypeHeaders(r.#contentType) : headersToFlat(r.#headers);
          PromisePrototypeThen(
            consumeStream(body, "Response"),
            (bytes) => safeHostComplete(id, status, headers, bytes),
            (err) => safeFail(id, err),
          );
          return;
        }
        // Bodies are buffered and immutable, so the same Response may be returned again.
        payload = body.text !== null ? body.text : body.bytes;
      }
      const headers = r.#headers === null ? contentTypeHeaders(r.#contentType) : headersToFlat(r.#headers);
      hostComplete(id, r.#status, headers, payload);
    };
    createFetchedResponse = (status, statusText, flatHeaders, body, url, redirected) => {
      const r = new Response(null);
      r.#status = status;
      r.#statusText = statusText;
      r.#headers = headersFromFlat(flatHeaders, true);
      if (!ArrayPrototypeIncludes(NULL_BODY_STATUSES, status)) r.#body = body;
      r.#type = "basic";
      r.#url = url;
      if (redirected) WeakSetPrototypeAdd(redirectedResponses, r);
      return r;
    };
    responseHeaders = (r) => {
      if (r.#headers === null) {
        const h = new Headers();
        if (r.#contentType !== null) headersSetInternal(h, "content-type", r.#contentType);
        r.#headers = h;
      }
      return r.#headers;
    };
  }

  constructor(body = null, init = undefined) {
    if (init !== undefined && init !== null && !isObjectLike(init)) {
      throw new TypeErrorCtor("Response: init must be an object");
    }
    let headersInit;
    if (init !== undefined && init !== null) {
      headersInit = init.headers;
      const status = init.status;
      if (status !== undefined) {
        const s = toStatus(status);
        if (s < 200 || s > 599) throw new RangeErrorCtor(`Response: status ${s} is outside the range 200-599`);
        this.#status = s;
      }
      const statusText = init.statusText;
      if (statusText !== undefined) this.#statusText = validateStatusText(statusText);
    }
    if (headersInit !== undefined) this.#headers = new Headers(headersInit);
    if (body !== null && body !== undefined) {
      if (ArrayPrototypeIncludes(NULL_BODY_STATUSES, this.#status)) {
        throw new TypeErrorCtor(`Response: a response with status ${this.#status} cannot have a body`);
      }
      const extracted = extractBody(body, "Response");
      this.#body = extracted[0];
      if (extracted[1] !== null) {
        if (this.#headers === null) this.#contentType = extracted[1];
        else if (!headersHasInternal(this.#headers, "content-type")) {
          headersSetInternal(this.#headers, "content-type", extracted[1]);
        }
      }
    }
  }

  static json(data, init = undefined) {
    requireArgs(arguments.length, 1, "Response.json");
    const text = JSONStringify(data);
    if (text === undefined) throw new TypeErrorCtor("Response.json: the value cannot be serialised as JSON");
    const r = new Response(null, init);
    if (ArrayPrototypeIncludes(NULL_BODY_STATUSES, r.#status)) {
      throw new TypeErrorCtor(`Response.json: a response with status ${r.#status} cannot have a body`);
    }
    r.#body = new BodyData(text, null);
    if (r.#headers === null) r.#contentType = "application/json";
    else if (!headersHasInternal(r.#headers, "content-type")) headersSetInternal(r.#headers, "content-type", "application/json");
    return r;
  }

  static redirect(url, status = 302) {
    requireArgs(arguments.length, 1, "Response.redirect");
    const s = toUSVString(url);
    const parts = hostUrlParse(s, undefined);
    if (parts === null) throw new TypeErrorCtor(`Response.redirect: invalid URL '${s}'`);
    const st = toStatus(status);
    if (!ArrayPrototypeIncludes(REDIRECT_STATUSES, st)) {
      throw new RangeErrorCtor(`Response.redirect: ${st} is not a redirect status (301, 302, 303, 307, 308)`);
    }
    const r = new Response(null);
    r.#status = st;
    headersSetInternal(responseHeaders(r), "location", parts[U_HREF]);
    headersMakeImmutable(r.#headers);
    return r;
  }

  static error() {
    const r = new Response(null);
    r.#status = 0;
    r.#type = "error";
    headersMakeImmutable(responseHeaders(r));
    return r;
  }

  get type() {
    return this.#type;
  }
  get url() {
    return this.#url;
  }
  get redirected() {
    return WeakSetPrototypeHas(redirectedResponses, this);
  }
  get status() {
    return this.#status;
  }
  get ok() {
    return this.#status >= 200 && this.#status <= 299;
  }
  get statusText() {
    return this.#statusText;
  }
  get headers() {
    return responseHeaders(this);
  }
  get body() {
    return bodyStream(this.#body);
  }
  get bodyUsed() {
    return bodyIsUsed(this.#body);
  }

  async text() {
    return consumeText(this.#body, "Response.text");
  }
  async json() {
    return consumeJson(this.#body, "Response.json");
  }
  async arrayBuffer() {
    return consumeArrayBuffer(this.#body, "Response.arrayBuffer");
  }
  async bytes() {
    return consumeBytes(this.#body, "Response.bytes");
  }
  async formData() {
    return consumeFormData(this.#body, responseHeaders(this), "Response.formData");
  }
  async blob() {
    return consumeBlob(this.#body, responseHeaders(this), "Response.blob");
  }

  clone() {
    const body = cloneBody(this.#body, "Response.clone");
    const r = new Response(null);
    r.#status = this.#status;
    r.#statusText = this.#statusText;
    r.#headers = this.#headers === null ? null : new Headers(this.#headers);
    r.#contentType = this.#contentType;
    r.#body = body;
    r.#type = this.#type;
    r.#url = this.#url;
    if (WeakSetPrototypeHas(redirectedResponses, this)) WeakSetPrototypeAdd(redirectedResponses, r);
    return r;
  }

  [kInspect]() {
    return {
      status: this.#status, statusText: this.#statusText, ok: this.ok, type: this.#type,
      headers: responseHeaders(this), bodyUsed: this.bodyUsed,
    };
  }
}
defineToStringTag(Response.prototype, "Response");

defineGlobal("Request", Request);
defineGlobal("Response", Response);
