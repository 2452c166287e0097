// Kiln prelude: console and value inspection (Node/browser-like formatting).

/** Our platform classes define this method to give console a readable view of themselves. */
const kInspect = SymbolCtor("kiln.inspect");
const kNodeInspect = SymbolFor("nodejs.util.inspect.custom");

const INSPECT_BREAK_LENGTH = 80;
const INSPECT_MAX_ITEMS = 100;
const INSPECT_MAX_BYTES = 50;
const IDENTIFIER_RE = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const NEEDS_ESCAPE_RE = /[\x00-\x1f\x7f'\\]|[\ud800-\udfff]/;

function quoteString(s) {
  let quote = "'";
  if (StringPrototypeIncludes(s, "'")) {
    if (!StringPrototypeIncludes(s, '"')) quote = '"';
    else if (!StringPrototypeIncludes(s, "`") && !StringPrototypeIncludes(s, "${")) quote = "`";
  }
  if (RegExpPrototypeExec(NEEDS_ESCAPE_RE, s) === null) return quote + s + quote;
  let out = quote;
  for (let i = 0; i < s.length; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    const ch = s[i];
    if (ch === quote || c === 0x5c) out += "\\" + ch;
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x0c) out += "\\f";
    else if (c === 0x0b) out += "\\v";
    else if (c < 0x20 || c === 0x7f) out += "\\x" + StringPrototypePadStart(NumberPrototypeToString(c, 16), 2, "0");
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length &&
             StringPrototypeCharCodeAt(s, i + 1) >= 0xdc00 && StringPrototypeCharCodeAt(s, i + 1) <= 0xdfff) {
      out += ch + s[i + 1];
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) out += "\\u" + StringPrototypeToUpperCase(NumberPrototypeToString(c, 16));
    else out += ch;
  }
  return out + quote;
}

function formatNumber(n) {
  return ObjectIs(n, -0) ? "-0" : StringCtor(n);
}

function formatPrimitive(value, nested) {
  switch (typeof value) {
    case "string": return nested ? quoteString(value) : value;
    case "number": return formatNumber(value);
    case "bigint": return BigIntPrototypeToString(value) + "n";
    case "boolean": return value ? "true" : "false";
    case "undefined": return "undefined";
    case "symbol": return SymbolPrototypeToString(value);
    default: return "null";
  }
}

function formatKey(key) {
  if (typeof key === "symbol") return "[" + SymbolPrototypeToString(key) + "]";
  if (RegExpPrototypeExec(IDENTIFIER_RE, key) !== null) return key;
  return quoteString(key);
}

/** The name of the nearest constructor on the prototype chain, or null. Never runs getters. */
function getConstructorName(obj) {
  let proto = obj;
  for (let guard = 0; guard < 1000 && proto !== null; guard++) {
    if (proto === ObjectPrototype) return "Object";
    if (proto === ArrayPrototype) return "Array";
    const desc = ObjectGetOwnPropertyDescriptor(proto, "constructor");
    const ctor = descValue(desc);
    if (typeof ctor === "function") {
      const name = descValue(ObjectGetOwnPropertyDescriptor(ctor, "name"));
      if (typeof name === "string" && name !== "") return name;
    }
    proto = ReflectGetPrototypeOf(proto);
  }
  return null;
}

function functionName(fn) {
  const name = descValue(ObjectGetOwnPropertyDescriptor(fn, "name"));
  return typeof name === "string" ? name : "";
}

function formatFunctionBase(fn) {
  const name = functionName(fn);
  let source = "";
  try {
    source = FunctionPrototypeToString(fn);
  } catch {
    // ignore
  }
  if (StringPrototypeStartsWith(source, "class") && !IDENTIFIER_RE_CONT(source[5])) {
    return name === "" ? "[class (anonymous)]" : `[class ${name}]`;
  }
  let type = "Function";
  const tag = ObjectPrototypeToString(fn);
  if (tag === "[object AsyncFunction]") type = "AsyncFunction";
  else if (tag === "[object GeneratorFunction]") type = "GeneratorFunction";
  else if (tag === "[object AsyncGeneratorFunction]") type = "AsyncGeneratorFunction";
  return name === "" ? `[${type} (anonymous)]` : `[${type}: ${name}]`;
}
function IDENTIFIER_RE_CONT(ch) {
  return ch !== undefined && RegExpPrototypeExec(/[A-Za-z0-9_$]/, ch) !== null;
}

