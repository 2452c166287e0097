// Kiln prelude: the script's own bundle at run time — `files`, `render` and `markdown`.
//
// All three are host operations (12_host_ops.js): the bundle lives on the Rust side, paths are
// checked there (FilesError FILES_INVALID_PATH), and templates and Markdown are rendered off
// the isolate. Bad argument types reject with a TypeError.

function filePathArg(api, path) {
  if (typeof path !== "string") throw new TypeErrorCtor(`${api}: the path must be a string, e.g. "data/items.json"`);
  return path;
}

const files = ObjectFreeze({
  __proto__: null,
  /** The bytes of bundle file `path`, as a Uint8Array. */
  read(path) {
    return asyncCall(() => hostCall("files.read", { __proto__: null, path: filePathArg("files.read", path) }, undefined));
  },
  /** The text of bundle file `path` (UTF-8; FILES_NOT_TEXT otherwise). */
  text(path) {
    return asyncCall(() => hostCall("files.text", { __proto__: null, path: filePathArg("files.text", path) }, undefined));
  },
  /**
   * The entries directly inside directory `dir` of the bundle (the root when omitted), sorted
   * by name: `[{ name, path, isDir, size }]`.
   */
  list(dir = "") {
    return asyncCall(() => {
      if (typeof dir !== "string") throw new TypeErrorCtor("files.list: the directory must be a string, e.g. \"templates\"");
      return hostCall("files.list", { __proto__: null, dir }, undefined);
    });
  },
});

/**
 * Renders template `path` of the bundle (minijinja, Jinja syntax) with `data`; output of
 * `.html`/`.htm`/`.xml`/`.svg`/`.jinja`/`.j2` templates is HTML-escaped.
 */
function render(path, data = undefined) {
  return asyncCall(() => {
    if (typeof path !== "string") throw new TypeErrorCtor("render: the template must be the path of a bundle file, e.g. \"templates/page.html\"");
    let value = null;
    if (data !== undefined) {
      // Serialise here so toJSON and the script's own objects behave as in JSON.stringify.
      const json = JSONStringify(data);
      if (json === undefined) throw new TypeErrorCtor("render: the data must be JSON-serialisable");
      value = JSONParse(json);
    }
    return hostCall("template.render", { __proto__: null, path, data: value }, undefined);
  });
}

/** Markdown (CommonMark) to HTML; raw HTML is escaped unless `{ allowHtml: true }`. */
function markdown(text, options = undefined) {
  return asyncCall(() => {
    if (typeof text !== "string") throw new TypeErrorCtor("markdown: the text must be a string");
    if (options !== undefined && options !== null && !isObjectLike(options)) {
      throw new TypeErrorCtor("markdown: options must be an object");
    }
    const allowHtml = options?.allowHtml ?? false;
    if (typeof allowHtml !== "boolean") throw new TypeErrorCtor("markdown: options.allowHtml must be a boolean");
    return hostCall("markdown.render", { __proto__: null, allowHtml }, text);
  });
}

defineGlobal("FilesError", FilesError);
defineGlobal("TemplateError", TemplateError);
defineGlobal("files", files);
defineGlobal("render", render);
defineGlobal("markdown", markdown);
