//! Bundle paths: validation of file paths at deploy time, and resolution of import specifiers
//! (`./x`, `../x`, extension and `index` probing, `.js` → `.ts`) against the files of a bundle.
//! The same rules serve build-time validation and run-time `import()` resolution.

use super::diagnostics::ImportProblem;

/// Extensions of files parsed as ES modules.
pub(crate) const MODULE_EXTENSIONS: [&str; 6] = ["js", "mjs", "ts", "mts", "tsx", "jsx"];

/// Extensions tried, in order, after an extensionless specifier.
const PROBE_EXTENSIONS: [&str; 6] = ["ts", "tsx", "js", "jsx", "mjs", "mts"];

/// Whether `path` names a module file (by extension).
pub(crate) fn is_module_path(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => MODULE_EXTENSIONS.contains(&ext),
        _ => false,
    }
}

/// Checks a bundle file path; `Err` carries the reason.
pub(crate) fn validate_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if path.chars().any(char::is_control) {
        return Err("the path contains a control character (such as NUL or a newline)".into());
    }
    if path.contains('\\') {
        return Err("use forward slashes ('/') to separate directories".into());
    }
    if path.starts_with('/') {
        return Err("the path is absolute; paths must be relative to the script directory".into());
    }
    for segment in path.split('/') {
        match segment {
            "" => return Err("the path has an empty segment ('//' or a trailing '/')".into()),
            "." => return Err("the path has a '.' segment; give the plain relative path".into()),
            ".." => {
                return Err(
                    "the path has a '..' segment; files must stay inside the script \
                            directory"
                        .into(),
                );
            }
            _ => {}
        }
    }
    Ok(())
}

/// A rejected specifier: the kind of problem, the message, and optional help.
#[derive(Debug)]
pub(crate) struct Rejection {
    pub problem: ImportProblem,
    pub message: String,
    pub help: Option<String>,
}

/// The files an import may resolve to.
pub(crate) trait FileSet {
    /// Whether the bundle has a file at `path` (module or asset).
    fn has_file(&self, path: &str) -> bool;
}

/// Node.js built-in module names, for a more helpful message.
const NODE_BUILTINS: [&str; 20] = [
    "assert",
    "buffer",
    "child_process",
    "crypto",
    "dns",
    "events",
    "fs",
    "fs/promises",
    "http",
    "https",
    "net",
    "os",
    "path",
    "process",
    "querystring",
    "stream",
    "timers",
    "url",
    "util",
    "zlib",
];