/** "Name: message\n    at ..." for an Error object (QuickJS stacks have no header line). */
function formatErrorStack(err) {
  let name = "Error";
  let message = "";
  let stack = "";
  try {
    const n = err.name;
    if (typeof n === "string" || n === undefined) name = n === undefined ? "Error" : n;
    else name = toDOMString(n);
    const m = err.message;
    message = m === undefined ? "" : typeof m === "string" ? m : toDOMString(m);
    const s = err.stack;
    if (typeof s === "string") stack = s;
  } catch {
    // fall through with what we have
  }
  const header = message === "" ? name : name === "" ? message : `${name}: ${message}`;
  if (stack === "") return header;
  if (StringPrototypeStartsWith(stack, header)) return trimTrailingNewlines(stack);
  return header + "\n" + trimTrailingNewlines(stack);
}

function trimTrailingNewlines(s) {
  let end = s.length;
  while (end > 0 && (s[end - 1] === "\n" || s[end - 1] === "\r")) end--;
  return end === s.length ? s : StringPrototypeSlice(s, 0, end);
}

function formatValue(ctx, value, recurseTimes, nested) {
  if (!isObjectLike(value)) return formatPrimitive(value, nested);
  if (ArrayPrototypeIncludes(ctx.seen, value)) return "[Circular]";
  return formatObject(ctx, value, recurseTimes);
}

function formatProperty(ctx, obj, key, recurseTimes) {
  const desc = ObjectGetOwnPropertyDescriptor(obj, key);
  let str;
  if (desc === undefined) str = "undefined";
  else if (descGetter(desc) !== undefined) str = descSetter(desc) !== undefined ? "[Getter/Setter]" : "[Getter]";
  else if (descSetter(desc) !== undefined) str = "[Setter]";
  else {
    ctx.indentation += 2;
    str = formatValue(ctx, descValue(desc), recurseTimes + 1, true);
    ctx.indentation -= 2;
  }
  return formatKey(key) + ": " + str;
}

/** Enumerable own keys (strings, then symbols); array indices skipped for array-likes. */
function ownDisplayKeys(obj, skipIndices) {
  const out = [];
  const names = ObjectKeys(obj);
  for (let i = 0; i < names.length; i++) {
    const k = names[i];
    if (skipIndices && RegExpPrototypeExec(/^(0|[1-9][0-9]*)$/, k) !== null) continue;
    out[out.length] = k;
  }
  const symbols = ObjectGetOwnPropertySymbols(obj);
  for (let i = 0; i < symbols.length; i++) {
    if (ObjectPrototypePropertyIsEnumerable(obj, symbols[i])) out[out.length] = symbols[i];
  }
  return out;
}

function formatList(ctx, items, recurseTimes) {
  const out = [];
  ctx.indentation += 2;
  for (let i = 0; i < items.length; i++) out[out.length] = formatValue(ctx, items[i], recurseTimes + 1, true);
  ctx.indentation -= 2;
  return out;
}

