// Kiln prelude: h() / Fragment — JSX (classic runtime) rendering straight to HTML markup.

const VOID_ELEMENTS = [
  "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param", "source",
  "track", "wbr",
];
const TAG_NAME_RE = /^[A-Za-z][A-Za-z0-9\-.:_]*$/;
const ATTR_NAME_RE = /^[^\s"'<>\/=\x00-\x1f\x7f-\x9f]+$/;
const SKIPPED_PROPS = ["children", "key", "ref", "dangerouslySetInnerHTML", "__self", "__source"];
const kHtmlToken = { __proto__: null };

/** Escape text for HTML content and attribute values: & < > " ' */
function escapeHtml(s) {
  const n = s.length;
  let out = "";
  let last = 0;
  for (let i = 0; i < n; i++) {
    let rep;
    switch (StringPrototypeCharCodeAt(s, i)) {
      case 0x26: rep = "&amp;"; break;
      case 0x3c: rep = "&lt;"; break;
      case 0x3e: rep = "&gt;"; break;
      case 0x22: rep = "&quot;"; break;
      case 0x27: rep = "&#39;"; break;
      default: continue;
    }
    out += StringPrototypeSlice(s, last, i) + rep;
    last = i + 1;
  }
  return last === 0 ? s : out + StringPrototypeSlice(s, last);
}

let isHtml; // (v) => boolean
let htmlMarkup; // (html) => string

/** An HTML fragment produced by h(): already-escaped markup. */
class Html {
  #markup;

  static {
    isHtml = (v) => isObjectLike(v) && #markup in v;
    htmlMarkup = (v) => v.#markup;
  }

  constructor(token, markup) {
    if (token !== kHtmlToken) throw new TypeErrorCtor("Illegal constructor: HTML values are created by h()");
    this.#markup = markup;
  }

  toString() {
    return this.#markup;
  }
  toJSON() {
    return this.#markup;
  }
  [kInspect]() {
    return `Html ${quoteString(this.#markup)}`;
  }
}
defineToStringTag(Html.prototype, "Html");

function hyphenateStyleName(name) {
  if (StringPrototypeStartsWith(name, "--")) return name;
  let out = "";
  for (let i = 0; i < name.length; i++) {
    const c = StringPrototypeCharCodeAt(name, i);
    if (c >= 0x41 && c <= 0x5a) out += "-" + StringFromCharCode(c + 32);
    else out += name[i];
  }
  return StringPrototypeStartsWith(out, "ms-") ? "-" + out : out;
}

function styleToString(style) {
  const keys = ObjectKeys(style);
  let out = "";
  for (let i = 0; i < keys.length; i++) {
    const v = style[keys[i]];
    if (v === null || v === undefined || typeof v === "boolean" || v === "") continue;
    if (out !== "") out += ";";
    out += hyphenateStyleName(keys[i]) + ":" + toDOMString(v);
  }
  return out;
}

function renderNode(node) {
  if (node === null || node === undefined || typeof node === "boolean") return "";
  switch (typeof node) {
    case "string": return escapeHtml(node);
    case "number": return StringCtor(node);
    case "bigint": return BigIntPrototypeToString(node);
    case "function":
    case "symbol":
      return "";
  }
  if (isHtml(node)) return htmlMarkup(node);
  if (ArrayIsArray(node)) {
    let out = "";
    for (let i = 0; i < node.length; i++) out += renderNode(node[i]);
    return out;
  }
  if (isNativePromise(node)) throw new TypeErrorCtor("h: async components and promise children are not supported");
  if (typeof node[SymbolIterator] === "function") {
    let out = "";
    for (const child of node) out += renderNode(child);
    return out;
  }
  return escapeHtml(toDOMString(node));
}

function renderAttributes(props) {
  let out = "";
  const keys = ObjectKeys(props);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (ArrayPrototypeIncludes(SKIPPED_PROPS, key)) continue;
    let value = props[key];
    if (value === null || value === undefined || typeof value === "function" || typeof value === "symbol") continue;
    const name = key === "className" ? "class" : key === "htmlFor" ? "for" : key;
    if (RegExpPrototypeExec(ATTR_NAME_RE, name) === null) throw new TypeErrorCtor(`h: invalid attribute name '${name}'`);
    if (typeof value === "boolean") {
      if (StringPrototypeStartsWith(name, "aria-") || StringPrototypeStartsWith(name, "data-")) {
        value = value ? "true" : "false";
      } else {
        if (value) out += " " + name;
        continue;
      }
    }
    if (name === "style" && isObjectLike(value) && !isHtml(value)) {
      value = styleToString(value);
      if (value === "") continue;
    } else if (isHtml(value)) {
      value = htmlMarkup(value);
    }
    out += " " + name + '="' + escapeHtml(toDOMString(value)) + '"';
  }
  return out;
}

/** Children as a component sees them: undefined, the only child, or the array. */
function childrenProp(children) {
  if (children.length === 0) return undefined;
  return children.length === 1 ? children[0] : children;
}

function h(tag, props, ...children) {
  if (props !== null && props !== undefined && !isObjectLike(props)) {
    throw new TypeErrorCtor("h: props must be an object, null or undefined");
  }
  if (typeof tag === "function") {
    if (tag === Fragment) {
      const kids = children.length > 0 ? children : props != null ? props.children : undefined;
      return new Html(kHtmlToken, renderNode(kids));
    }
    const p = { ...props };
    if (children.length > 0) createDataProperty(p, "children", childrenProp(children));
    const result = tag(p);
    if (isNativePromise(result)) throw new TypeErrorCtor("h: async components are not supported");
    return isHtml(result) ? result : new Html(kHtmlToken, renderNode(result));
  }
  if (typeof tag !== "string") throw new TypeErrorCtor("h: the tag must be a string or a function component");
  if (RegExpPrototypeExec(TAG_NAME_RE, tag) === null) throw new TypeErrorCtor(`h: invalid tag name '${tag}'`);
  let out = "<" + tag;
  if (props != null) out += renderAttributes(props);
  out += ">";
  if (ArrayPrototypeIncludes(VOID_ELEMENTS, StringPrototypeToLowerCase(tag))) return new Html(kHtmlToken, out);
  const inner = props != null ? props.dangerouslySetInnerHTML : undefined;
  if (inner !== undefined && inner !== null) {
    const raw = inner.__html;
    if (raw !== undefined && raw !== null) out += toDOMString(raw);
  } else if (children.length > 0) {
    out += renderNode(children);
  } else if (props != null) {
    out += renderNode(props.children);
  }
  return new Html(kHtmlToken, out + "</" + tag + ">");
}

function Fragment(props) {
  return new Html(kHtmlToken, props != null ? renderNode(props.children) : "");
}

defineGlobal("h", h);
defineGlobal("Fragment", Fragment);
