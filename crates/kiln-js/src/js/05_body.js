// Kiln prelude: Request and Response (fully buffered bodies; no ReadableStream).

/** Buffered body data: exactly one of `text` / `bytes` is non-null. */
class BodyData {
  text = null;
  bytes = null;
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
 * Supported: string, ArrayBuffer, ArrayBufferView, URLSearchParams, Kiln Html values;
 * anything else is converted to a string like the Web does for unknown objects.
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
    const tag = ObjectPrototypeToString(value);
    if (tag === "[object ReadableStream]" || tag === "[object Blob]" || tag === "[object FormData]") {
      throw new TypeErrorCtor(`${what}: ${StringPrototypeSlice(tag, 8, -1)} bodies are not supported`);
    }
  }
  return [new BodyData(toUSVString(value), null), "text/plain;charset=UTF-8"];
}

function consumeText(body, what) {
  if (body === null) return "";
  if (body.used) throw new TypeErrorCtor(`${what}: the body has already been used`);
  body.used = true;
  return body.text !== null ? body.text : utf8DecodeStripBOM(body.bytes);
}

function consumeBytes(body, what) {
  if (body === null) return new Uint8ArrayCtor(0);
  if (body.used) throw new TypeErrorCtor(`${what}: the body has already been used`);
  body.used = true;
  return body.text !== null ? utf8Encode(body.text) : u8Copy(body.bytes);
}