function formatObject(ctx, value, recurseTimes) {
  // Our own classes and Node-style custom inspectors.
  let custom;
  try {
    custom = value[kInspect];
  } catch {
    custom = undefined;
  }
  if (typeof custom === "function") {
    const view = ReflectApply(custom, value, []);
    if (typeof view === "string") return view;
    if (recurseTimes > ctx.depth) return `[${getConstructorName(value) ?? "Object"}]`;
    ctx.seen[ctx.seen.length] = value;
    const keys = ObjectKeys(view);
    const out = [];
    for (let i = 0; i < keys.length; i++) out[out.length] = formatProperty(ctx, view, keys[i], recurseTimes);
    ctx.seen.length--;
    return reduceToSingleString(ctx, out, `${getConstructorName(value) ?? "Object"} {`, "}", false);
  }
  try {
    custom = value[kNodeInspect];
  } catch {
    custom = undefined;
  }
  if (typeof custom === "function") {
    try {
      const r = ReflectApply(custom, value, [ctx.depth - recurseTimes, { __proto__: null, depth: ctx.depth }, inspect]);
      if (r !== value) return typeof r === "string" ? r : formatValue(ctx, r, recurseTimes, true);
    } catch {
      // fall back to the default formatting
    }
  }

  const ctorName = getConstructorName(value);
  let base = "";
  let open;
  let close = "}";
  let entries = [];
  let keys;
  let isArrayLike = false;
  let extrasIndent = false;

  if (typeof value === "function") {
    base = formatFunctionBase(value);
    keys = ownDisplayKeys(value, false);
    if (keys.length === 0) return base;
    open = base + " {";
  } else if (ArrayIsArray(value)) {
    keys = ownDisplayKeys(value, true);
    const len = value.length;
    open = ctorName === "Array" ? "[" : `${ctorName ?? "[Array: null prototype]"}(${len}) [`;
    close = "]";
    isArrayLike = true;
    if (recurseTimes > ctx.depth) return "[Array]";
    ctx.seen[ctx.seen.length] = value;
    ctx.indentation += 2;
    const limit = MathMin(len, INSPECT_MAX_ITEMS);
    let i = 0;
    while (i < limit) {
      if (!ObjectHasOwn(value, i)) {
        let j = i;
        while (j < len && !ObjectHasOwn(value, j)) j++;
        const n = j - i;
        entries[entries.length] = `<${n} empty item${n === 1 ? "" : "s"}>`;
        i = j;
        continue;
      }
      entries[entries.length] = formatValue(ctx, value[i], recurseTimes + 1, true);
      i++;
    }
    ctx.indentation -= 2;
    ctx.seen.length--;
    if (i < len) entries[entries.length] = `... ${len - i} more item${len - i === 1 ? "" : "s"}`;
  } else if (typedArrayName(value) !== undefined) {
    const name = typedArrayName(value);
    const len = TypedArrayPrototypeGetLength(value);
    keys = ownDisplayKeys(value, true);
    open = `${name}(${len}) [`;
    close = "]";
    isArrayLike = true;
    const limit = MathMin(len, INSPECT_MAX_ITEMS);
    for (let i = 0; i < limit; i++) entries[entries.length] = formatPrimitive(value[i], true);
    if (limit < len) entries[entries.length] = `... ${len - limit} more item${len - limit === 1 ? "" : "s"}`;
  } else if (isMap(value)) {
    keys = ownDisplayKeys(value, false);
    open = `${ctorName ?? "Map"}(${MapPrototypeGetSize(value)}) {`;
    if (recurseTimes > ctx.depth) return `[${ctorName ?? "Map"}]`;
    ctx.seen[ctx.seen.length] = value;
    ctx.indentation += 2;
    let count = 0;
    MapPrototypeForEach(value, (v, k) => {
      if (count++ >= INSPECT_MAX_ITEMS) return;
      entries[entries.length] = formatValue(ctx, k, recurseTimes + 1, true) + " => " + formatValue(ctx, v, recurseTimes + 1, true);
    });
    ctx.indentation -= 2;
    ctx.seen.length--;
    if (count > INSPECT_MAX_ITEMS) entries[entries.length] = `... ${count - INSPECT_MAX_ITEMS} more items`;
  } else if (isSet(value)) {
    keys = ownDisplayKeys(value, false);
    open = `${ctorName ?? "Set"}(${SetPrototypeGetSize(value)}) {`;
    if (recurseTimes > ctx.depth) return `[${ctorName ?? "Set"}]`;
    ctx.seen[ctx.seen.length] = value;
    ctx.indentation += 2;
    let count = 0;
    SetPrototypeForEach(value, (v) => {
      if (count++ >= INSPECT_MAX_ITEMS) return;
      entries[entries.length] = formatValue(ctx, v, recurseTimes + 1, true);
    });
    ctx.indentation -= 2;
    ctx.seen.length--;
    if (count > INSPECT_MAX_ITEMS) entries[entries.length] = `... ${count - INSPECT_MAX_ITEMS} more items`;
  } else if (isErrorObject(value)) {
    base = formatErrorStack(value);
    keys = ownDisplayKeys(value, false);
    const filtered = [];
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] !== "stack" && keys[i] !== "message") filtered[filtered.length] = keys[i];
    }
    keys = filtered;
    const causeDesc = ObjectGetOwnPropertyDescriptor(value, "cause");
    if (ctx.seen.length > 0 && ctx.indentation > 0) {
      // Indent nested stacks so they line up with the enclosing structure.
      base = ArrayPrototypeJoin(splitString(base, "\n"), "\n" + StringPrototypeRepeat(" ", ctx.indentation));
    }
    const hiddenCause = causeDesc !== undefined && !causeDesc.enumerable && ObjectHasOwn(causeDesc, "value");
    if (keys.length === 0 && !hiddenCause) return base;
    if (recurseTimes > ctx.depth) return `[${base}]`;
    if (hiddenCause) {
      ctx.seen[ctx.seen.length] = value;
      ctx.indentation += 2;
      entries[entries.length] = "[cause]: " + formatValue(ctx, causeDesc.value, recurseTimes + 1, true);
      ctx.indentation -= 2;
      ctx.seen.length--;
    }
    open = base + " {";
    extrasIndent = true;
  } else if (isDate(value)) {
    const t = DatePrototypeGetTime(value);
    base = NumberIsNaN(t) ? "Invalid Date" : DatePrototypeToISOString(value);
    keys = ownDisplayKeys(value, false);
    if (keys.length === 0) return base;
    open = base + " {";
  } else if (isRegExp(value)) {
    base = "/" + RegExpPrototypeGetSource(value) + "/" + RegExpPrototypeGetFlags(value);
    keys = ownDisplayKeys(value, false);
    if (keys.length === 0) return base;
    open = base + " {";
  } else if (isArrayBuffer(value) || isSharedArrayBuffer(value)) {
    const bytes = new Uint8ArrayCtor(value);
    const n = TypedArrayPrototypeGetLength(bytes);
    let hex = "";
    for (let i = 0; i < MathMin(n, INSPECT_MAX_BYTES); i++) {
      hex += (i === 0 ? "" : " ") + StringPrototypePadStart(NumberPrototypeToString(bytes[i], 16), 2, "0");
    }
    if (n > INSPECT_MAX_BYTES) hex += ` ... ${n - INSPECT_MAX_BYTES} more byte${n - INSPECT_MAX_BYTES === 1 ? "" : "s"}`;
    keys = ownDisplayKeys(value, false);
    open = `${ctorName ?? "ArrayBuffer"} {`;
    entries[0] = `[Uint8Contents]: <${hex}>`;
    entries[1] = `byteLength: ${n}`;
  } else if (isDataView(value)) {
    keys = ownDisplayKeys(value, false);
    open = "DataView {";
    entries[0] = `byteLength: ${DataViewPrototypeGetByteLength(value)}`;
    entries[1] = `byteOffset: ${DataViewPrototypeGetByteOffset(value)}`;
    ctx.indentation += 2;
    entries[2] = "buffer: " + formatValue(ctx, DataViewPrototypeGetBuffer(value), recurseTimes + 1, true);
    ctx.indentation -= 2;
  } else if (isNativePromise(value)) {
    keys = ownDisplayKeys(value, false);
    open = `${ctorName ?? "Promise"} {`;
  } else if (isWeakMapOrSet(value)) {
    keys = ownDisplayKeys(value, false);
    open = `${ctorName ?? "WeakCollection"} {`;
    entries[0] = "<items unknown>";
  } else {
    const boxed = formatBoxed(value);
    keys = ownDisplayKeys(value, boxed !== null && typeof boxed[1] === "string");
    if (boxed !== null) {
      base = `[${boxed[0]}: ${formatPrimitive(boxed[1], true)}]`;
      if (keys.length === 0) return base;
      open = base + " {";
    } else {
      const tag = ObjectPrototypeToString(value);
      if (ctorName === null) open = "[Object: null prototype] {";
      else if (ctorName === "Object") open = tag === "[object Object]" ? "{" : `Object ${StringPrototypeSlice(tag, 8, -1)} {`;
      else open = ctorName + " {";
      if (ctorName === "Object" && tag === "[object Arguments]") {
        open = "[Arguments] [";
        close = "]";
        isArrayLike = true;
        keys = ownDisplayKeys(value, true);
        ctx.seen[ctx.seen.length] = value;
        entries = formatList(ctx, copyArray(value), recurseTimes);
        ctx.seen.length--;
      }
    }
  }

  if (recurseTimes > ctx.depth) {
    if (isArrayLike) return "[Array]";
    return `[${ctorName ?? "Object"}]`;
  }
  ctx.seen[ctx.seen.length] = value;
  for (let i = 0; i < keys.length; i++) entries[entries.length] = formatProperty(ctx, value, keys[i], recurseTimes);
  ctx.seen.length--;
  if (entries.length === 0) {
    if (extrasIndent) return base;
    return open === "{" ? "{}" : open === "[" ? "[]" : open + close;
  }
  return reduceToSingleString(ctx, entries, open, close, isArrayLike);
}

