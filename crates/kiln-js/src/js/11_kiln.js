// Kiln prelude: HttpError, route registration and request dispatch.

const HTTP_ERROR_CODES = {
  __proto__: null,
  400: "BAD_REQUEST",
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  405: "METHOD_NOT_ALLOWED",
  409: "CONFLICT",
  410: "GONE",
  413: "PAYLOAD_TOO_LARGE",
  422: "UNPROCESSABLE_ENTITY",
  429: "TOO_MANY_REQUESTS",
  500: "INTERNAL_ERROR",
  501: "NOT_IMPLEMENTED",
  502: "BAD_GATEWAY",
  503: "SERVICE_UNAVAILABLE",
  504: "GATEWAY_TIMEOUT",
};

const HTTP_STATUS_TEXT = {
  __proto__: null,
  400: "Bad Request",
  401: "Unauthorized",
  402: "Payment Required",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Payload Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  417: "Expectation Failed",
  418: "I'm a teapot",
  421: "Misdirected Request",
  422: "Unprocessable Entity",
  423: "Locked",
  424: "Failed Dependency",
  425: "Too Early",
  426: "Upgrade Required",
  428: "Precondition Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  451: "Unavailable For Legal Reasons",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
  507: "Insufficient Storage",
  508: "Loop Detected",
  511: "Network Authentication Required",
};

/** HttpError statuses are integers in 400..=599; anything else is treated as 500. */
function normalizeErrorStatus(status) {
  return typeof status === "number" && NumberIsInteger(status) && status >= 400 && status <= 599 ? status : 500;
}

function defaultErrorCode(status) {
  return HTTP_ERROR_CODES[status] ?? `HTTP_${status}`;
}

let isHttpError; // (v) => boolean
let httpErrorStatus; // (err) => number
let httpErrorCode; // (err) => string

class HttpError extends ErrorCtor {
  #status;
  #code;

  static {
    isHttpError = (v) => isObjectLike(v) && #status in v;
    httpErrorStatus = (e) => e.#status;
    httpErrorCode = (e) => e.#code;
  }

  constructor(status, message = undefined, options = undefined) {
    const st = normalizeErrorStatus(typeof status === "string" && status !== "" ? NumberCtor(status) : status);
    if (options !== undefined && options !== null && !isObjectLike(options)) {
      throw new TypeErrorCtor("HttpError: options must be an object");
    }
    const text = message === undefined || message === null ? HTTP_STATUS_TEXT[st] ?? `HTTP ${st}` : toDOMString(message);
    if (options != null && options.cause !== undefined) super(text, { cause: options.cause });
    else super(text);
    this.#status = st;
    const code = options != null ? options.code : undefined;
    this.#code = code === undefined || code === null ? defaultErrorCode(st) : toDOMString(code);
  }

  get status() {
    return this.#status;
  }
  get code() {
    return this.#code;
  }
}
defineValue(HttpError.prototype, "name", "HttpError");

// ---------------------------------------------------------------------------
// Registration