function consumeJson(body, what) {
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
  if (body.used) throw new TypeErrorCtor(`${what}: the body has already been used`);
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

class Request {
  #method;
  #url;
  #headers = null;
  #headersFlat = null;
  #body = null;
  #redirect = "follow";
  #signal = null;

  static {
    createIncomingRequest = (method, url, flatHeaders, bytes) => {
      incomingMethod = method;
      incomingUrl = url;
      incomingHeaders = flatHeaders;
      incomingBody = bytes;
      return new Request(kIncoming);
    };
    isRequest = (v) => isObjectLike(v) && #method in v;
    platformBrandChecks[platformBrandChecks.length] = isRequest;
  }

  constructor(input, init = undefined) {
    if (input === kIncoming) {
      // Fast path for dispatch: arguments are trusted (validated by the host).
      this.#method = incomingMethod;
      this.#url = incomingUrl;
      this.#headersFlat = incomingHeaders;
      const bytes = incomingBody;
      incomingHeaders = incomingBody = null;
      if (bytes !== null && bytes !== undefined) {
        const body = new BodyData(null, bytes);
        body.incoming = true;
        this.#body = body;
      }
      return;
    }
    requireArgs(arguments.length, 1, "Request constructor");
    if (init !== undefined && init !== null && !isObjectLike(init)) {
      throw new TypeErrorCtor("Request: init must be an object");
    }
    let inputRequest = null;
    if (isObjectLike(input) && #method in input) {
      inputRequest = input;
      this.#method = input.#method;
      this.#url = input.#url;
      this.#redirect = input.#redirect;
      this.#signal = input.#signal;
    } else {
      const s = toUSVString(input);
      const parts = hostUrlParse(s, undefined);
      if (parts === null) throw new TypeErrorCtor(`Request: invalid URL '${s}'`);
      if (parts[U_USERNAME] !== "" || parts[U_PASSWORD] !== "") {
        throw new TypeErrorCtor("Request: URLs with credentials are not allowed");
      }
      this.#method = "GET";
      this.#url = parts[U_HREF];
    }

    let initBody;
    let initHeaders;
    if (init !== undefined && init !== null) {
      initBody = init.body;
      initHeaders = init.headers;
      const method = init.method;
      if (method !== undefined) this.#method = normalizeMethod(method);
      const redirect = init.redirect;
      if (redirect !== undefined) {
        const r = toDOMString(redirect);
        if (!ArrayPrototypeIncludes(REQUEST_REDIRECTS, r)) throw new TypeErrorCtor(`Request: invalid redirect mode '${r}'`);
        this.#redirect = r;
      }
      const signal = init.signal;
      if (signal !== undefined) {
        if (signal !== null && !isAbortSignal(signal)) throw new TypeErrorCtor("Request: init.signal must be an AbortSignal");
        this.#signal = signal;
      }
    }

    if (initHeaders !== undefined) this.#headers = new Headers(initHeaders);
    else if (inputRequest !== null) this.#headers = new Headers(inputRequest.#getHeaders());
    else this.#headers = new Headers();

    const inputBody = inputRequest !== null ? inputRequest.#body : null;
    const hasInitBody = initBody !== undefined && initBody !== null;
    if ((hasInitBody || inputBody !== null) && (this.#method === "GET" || this.#method === "HEAD")) {
      throw new TypeErrorCtor("Request: a GET or HEAD request cannot have a body");
    }
    if (hasInitBody) {
      const extracted = extractBody(initBody, "Request");
      this.#body = extracted[0];
      if (extracted[1] !== null && !headersHasInternal(this.#headers, "content-type")) {
        headersSetInternal(this.#headers, "content-type", extracted[1]);
      }
    } else if (inputBody !== null) {
      this.#body = cloneBody(inputBody, "Request");
      inputBody.used = true; // the new request takes over the input's body
    }
  }

  #getHeaders() {
    let h = this.#headers;
    if (h === null) {
      h = headersFromFlat(this.#headersFlat, false);
      this.#headers = h;
      this.#headersFlat = null;
    }
    return h;
  }

  get method() {
    return this.#method;
  }
  get url() {
    return this.#url;
  }
  get headers() {
    return this.#getHeaders();
  }
  get bodyUsed() {
    return this.#body !== null && this.#body.used;
  }
  get redirect() {
    return this.#redirect;
  }
  get signal() {
    if (this.#signal === null) this.#signal = createAbortSignal();
    return this.#signal;
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
    return consumeText(this.#body, "Request.text");
  }
  async json() {
    return consumeJson(this.#body, "Request.json");
  }
  async arrayBuffer() {
    return TypedArrayPrototypeGetBuffer(consumeBytes(this.#body, "Request.arrayBuffer"));
  }
  async bytes() {
    return consumeBytes(this.#body, "Request.bytes");
  }
  async formData() {
    throw new TypeErrorCtor("Request.formData is not supported; use `new URLSearchParams(await request.text())`");
  }
  async blob() {
    throw new TypeErrorCtor("Request.blob is not supported; use arrayBuffer() or bytes()");
  }

  clone() {
    const body = cloneBody(this.#body, "Request.clone");
    const r = createIncomingRequest(this.#method, this.#url, null, null);
    r.#headers = new Headers(this.#getHeaders());
    r.#body = body;
    r.#redirect = this.#redirect;
    r.#signal = this.#signal;
    return r;
  }

  [kInspect]() {
    return {
      method: this.#method, url: this.#url, headers: this.#getHeaders(), bodyUsed: this.bodyUsed,
      redirect: this.#redirect,
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

class Response {
  #status = 200;
  #statusText = "";
  #headers;
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
        if (body.used) {
          hostFail(id, 500, "SCRIPT_ERROR", "The script failed while handling the request",
            "the handler returned a Response whose body had already been used");
          return;
        }
        // Bodies are buffered and immutable, so the same Response may be returned again.
        payload = body.text !== null ? body.text : body.bytes;
      }
      hostComplete(id, r.#status, headersToFlat(r.#headers), payload);
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
    this.#headers = headersInit === undefined ? new Headers() : new Headers(headersInit);
    if (body !== null && body !== undefined) {
      if (ArrayPrototypeIncludes(NULL_BODY_STATUSES, this.#status)) {
        throw new TypeErrorCtor(`Response: a response with status ${this.#status} cannot have a body`);
      }
      const extracted = extractBody(body, "Response");
      this.#body = extracted[0];
      if (extracted[1] !== null && !headersHasInternal(this.#headers, "content-type")) {
        headersSetInternal(this.#headers, "content-type", extracted[1]);
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
    if (!headersHasInternal(r.#headers, "content-type")) headersSetInternal(r.#headers, "content-type", "application/json");
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
    headersSetInternal(r.#headers, "location", parts[U_HREF]);
    headersMakeImmutable(r.#headers);
    return r;
  }

  static error() {
    const r = new Response(null);
    r.#status = 0;
    r.#type = "error";
    headersMakeImmutable(r.#headers);
    return r;
  }

  get type() {
    return this.#type;
  }
  get url() {
    return this.#url;
  }
  get redirected() {
    return false;
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
    return this.#headers;
  }
  get bodyUsed() {
    return this.#body !== null && this.#body.used;
  }

  async text() {
    return consumeText(this.#body, "Response.text");
  }
  async json() {
    return consumeJson(this.#body, "Response.json");
  }
  async arrayBuffer() {
    return TypedArrayPrototypeGetBuffer(consumeBytes(this.#body, "Response.arrayBuffer"));
  }
  async bytes() {
    return consumeBytes(this.#body, "Response.bytes");
  }
  async formData() {
    throw new TypeErrorCtor("Response.formData is not supported");
  }
  async blob() {
    throw new TypeErrorCtor("Response.blob is not supported; use arrayBuffer() or bytes()");
  }

  clone() {
    const body = cloneBody(this.#body, "Response.clone");
    const r = new Response(null);
    r.#status = this.#status;
    r.#statusText = this.#statusText;
    r.#headers = new Headers(this.#headers);
    r.#body = body;
    r.#type = this.#type;
    r.#url = this.#url;
    return r;
  }

  [kInspect]() {
    return {
      status: this.#status, statusText: this.#statusText, ok: this.ok, type: this.#type,
      headers: this.#headers, bodyUsed: this.bodyUsed,
    };
  }
}
defineToStringTag(Response.prototype, "Response");

defineGlobal("Request", Request);
defineGlobal("Response", Response);