function formatBoxed(value) {
  try {
    return ["Number", NumberPrototypeValueOf(value)];
  } catch { /* not a Number */ }
  try {
    return ["String", StringPrototypeValueOf(value)];
  } catch { /* not a String */ }
  try {
    return ["Boolean", BooleanPrototypeValueOf(value)];
  } catch { /* not a Boolean */ }
  try {
    return ["BigInt", BigIntPrototypeValueOf(value)];
  } catch { /* not a BigInt */ }
  try {
    return ["Symbol", SymbolPrototypeValueOf(value)];
  } catch { /* not a Symbol */ }
  return null;
}

function reduceToSingleString(ctx, entries, open, close, isArrayLike) {
  let total = open.length + close.length + entries.length;
  let multiline = false;
  let allShort = true;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    total += e.length;
    if (StringPrototypeIncludes(e, "\n")) multiline = true;
    if (e.length > 6) allShort = false;
  }
  if (!multiline && total + ctx.indentation <= INSPECT_BREAK_LENGTH) {
    return `${open} ${ArrayPrototypeJoin(entries, ", ")} ${close}`;
  }
  const indent = StringPrototypeRepeat(" ", ctx.indentation);
  if (isArrayLike && allShort && !multiline && entries.length > 6) {
    // Pack short items (numbers, ...) into lines instead of one per line.
    const width = INSPECT_BREAK_LENGTH - ctx.indentation - 2;
    const lines = [];
    let line = "";
    for (let i = 0; i < entries.length; i++) {
      const piece = entries[i] + (i === entries.length - 1 ? "" : ",");
      if (line !== "" && line.length + 1 + piece.length > width) {
        lines[lines.length] = line;
        line = piece;
      } else {
        line = line === "" ? piece : line + " " + piece;
      }
    }
    if (line !== "") lines[lines.length] = line;
    return `${open}\n${indent}  ${ArrayPrototypeJoin(lines, `\n${indent}  `)}\n${indent}${close}`;
  }
  return `${open}\n${indent}  ${ArrayPrototypeJoin(entries, `,\n${indent}  `)}\n${indent}${close}`;
}