/// Resolves `specifier` imported by module `importer` among `files`.
pub(crate) fn resolve_specifier(
    files: &dyn FileSet,
    importer: &str,
    specifier: &str,
) -> Result<String, Rejection> {
    let reject = |problem, message: String, help: Option<&str>| Rejection {
        problem,
        message,
        help: help.map(str::to_string),
    };
    if !(specifier.starts_with("./")
        || specifier.starts_with("../")
        || specifier == "."
        || specifier == "..")
    {
        if specifier.starts_with('/') {
            return Err(reject(
                ImportProblem::Absolute,
                format!("cannot import {specifier:?}: absolute import paths are not supported"),
                Some(
                    "import files with a path relative to the importing file, e.g. \"./lib/x.ts\"",
                ),
            ));
        }
        if specifier.contains("://") || specifier.starts_with("data:") {
            return Err(reject(
                ImportProblem::Url,
                format!("cannot import {specifier:?}: URL imports are not supported"),
                Some(
                    "copy the module into the script directory and import it with a relative path",
                ),
            ));
        }
        let builtin = specifier.starts_with("node:") || NODE_BUILTINS.contains(&specifier);
        let help = if builtin {
            "Node.js built-in modules are not available; use the web-standard globals \
             (fetch, crypto, TextEncoder, URL, …) and Kiln's kv, db and files APIs"
        } else {
            "Kiln does not install packages: files must be in the script directory; copy the \
             code there and import it with a relative path such as \"./lib/name.js\""
        };
        return Err(reject(
            ImportProblem::Package,
            format!("cannot import {specifier:?}: package imports are not supported"),
            Some(help),
        ));
    }

    let base = join(importer, specifier).ok_or_else(|| {
        reject(
            ImportProblem::EscapesRoot,
            format!("cannot import {specifier:?}: the path leads outside the script directory"),
            Some("imports must stay inside the script directory"),
        )
    })?;

    let mut candidates: Vec<String> = Vec::new();
    let dir_only = specifier.ends_with('/') || base.is_empty();
    if !dir_only {
        candidates.push(base.clone());
        // TypeScript convention: "./x.js" names the output of "x.ts".
        let ts_for_js: [(&str, &[&str]); 3] = [
            (".js", &[".ts", ".tsx"]),
            (".jsx", &[".tsx"]),
            (".mjs", &[".mts"]),
        ];
        for (js, ts) in ts_for_js {
            if let Some(stem) = base.strip_suffix(js) {
                for ext in ts {
                    candidates.push(format!("{stem}{ext}"));
                }
            }
        }
        for ext in PROBE_EXTENSIONS {
            candidates.push(format!("{base}.{ext}"));
        }
    }
    let index_base = if base.is_empty() {
        "index".to_string()
    } else {
        format!("{base}/index")
    };
    for ext in PROBE_EXTENSIONS {
        candidates.push(format!("{index_base}.{ext}"));
    }

    let mut asset: Option<&String> = None;
    for candidate in &candidates {
        if files.has_file(candidate) {
            if is_module_path(candidate) {
                if candidate == importer {
                    return Err(reject(
                        ImportProblem::SelfImport,
                        format!("{importer} imports itself ({specifier:?})"),
                        Some("a module cannot import itself; remove this import"),
                    ));
                }
                return Ok(candidate.clone());
            }
            asset.get_or_insert(candidate);
        }
    }
    if let Some(asset) = asset {
        return Err(reject(
            ImportProblem::NotAModule,
            format!(
                "cannot import {specifier:?}: {asset} is not a JavaScript or TypeScript module \
                 (.js, .mjs, .ts, .mts, .tsx, .jsx)"
            ),
            Some("read other files at run time with the `files` API (JSON, text, templates)"),
        ));
    }
    let shown = if dir_only {
        format!("{index_base}.*")
    } else {
        base.clone()
    };
    Err(reject(
        ImportProblem::NotFound,
        format!(
            "cannot resolve {specifier:?} from {importer}: no module {shown} in the script \
             directory"
        ),
        Some(if dir_only {
            "add an index file (index.ts, index.js, …) to that directory, or fix the path"
        } else {
            "tried the exact path, the extensions .ts .tsx .js .jsx .mjs .mts and index files; \
             check the spelling and that the file was deployed"
        }),
    ))
}