const ROUTE_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"];
const PARAM_NAME_RE = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const LITERAL_SEGMENT_RE = /^[A-Za-z0-9\-._~!$&'()+,;=@%]+$/;
const AUTH_ROLE_RE = /^role:[A-Za-z0-9_.\-]+$/;

let initOpen = false;
/**
 * Registered routes: { method, path, shape, handler, optionsJson }; `handler` is null for a
 * WebAssembly route (served by the server). Index = route index.
 */
let routeList = [];

/** Validate a route path; returns its shape (parameter names erased) for duplicate detection. */
function validateRoutePath(api, path) {
  if (path.length === 0 || StringPrototypeCharCodeAt(path, 0) !== 0x2f) {
    throw new TypeErrorCtor(`${api}: the path must start with "/" (got '${path}')`);
  }
  if (path === "/") return "/";
  const names = [];
  let shape = "";
  let start = 1;
  for (;;) {
    let end = StringPrototypeIndexOf(path, "/", start);
    const last = end === -1;
    if (last) end = path.length;
    const seg = StringPrototypeSlice(path, start, end);
    if (seg === "") {
      if (!last) throw new TypeErrorCtor(`${api}: the path '${path}' contains an empty segment`);
      shape += "/"; // trailing slash
      break;
    }
    if (seg === "*") {
      if (!last) throw new TypeErrorCtor(`${api}: '*' may only be the last segment of the path (in '${path}')`);
      shape += "/*";
    } else if (StringPrototypeCharCodeAt(seg, 0) === 0x3a /* : */) {
      const name = StringPrototypeSlice(seg, 1);
      if (RegExpPrototypeExec(PARAM_NAME_RE, name) === null || name === "__proto__") {
        throw new TypeErrorCtor(`${api}: invalid parameter name ':${name}' in '${path}' (use a JavaScript identifier)`);
      }
      if (ArrayPrototypeIncludes(names, name)) {
        throw new TypeErrorCtor(`${api}: duplicate parameter ':${name}' in '${path}'`);
      }
      names[names.length] = name;
      shape += "/:";
    } else {
      if (RegExpPrototypeExec(LITERAL_SEGMENT_RE, seg) === null) {
        throw new TypeErrorCtor(
          `${api}: invalid path segment '${seg}' in '${path}' (literal segments may use letters, digits, -._~!$&'()+,;=@ and %-escapes; ` +
          "parameters are ':name', a final '*' matches the rest)");
      }
      shape += "/" + seg;
    }
    if (last) break;
    start = end + 1;
  }
  return shape;
}

/** The route options as a null-prototype object of validated, JSON-ready values. */
function normalizeRouteOptions(api, options) {
  if (options === undefined || options === null) return { __proto__: null };
  if (typeof options !== "object") throw new TypeErrorCtor(`${api}: options must be an object`);
  const out = { __proto__: null };
  const auth = options.auth;
  if (auth !== undefined) {
    if (typeof auth !== "string" ||
        (auth !== "public" && auth !== "user" && auth !== "apiKey" && RegExpPrototypeExec(AUTH_ROLE_RE, auth) === null)) {
      throw new TypeErrorCtor(`${api}: options.auth must be "public", "user", "apiKey" or "role:<name>"`);
    }
    out.auth = auth;
  }
  const summary = options.summary;
  if (summary !== undefined) {
    if (typeof summary !== "string") throw new TypeErrorCtor(`${api}: options.summary must be a string`);
    out.summary = summary;
  }
  const description = options.description;
  if (description !== undefined) {
    if (typeof description !== "string") throw new TypeErrorCtor(`${api}: options.description must be a string`);
    out.description = description;
  }
  const tags = options.tags;
  if (tags !== undefined) {
    if (!ArrayIsArray(tags)) throw new TypeErrorCtor(`${api}: options.tags must be an array of strings`);
    const copy = [];
    for (let i = 0; i < tags.length; i++) {
      if (typeof tags[i] !== "string") throw new TypeErrorCtor(`${api}: options.tags must be an array of strings`);
      copy[i] = tags[i];
    }
    out.tags = copy;
  }
  const maxBodyBytes = options.maxBodyBytes;
  if (maxBodyBytes !== undefined) {
    if (typeof maxBodyBytes !== "number" || !NumberIsInteger(maxBodyBytes) || maxBodyBytes < 1 || maxBodyBytes > 9007199254740991) {
      throw new TypeErrorCtor(`${api}: options.maxBodyBytes must be a positive integer number of bytes (e.g. 5 * 1024 * 1024)`);
    }
    out.maxBodyBytes = maxBodyBytes;
  }
  if (options.cors !== undefined) out.cors = normalizeCors(api, options.cors);
  const schemaKeys = ["requestSchema", "responseSchema"];
  for (let i = 0; i < schemaKeys.length; i++) {
    const key = schemaKeys[i];
    const schema = options[key];
    if (schema === undefined) continue;
    if (!(typeof schema === "boolean" || (typeof schema === "object" && schema !== null))) {
      throw new TypeErrorCtor(`${api}: options.${key} must be a JSON Schema object`);
    }
    let json;
    try {
      json = JSONStringify(schema);
    } catch (err) {
      throw new TypeErrorCtor(`${api}: options.${key} must be JSON-serialisable (${describeError(err)})`);
    }
    out[key] = JSONParse(json);
  }
  return out;
}

/** `cors: true` or `{ origins, methods?, headers?, exposeHeaders?, credentials?, maxAge? }`. */
function normalizeCors(api, cors) {
  const fail = (what) => {
    throw new TypeErrorCtor(`${api}: options.cors ${what}`);
  };
  if (cors === false) return undefined;
  if (cors === true) return { origins: "*" };
  if (typeof cors !== "object" || cors === null) fail("must be true or an object { origins, methods, headers, exposeHeaders, credentials, maxAge }");
  const strings = (value, name) => {
    if (value === undefined) return undefined;
    if (!ArrayIsArray(value)) fail(`.${name} must be an array of strings`);
    const copy = [];
    for (let i = 0; i < value.length; i++) {
      if (typeof value[i] !== "string" || value[i] === "") fail(`.${name} must be an array of non-empty strings`);
      copy[i] = value[i];
    }
    return copy;
  };
  const out = { __proto__: null };
  const origins = cors.origins;
  if (origins === "*" || origins === undefined) out.origins = "*";
  else {
    out.origins = strings(origins, "origins");
    for (let i = 0; i < out.origins.length; i++) {
      if (RegExpPrototypeExec(CORS_ORIGIN_RE, out.origins[i]) === null) {
        fail(`.origins: '${out.origins[i]}' is not an origin like "https://app.example.com" (scheme, host, optional port; no path)`);
      }
    }
  }
  const methods = strings(cors.methods, "methods");
  if (methods !== undefined) out.methods = methods;
  const headers = strings(cors.headers, "headers");
  if (headers !== undefined) out.headers = headers;
  const expose = strings(cors.exposeHeaders, "exposeHeaders");
  if (expose !== undefined) out.exposeHeaders = expose;
  if (cors.credentials !== undefined) {
    if (typeof cors.credentials !== "boolean") fail(".credentials must be a boolean");
    if (cors.credentials && out.origins === "*") fail(".credentials cannot be combined with origins \"*\": list the origins");
    out.credentials = cors.credentials;
  }
  if (cors.maxAge !== undefined) {
    if (typeof cors.maxAge !== "number" || !(cors.maxAge >= 0 && cors.maxAge <= 86400)) fail(".maxAge must be a number of seconds between 0 and 86400");
    out.maxAge = MathTrunc(cors.maxAge);
  }
  return out;
}
const CORS_ORIGIN_RE = /^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?$/;

/** The upper-case route method, or a TypeError naming `api`. */
function routeMethod(api, method) {
  if (typeof method !== "string") throw new TypeErrorCtor(`${api}: the method must be a string`);
  const m = StringPrototypeToUpperCase(method);
  if (!ArrayPrototypeIncludes(ROUTE_METHODS, m)) {
    throw new TypeErrorCtor(`${api}: unsupported method '${method}' (expected one of ${ArrayPrototypeJoin(ROUTE_METHODS, ", ")})`);
  }
  return m;
}

/** Records a validated route (`handler` is null for routes served by a WebAssembly module). */
function addRoute(api, m, path, shape, handler, options) {
  const optionsJson = JSONStringify(options);
  for (let i = 0; i < routeList.length; i++) {
    const r = routeList[i];
    if (r.method === m && r.shape === shape) {
      throw new ErrorCtor(`${api}: ${m} ${path} conflicts with the route ${r.method} ${r.path} registered earlier`);
    }
  }
  routeList[routeList.length] = { __proto__: null, method: m, path, shape, handler, optionsJson };
}

function registerWebHandler(method, path, handler, options = undefined) {
  const api = "registerWebHandler";
  if (!initOpen) throw new ErrorCtor("registerWebHandler can only be called during init()");
  const m = routeMethod(api, method);
  if (typeof path !== "string") throw new TypeErrorCtor(`${api}: the path must be a string`);
  const shape = validateRoutePath(api, path);
  if (typeof handler !== "function") throw new TypeErrorCtor(`${api}: the handler must be a function`);
  addRoute(api, m, path, shape, handler, normalizeRouteOptions(api, options));
}

const hostBundleHasFile = host.bundleHasFile;
const WASM_PATH_BAD_CHARS_RE = /[\u0000-\u001f\u007f\\]/;
const WASM_SUFFIX = ".wasm";

/**
 * The bundle path of the module `file` names: relative to the script directory, "./" and
 * "dir/../" resolved ("./handlers/app.wasm" → "handlers/app.wasm"), ending in ".wasm", and a
 * file of this bundle. Anything else throws, naming the file.
 */
function bundleWasmPath(api, file) {
  if (typeof file !== "string") {
    throw new TypeErrorCtor(`${api}: the module must be the path of a .wasm file in the script bundle, e.g. "handlers/app.wasm"`);
  }
  if (file === "" || RegExpPrototypeExec(WASM_PATH_BAD_CHARS_RE, file) !== null) {
    throw new TypeErrorCtor(`${api}: invalid module path '${file}' (a relative path with forward slashes, e.g. "handlers/app.wasm")`);
  }
  if (StringPrototypeCharCodeAt(file, 0) === 0x2f) {
    throw new TypeErrorCtor(`${api}: the module path '${file}' is absolute; give it relative to the script directory (e.g. "handlers/app.wasm")`);
  }
  const segments = [];
  let start = 0;
  for (;;) {
    let end = StringPrototypeIndexOf(file, "/", start);
    const last = end === -1;
    if (last) end = file.length;
    const seg = StringPrototypeSlice(file, start, end);
    if (seg === "") throw new TypeErrorCtor(`${api}: the module path '${file}' has an empty segment`);
    if (seg === "..") {
      if (segments.length === 0) throw new TypeErrorCtor(`${api}: the module path '${file}' leaves the script bundle`);
      segments.length -= 1;
    } else if (seg !== ".") {
      segments[segments.length] = seg;
    }
    if (last) break;
    start = end + 1;
  }
  const name = segments.length === 0 ? "" : segments[segments.length - 1];
  if (name.length <= WASM_SUFFIX.length || StringPrototypeSlice(name, -WASM_SUFFIX.length) !== WASM_SUFFIX) {
    throw new TypeErrorCtor(`${api}: '${file}' is not a .wasm file`);
  }
  const path = ArrayPrototypeJoin(segments, "/");
  if (!hostBundleHasFile(path)) {
    const shown = path === file ? "" : ` (looked for '${path}')`;
    throw new ErrorCtor(`${api}: the module '${file}' is not in the script bundle${shown}`);
  }
  return path;
}

/**
 * Serves `method path` with the WebAssembly module `wasmFile` of the bundle, CGI-style (the
 * server runs it; the route's options carry the module's bundle path as `wasm`).
 */
function registerWasmHandler(method, path, wasmFile, options = undefined) {
  const api = "registerWasmHandler";
  if (!initOpen) throw new ErrorCtor("registerWasmHandler can only be called during init()");
  const m = routeMethod(api, method);
  if (typeof path !== "string") throw new TypeErrorCtor(`${api}: the path must be a string`);
  const shape = validateRoutePath(api, path);
  const wasm = bundleWasmPath(api, wasmFile);
  const out = normalizeRouteOptions(api, options);
  out.wasm = wasm;
  addRoute(api, m, path, shape, null, out);
}

internal.beginInit = function beginInit() {
  initOpen = true;
  routeList = [];
};

internal.endInit = function endInit() {
  initOpen = false;
};

internal.routes = function routes() {
  const out = [];
  for (let i = 0; i < routeList.length; i++) {
    const r = routeList[i];
    out[i] = [r.method, r.path, r.optionsJson];
  }
  return out;
};

// ---------------------------------------------------------------------------
// Dispatch (the hot path: keep it allocation-light and independent of script-visible globals)

const EMPTY_QUERY = ObjectFreeze({ __proto__: null });
const EMPTY_PARAMS = ObjectFreeze({ __proto__: null });

/** First value per key of the URL's query string, as a frozen null-prototype object. */
function queryObject(url) {
  const q = StringPrototypeIndexOf(url, "?");
  if (q === -1) return EMPTY_QUERY;
  let end = StringPrototypeIndexOf(url, "#", q);
  if (end === -1) end = url.length;
  if (end <= q + 1) return EMPTY_QUERY;
  const query = StringPrototypeSlice(url, q + 1, end);
  const obj = { __proto__: null };
  if (StringPrototypeIndexOf(query, "%") === -1 && StringPrototypeIndexOf(query, "+") === -1) {
    // Fast path (the common case): nothing to decode in a serialized (ASCII) URL.
    const n = query.length;
    let start = 0;
    while (start < n) {
      let amp = StringPrototypeIndexOf(query, "&", start);
      if (amp === -1) amp = n;
      if (amp > start) {
        const eq = StringPrototypeIndexOf(query, "=", start);
        const name = eq === -1 || eq > amp ? StringPrototypeSlice(query, start, amp) : StringPrototypeSlice(query, start, eq);
        if (!(name in obj)) obj[name] = eq === -1 || eq > amp ? "" : StringPrototypeSlice(query, eq + 1, amp);
      }
      start = amp + 1;
    }
  } else {
    const list = parseFormUrlEncoded(query);
    for (let i = 0; i < list.length; i++) {
      const name = list[i][0];
      if (!(name in obj)) obj[name] = list[i][1];
    }
  }
  return ObjectFreeze(obj);
}

function isOutOfMemory(err) {
  if (InternalErrorPrototype === null || !ObjectPrototypeIsPrototypeOf(InternalErrorPrototype, err)) return false;
  return descValue(ObjectGetOwnPropertyDescriptor(err, "message")) === "out of memory";
}

function ownMessage(err) {
  const m = descValue(ObjectGetOwnPropertyDescriptor(err, "message"));
  try {
    return m === undefined ? "" : toDOMString(m);
  } catch {
    return "";
  }
}

function failWith(id, err) {
  if (isObjectLike(err)) {
    if (isHttpError(err)) {
      hostFail(id, httpErrorStatus(err), httpErrorCode(err), ownMessage(err), null);
      return;
    }
    if (isResponse(err)) {
      // `throw new Response(...)` is a common idiom for early exits: send it.
      completeWithResponse(id, err);
      return;
    }
    if (WeakSetPrototypeHas(clientBodyErrors, err)) {
      hostFail(id, 400, "BAD_REQUEST", ownMessage(err), null);
      return;
    }
    if (WeakSetPrototypeHas(clientFormErrors, err)) {
      hostFail(id, 400, "INVALID_FORM_DATA", ownMessage(err), null);
      return;
    }
    if (isOutOfMemory(err)) {
      hostFail(id, 503, "SCRIPT_MEMORY_LIMIT", "The script exceeded its memory limit", describeError(err));
      return;
    }
  }
  hostFail(id, 500, "SCRIPT_ERROR", "The script failed while handling the request", describeError(err));
}

function wellFormed(s) {
  return StringPrototypeIsWellFormed(s) ? s : StringPrototypeToWellFormed(s);
}


function completeWith(id, value) {
  if (value === undefined) {
    hostComplete(id, 204, NO_HEADERS, null);
    return;
  }
  if (typeof value === "string") {
    hostComplete(id, 200, TEXT_HEADERS, wellFormed(value));
    return;
  }
  if (isObjectLike(value)) {
    if (isResponse(value)) {
      completeWithResponse(id, value);
      return;
    }
    if (isHtml(value)) {
      hostComplete(id, 200, HTML_HEADERS, wellFormed(htmlMarkup(value)));
      return;
    }
    const bytes = bufferSourceBytes(value);
    if (bytes !== null) {
      hostComplete(id, 200, BINARY_HEADERS, u8Copy(bytes));
      return;
    }
    if (isBlob(value)) {
      const type = blobType(value);
      hostComplete(id, 200, type === "" ? BINARY_HEADERS : ["content-type", type], blobBytes(value));
      return;
    }
  }
  let json;
  try {
    json = JSONStringify(value);
  } catch (err) {
    if (isObjectLike(err) && isOutOfMemory(err)) {
      failWith(id, err);
      return;
    }
    hostFail(id, 500, "SCRIPT_ERROR", "The handler's return value could not be serialised as JSON", describeError(err));
    return;
  }
  if (json === undefined) {
    hostFail(id, 500, "SCRIPT_ERROR", "The handler's return value could not be serialised as JSON",
      `JSON.stringify produced nothing for a value of type ${typeof value}`);
    return;
  }
  hostComplete(id, 200, JSON_HEADERS, json);
}

/** completeWith, falling back to a 500 if converting or handing over the result throws. */
function safeComplete(id, value) {
  try {
    completeWith(id, value);
  } catch (err) {
    try {
      hostFail(id, 500, "SCRIPT_ERROR", "The script failed while handling the request", describeError(err));
    } catch {
      // the host refused both: nothing more can be done from here
    }
  }
}

function safeFail(id, err) {
  try {
    failWith(id, err);
  } catch (err2) {
    try {
      hostFail(id, 500, "SCRIPT_ERROR", "The script failed while handling the request", describeError(err2));
    } catch {
      // the host refused both: nothing more can be done from here
    }
  }
}

/**
 * `await p` reads `p.constructor` (PromiseResolve) and, when that is not %Promise%,
 * goes through `p.then`. Both can be replaced by a script (quickjs-ng even loses the
 * continuation when the `constructor` getter throws), so give a plain native promise an
 * own `constructor` property when Promise.prototype.constructor has been tampered with.
 */
function pinPromiseConstructor(p) {
  if (ObjectGetPrototypeOf(p) !== PromisePrototype) return; // a subclass: its own business
  const d = ObjectGetOwnPropertyDescriptor(PromisePrototype, "constructor");
  if (descValue(d) === PromiseCtor) return;
  try {
    ObjectDefineProperty(p, "constructor", { __proto__: null, value: PromiseCtor, configurable: true });
  } catch {
    // a frozen promise: nothing more we can do
  }
}

async function settleAsync(id, promise) {
  let value;
  try {
    value = await promise;
  } catch (err) {
    safeFail(id, err);
    return;
  }
  safeComplete(id, value);
}

/**
 * Run the handler of route `routeIndex` for invocation `id`. Exactly one of
 * host.complete / host.fail is called for `id`, synchronously for synchronous handlers,
 * from a microtask for asynchronous ones.
 */
/**
 * The frozen `{ user, apiKey }` of an invocation from the JSON the server passes (undefined for
 * anonymous callers). Built fresh per call: a script cannot reach the objects of another call,
 * and nothing it does to them reaches the server, which keeps its own copy of who is calling.
 */
function identityOf(json) {
  if (json === undefined) return NO_IDENTITY;
  const parsed = JSONParse(json);
  let user = null;
  if (isObjectLike(parsed.user)) {
    const u = parsed.user;
    const roles = ObjectFreeze(ArrayIsArray(u.roles) ? u.roles : []);
    user = ObjectFreeze({
      id: u.id,
      email: u.email,
      name: u.name ?? null,
      roles,
      hasRole(role) {
        return ArrayPrototypeIncludes(roles, role);
      },
    });
  }
  let apiKey = null;
  if (isObjectLike(parsed.apiKey)) {
    const k = parsed.apiKey;
    apiKey = ObjectFreeze({
      id: k.id,
      prefix: k.prefix,
      name: k.name,
      tier: k.tier,
      scopes: ObjectFreeze(ArrayIsArray(k.scopes) ? k.scopes : []),
    });
  }
  return { user, apiKey };
}
const NO_IDENTITY = ObjectFreeze({ user: null, apiKey: null });

internal.dispatch = function dispatch(id, routeIndex, method, url, headers, body, params, requestId, env, identityJson) {
  const route = routeList[routeIndex];
  if (route === undefined) {
    hostFail(id, 500, "INTERNAL_ERROR", "No handler is registered for this route", `unknown route index ${routeIndex}`);
    return;
  }
  if (route.handler === null) {
    hostFail(id, 500, "INTERNAL_ERROR", "This route is served by a WebAssembly module", `route ${routeIndex} has no JavaScript handler`);
    return;
  }
  let result;
  try {
    const handler = route.handler;
    const request = createIncomingRequest(method, url, headers, body);
    // A fresh object per invocation, deliberately not frozen: freezing costs a shape copy on
    // every request, and nothing reads ctx back (identity is bound on the Rust side).
    const who = identityOf(identityJson);
    let ctx;
    if (StringPrototypeIndexOf(url, "?") === -1) {
      ctx = {
        params: isObjectLike(params) ? params : EMPTY_PARAMS,
        query: EMPTY_QUERY,
        requestId,
        env,
        user: who.user,
        apiKey: who.apiKey,
      };
    } else {
      let query = null;
      ctx = {
        params: isObjectLike(params) ? params : EMPTY_PARAMS,
        // Parsed on first use: most handlers never look at it.
        get query() {
          if (query === null) query = queryObject(url);
          return query;
        },
        requestId,
        env,
        user: who.user,
        apiKey: who.apiKey,
      };
    }
    result = handler(request, ctx);
  } catch (err) {
    safeFail(id, err);
    return;
  }
  if (isObjectLike(result)) {
    if (isNativePromise(result)) {
      pinPromiseConstructor(result);
      settleAsync(id, result);
      return;
    }
    if (!isResponse(result) && !isHtml(result)) {
      let then;
      try {
        then = result.then;
      } catch (err) {
        safeFail(id, err);
        return;
      }
      if (typeof then === "function") {
        settleAsync(id, result);
        return;
      }
    }
  }
  safeComplete(id, result);
};

internal.reportException = reportException;

defineGlobal("HttpError", HttpError);
defineGlobal("registerWebHandler", registerWebHandler);
defineGlobal("registerWasmHandler", registerWasmHandler);