function isMap(v) {
  try {
    MapPrototypeGetSize(v);
    return true;
  } catch {
    return false;
  }
}
function isSet(v) {
  try {
    SetPrototypeGetSize(v);
    return true;
  } catch {
    return false;
  }
}
function isDate(v) {
  try {
    DatePrototypeGetTime(v);
    return true;
  } catch {
    return false;
  }
}
function isRegExp(v) {
  if (!isObjectLike(v)) return false;
  try {
    RegExpPrototypeGetSource(v);
    return v !== RegExpCtor.prototype;
  } catch {
    return false;
  }
}
function isWeakMapOrSet(v) {
  try {
    WeakMapPrototypeHas(v, ObjectPrototype);
    return true;
  } catch { /* not a WeakMap */ }
  try {
    WeakSetPrototypeHas(v, ObjectPrototype);
    return true;
  } catch {
    return false;
  }
}

/** Inspect a value for display (console formatting). */
function inspect(value, options) {
  let depth = 2;
  if (isObjectLike(options) && options.depth !== undefined) {
    depth = options.depth === null || options.depth === Infinity ? 1e9 : NumberCtor(options.depth);
  }
  return formatValue({ __proto__: null, seen: [], depth, indentation: 0 }, value, 0, false);
}

/** The printf-style formatting used by console.log and friends. */
function formatLogArgs(args) {
  const n = args.length;
  if (n === 0) return "";
  const first = args[0];
  let out = "";
  let next = 1;
  if (typeof first === "string") {
    if (n === 1) return first;
    let last = 0;
    for (let i = 0; i < first.length - 1; i++) {
      if (StringPrototypeCharCodeAt(first, i) !== 0x25 /* % */) continue;
      const c = first[i + 1];
      if (c === "%") {
        out += StringPrototypeSlice(first, last, i) + "%";
        last = i + 2;
        i++;
        continue;
      }
      if (next >= n) continue;
      let rep;
      const a = args[next];
      switch (c) {
        case "s":
          if (typeof a === "bigint") rep = BigIntPrototypeToString(a) + "n";
          else if (typeof a === "number") rep = formatNumber(a);
          else if (typeof a === "symbol") rep = SymbolPrototypeToString(a);
          else if (isObjectLike(a)) rep = inspect(a, { depth: 0 });
          else rep = StringCtor(a);
          break;
        case "d":
        case "i":
          if (typeof a === "bigint") rep = BigIntPrototypeToString(a) + "n";
          else if (typeof a === "symbol" || isObjectLike(a)) rep = "NaN";
          else rep = formatNumber(c === "d" ? NumberCtor(a) : NumberParseInt(a));
          break;
        case "f":
          rep = typeof a === "symbol" ? "NaN" : formatNumber(NumberParseFloat(a));
          break;
        case "j":
          try {
            rep = JSONStringify(a);
            if (rep === undefined) rep = "undefined";
          } catch {
            rep = "[Circular]";
          }
          break;
        case "o":
          rep = inspect(a, { depth: 4 });
          break;
        case "O":
          rep = inspect(a);
          break;
        case "c":
          rep = "";
          break;
        default:
          continue;
      }
      out += StringPrototypeSlice(first, last, i) + rep;
      last = i + 2;
      i++;
      next++;
    }
    out += StringPrototypeSlice(first, last);
  } else {
    out = inspect(first);
  }
  for (let i = next; i < n; i++) {
    const a = args[i];
    out += " " + (typeof a === "string" ? a : inspect(a));
  }
  return out;
}