/// Joins a relative `specifier` to the directory of `importer`, normalising `.` and `..`;
/// `None` if the result escapes the root. Empty segments are ignored.
fn join(importer: &str, specifier: &str) -> Option<String> {
    let mut parts: Vec<&str> = importer.split('/').collect();
    parts.pop(); // the importer's own file name
    for segment in specifier.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    struct Files(HashSet<&'static str>);
    impl FileSet for Files {
        fn has_file(&self, path: &str) -> bool {
            self.0.contains(path)
        }
    }

    fn files() -> Files {
        Files(
            [
                "main.ts",
                "util.ts",
                "lib/a.js",
                "lib/b.tsx",
                "lib/index.ts",
                "comp/index.jsx",
                "data.json",
                "x.js",
                "x.ts",
                "m.mts",
                "lib/deep/c.mjs",
            ]
            .into_iter()
            .collect(),
        )
    }

    fn ok(importer: &str, spec: &str) -> String {
        match resolve_specifier(&files(), importer, spec) {
            Ok(p) => p,
            Err(e) => panic!("{spec} from {importer}: {}", e.message),
        }
    }

    fn err(importer: &str, spec: &str) -> Rejection {
        match resolve_specifier(&files(), importer, spec) {
            Ok(p) => panic!("{spec} from {importer} resolved to {p}"),
            Err(e) => e,
        }
    }

    #[test]
    fn resolves_exact_extensionless_js_to_ts_index_and_parent() {
        assert_eq!(ok("main.ts", "./util.ts"), "util.ts");
        assert_eq!(ok("main.ts", "./util"), "util.ts");
        assert_eq!(ok("main.ts", "./util.js"), "util.ts");
        assert_eq!(
            ok("main.ts", "./x.js"),
            "x.js",
            "an existing .js file wins over .ts"
        );
        assert_eq!(ok("main.ts", "./lib"), "lib/index.ts");
        assert_eq!(ok("main.ts", "./lib/"), "lib/index.ts");
        assert_eq!(ok("main.ts", "./comp"), "comp/index.jsx");
        assert_eq!(ok("main.ts", "./lib/b.jsx"), "lib/b.tsx");
        assert_eq!(ok("main.ts", "./m.mjs"), "m.mts");
        assert_eq!(ok("lib/a.js", "./b"), "lib/b.tsx");
        assert_eq!(ok("lib/a.js", "../util"), "util.ts");
        assert_eq!(ok("lib/deep/c.mjs", "../../main.ts"), "main.ts");
        assert_eq!(ok("lib/deep/c.mjs", ".."), "lib/index.ts");
        assert_eq!(ok("lib/a.js", "./"), "lib/index.ts");
    }

    #[test]
    fn rejects_packages_urls_and_absolute_paths() {
        assert_eq!(err("main.ts", "lodash").problem, ImportProblem::Package);
        let fs = err("main.ts", "node:fs");
        assert_eq!(fs.problem, ImportProblem::Package);
        assert!(fs.help.unwrap_or_default().contains("built-in"));
        assert_eq!(err("main.ts", "fs").problem, ImportProblem::Package);
        assert_eq!(
            err("main.ts", "https://esm.sh/x").problem,
            ImportProblem::Url
        );
        assert_eq!(err("main.ts", "/util.ts").problem, ImportProblem::Absolute);
    }

    #[test]
    fn rejects_missing_self_assets_and_escapes() {
        let missing = err("main.ts", "./nope");
        assert_eq!(missing.problem, ImportProblem::NotFound);
        assert!(
            missing.message.contains("\"./nope\""),
            "{}",
            missing.message
        );
        assert_eq!(err("main.ts", "./main").problem, ImportProblem::SelfImport);
        assert_eq!(err("lib/index.ts", ".").problem, ImportProblem::SelfImport);
        assert_eq!(
            err("main.ts", "./data.json").problem,
            ImportProblem::NotAModule
        );
        assert_eq!(
            err("main.ts", "../main.ts").problem,
            ImportProblem::EscapesRoot
        );
        assert_eq!(
            err("lib/a.js", "../../x.js").problem,
            ImportProblem::EscapesRoot
        );
    }

    #[test]
    fn validates_paths() {
        for good in [
            "main.ts",
            "lib/a.js",
            "static/logo.png",
            "a b/c.txt",
            ".well-known/x",
        ] {
            assert!(validate_path(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x.js",
            "a/../b.js",
            "a//b.js",
            "a/",
            "./a.js",
            "a\\b.js",
            "a\0b",
        ] {
            assert!(validate_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn module_extensions() {
        assert!(is_module_path("main.ts"));
        assert!(is_module_path("a/b.mjs"));
        assert!(!is_module_path("a/b.json"));
        assert!(!is_module_path("a/.ts"));
        assert!(!is_module_path("README"));
    }
}