/** Report an exception nobody caught (timer callbacks, microtasks, event listeners). */
function reportException(err) {
  let text;
  try {
    text = "Uncaught " + inspect(err);
  } catch {
    text = "Uncaught exception (could not be formatted)";
  }
  hostLog("error", text);
}

/** Text for a log line describing an error value (stack for Errors, inspection otherwise). */
function describeError(err) {
  try {
    if (isErrorObject(err)) return formatErrorStack(err);
    if (!isObjectLike(err)) return formatPrimitive(err, false);
    return inspect(err);
  } catch {
    return "(the thrown value could not be formatted)";
  }
}

{
  let groupIndent = "";
  const counts = new MapCtor();
  const timers = new MapCtor();
  const perf = global.performance;
  const perfNow = perf !== undefined && typeof perf.now === "function"
    ? FunctionPrototypeBind.call(perf.now, perf)
    : DateNow;

  const emit = (level, message) => {
    if (groupIndent !== "") {
      message = groupIndent + ArrayPrototypeJoin(splitString(message, "\n"), "\n" + groupIndent);
    }
    hostLog(level, message);
  };
  const label = (v) => (v === undefined ? "default" : toDOMString(v));

  const console = {
    log(...args) {
      emit("info", formatLogArgs(args));
    },
    info(...args) {
      emit("info", formatLogArgs(args));
    },
    warn(...args) {
      emit("warn", formatLogArgs(args));
    },
    error(...args) {
      emit("error", formatLogArgs(args));
    },
    debug(...args) {
      emit("debug", formatLogArgs(args));
    },
    trace(...args) {
      let stack = new ErrorCtor().stack;
      stack = typeof stack === "string" ? trimTrailingNewlines(stack) : "";
      // Drop the frame of console.trace itself.
      const nl = StringPrototypeIndexOf(stack, "\n");
      stack = nl === -1 ? "" : StringPrototypeSlice(stack, nl + 1);
      const msg = args.length === 0 ? "Trace" : "Trace: " + formatLogArgs(args);
      emit("debug", stack === "" ? msg : msg + "\n" + stack);
    },
    assert(condition, ...args) {
      if (condition) return;
      if (args.length === 0) {
        emit("error", "Assertion failed");
      } else if (typeof args[0] === "string") {
        args[0] = "Assertion failed: " + args[0];
        emit("error", formatLogArgs(args));
      } else {
        emit("error", "Assertion failed: " + formatLogArgs(args));
      }
    },
    dir(value, options) {
      emit("info", inspect(value, options));
    },
    dirxml(...args) {
      emit("info", formatLogArgs(args));
    },
    table(...args) {
      emit("info", formatLogArgs(args));
    },
    count(name) {
      const l = label(name);
      const n = (MapPrototypeGet(counts, l) ?? 0) + 1;
      MapPrototypeSet(counts, l, n);
      emit("info", `${l}: ${n}`);
    },
    countReset(name) {
      const l = label(name);
      if (MapPrototypeHas(counts, l)) MapPrototypeSet(counts, l, 0);
      else emit("warn", `Count for '${l}' does not exist`);
    },
    time(name) {
      const l = label(name);
      if (MapPrototypeHas(timers, l)) {
        emit("warn", `Timer '${l}' already exists`);
        return;
      }
      MapPrototypeSet(timers, l, perfNow());
    },
    timeLog(name, ...args) {
      const l = label(name);
      const start = MapPrototypeGet(timers, l);
      if (start === undefined) {
        emit("warn", `Timer '${l}' does not exist`);
        return;
      }
      const extra = args.length === 0 ? "" : " " + formatLogArgs(args);
      emit("info", `${l}: ${formatElapsed(perfNow() - start)}${extra}`);
    },
    timeEnd(name) {
      const l = label(name);
      const start = MapPrototypeGet(timers, l);
      if (start === undefined) {
        emit("warn", `Timer '${l}' does not exist`);
        return;
      }
      MapPrototypeDelete(timers, l);
      emit("info", `${l}: ${formatElapsed(perfNow() - start)}`);
    },
    group(...args) {
      if (args.length > 0) emit("info", formatLogArgs(args));
      groupIndent += "  ";
    },
    groupCollapsed(...args) {
      if (args.length > 0) emit("info", formatLogArgs(args));
      groupIndent += "  ";
    },
    groupEnd() {
      groupIndent = StringPrototypeSlice(groupIndent, 0, MathMax(0, groupIndent.length - 2));
    },
  };
  defineToStringTag(console, "console");
  defineGlobal("console", console);
}

function formatElapsed(ms) {
  if (ms >= 1000) return `${NumberPrototypeToFixed(ms / 1000, 3)}s`;
  return `${NumberPrototypeToFixed(ms, 3)}ms`;
}

internal.inspect = inspect;
internal.formatError = describeError;
