//! Script bundles: this module owns turning a deployed script directory (a list of files) into
//! validated, QuickJS-ready ES modules. It checks paths and size limits, finds the entry file,
//! parses every module with oxc (syntax errors become `file:line:col` diagnostics with a code
//! frame), transpiles TypeScript/TSX/JSX to JavaScript with a source map (plain `.js`/`.mjs` are
//! kept byte-for-byte so QuickJS positions are exact), and validates every import so that only
//! resolvable, relative, attribute-free imports ever reach QuickJS. At run time it resolves
//! specifiers with the same rules ([`Bundle::resolve`]) and maps stack-trace positions in
//! generated code back to the original sources ([`Bundle::remap_stack`]).

mod diagnostics;
mod resolve;
mod sourcemap;
mod transpile;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;

pub use diagnostics::{BundleError, Diagnostic, ImportProblem};

use diagnostics::to_u32;
use resolve::{FileSet, Rejection, resolve_specifier, validate_path};
use sourcemap::{SourceMapping, remap_text};
use transpile::{ImportRef, Lang};

/// Accepted entry file names, at the root of the script directory.
pub const ENTRY_NAMES: [&str; 5] = ["main.js", "main.mjs", "main.ts", "main.tsx", "main.jsx"];

/// One file of a script directory.
#[derive(Clone, PartialEq, Eq)]
pub struct BundleFile {
    /// Relative path with forward slashes, e.g. `lib/util.ts`.
    pub path: String,
    /// Raw bytes.
    pub content: Vec<u8>,
}

impl fmt::Debug for BundleFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BundleFile")
            .field("path", &self.path)
            .field("bytes", &self.content.len())
            .finish()
    }
}

/// Size limits checked by [`Bundle::build`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleLimits {
    /// Maximum sum of all file sizes in bytes (default 10 MiB).
    pub max_total_bytes: usize,
    /// Maximum number of files (default 1000).
    pub max_files: usize,
}

impl Default for BundleLimits {
    fn default() -> Self {
        BundleLimits {
            max_total_bytes: 10 * 1024 * 1024,
            max_files: 1000,
        }
    }
}

/// A compiled module.
#[derive(Debug, Clone)]
struct Module {
    /// JavaScript handed to QuickJS.
    code: String,
    /// Source map of `code`, for transpiled modules.
    map: Option<SourceMapping>,
}

/// A validated script bundle: the entry module, every module's QuickJS-ready code, the raw
/// files (assets included) and the source maps of transpiled modules. Immutable once built.
#[derive(Clone)]
pub struct Bundle {
    entry: String,
    /// Sorted by path.
    files: Vec<BundleFile>,
    /// Path → index in `files`.
    index: HashMap<String, usize>,
    modules: HashMap<String, Module>,
    total_bytes: usize,
}

impl fmt::Debug for Bundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut modules: Vec<&String> = self.modules.keys().collect();
        modules.sort();
        f.debug_struct("Bundle")
            .field("entry", &self.entry)
            .field("files", &self.files.len())
            .field("modules", &modules)
            .field("total_bytes", &self.total_bytes)
            .finish()
    }
}

impl FileSet for HashMap<String, usize> {
    fn has_file(&self, path: &str) -> bool {
        self.contains_key(path)
    }
}

/// The text of a module file without a UTF-8 byte-order mark, or the 1-based line of the first
/// invalid byte.
fn module_text(content: &[u8]) -> Result<&str, u32> {
    match std::str::from_utf8(content) {
        Ok(text) => Ok(text.strip_prefix('\u{feff}').unwrap_or(text)),
        Err(e) => {
            let valid = content.get(..e.valid_up_to()).unwrap_or_default();
            Err(to_u32(valid.iter().filter(|&&b| b == b'\n').count() + 1))
        }
    }
}

impl Bundle {
    /// Validates `files` and compiles every module. Errors name the file (and line:col where
    /// there is one) and say what to change.
    pub fn build(files: Vec<BundleFile>, limits: &BundleLimits) -> Result<Bundle, BundleError> {
        if files.len() > limits.max_files {
            return Err(BundleError::TooManyFiles {
                count: files.len(),
                limit: limits.max_files,
            });
        }
        let total_bytes: usize = files.iter().map(|f| f.content.len()).sum();
        if total_bytes > limits.max_total_bytes {
            return Err(BundleError::TooLarge {
                total: total_bytes,
                limit: limits.max_total_bytes,
            });
        }
        let mut files = files;
        for file in &files {
            validate_path(&file.path).map_err(|reason| BundleError::InvalidPath {
                path: file.path.clone(),
                reason,
            })?;
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut index = HashMap::with_capacity(files.len());
        for (i, file) in files.iter().enumerate() {
            if index.insert(file.path.clone(), i).is_some() {
                return Err(BundleError::DuplicatePath {
                    path: file.path.clone(),
                });
            }
        }

        let entries: Vec<String> = ENTRY_NAMES
            .iter()
            .filter(|name| index.contains_key(**name))
            .map(|name| (*name).to_string())
            .collect();
        let entry = match entries.as_slice() {
            [] => return Err(BundleError::NoEntry),
            [one] => one.clone(),
            _ => return Err(BundleError::MultipleEntries { paths: entries }),
        };

        // Compile the entry first so its errors are the ones reported, then the rest in order.
        let mut order: Vec<&BundleFile> = files.iter().filter(|f| f.path == entry).collect();
        order.extend(files.iter().filter(|f| f.path != entry));
        let mut modules = HashMap::new();
        for file in order {
            let Some(lang) = Lang::of(&file.path) else {
                continue;
            };
            let source = module_text(&file.content).map_err(|line| BundleError::NotUtf8 {
                path: file.path.clone(),
                line,
            })?;
            let compiled = transpile::compile(&file.path, source, lang)
                .map_err(|diagnostics| BundleError::Syntax { diagnostics })?;
            for import in &compiled.imports {
                check_import(&index, &file.path, source, import)?;
            }
            let code = compiled.code.unwrap_or_else(|| source.to_string());
            modules.insert(
                file.path.clone(),
                Module {
                    code,
                    map: compiled.map,
                },
            );
        }

        Ok(Bundle {
            entry,
            files,
            index,
            modules,
            total_bytes,
        })
    }

    /// Path of the entry module, e.g. `main.ts`.
    pub fn entry(&self) -> &str {
        &self.entry
    }

    /// The JavaScript to hand to QuickJS for module `path` (the module's name is its path);
    /// `None` if `path` is not a module of this bundle.
    pub fn module_code(&self, path: &str) -> Option<&str> {
        self.modules.get(path).map(|m| m.code.as_str())
    }

    /// Paths of all modules (JavaScript and TypeScript files), in no particular order.
    pub fn module_paths(&self) -> impl Iterator<Item = &str> {
        self.modules.keys().map(String::as_str)
    }

    /// Whether module `path` was transpiled (TypeScript/JSX) rather than kept verbatim.
    pub fn is_transpiled(&self, path: &str) -> bool {
        self.modules.get(path).is_some_and(|m| m.map.is_some())
    }

    /// The source map (JSON, version 3) of transpiled module `path`.
    pub fn source_map(&self, path: &str) -> Option<&str> {
        self.modules
            .get(path)?
            .map
            .as_ref()
            .map(SourceMapping::json)
    }

    /// Resolves `specifier` imported by module `importer` to a module path, with the rules used
    /// at build time: relative specifiers only, exact path, then `.ts .tsx .js .jsx .mjs .mts`,
    /// then `index.*`, and `./x.js` → `x.ts`. `None` for packages, URLs, missing files,
    /// non-module files, self-imports and paths leaving the bundle.
    pub fn resolve(&self, importer: &str, specifier: &str) -> Option<String> {
        resolve_specifier(&self.index, importer, specifier).ok()
    }

    /// Rewrites `path:line:col` (or `path:line`) positions that point into transpiled modules
    /// to the original source positions, e.g. `at handler (main.ts:12:5)`. Plain JavaScript
    /// modules and unknown files are left untouched. Works on whole stack traces and on
    /// one-line messages.
    pub fn remap_stack(&self, text: &str) -> String {
        remap_text(text, |path, line, col| {
            let module = self.modules.get(path)?;
            let map = module.map.as_ref()?;
            let original = module_text(self.file(path)?).ok()?;
            map.original_position(&module.code, original, line, col)
        })
    }

    /// The raw bytes of any bundle file (modules in their original form, and assets).
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        let i = *self.index.get(path)?;
        self.files.get(i).map(|f| f.content.as_slice())
    }

    /// All files, sorted by path.
    pub fn files(&self) -> impl Iterator<Item = &BundleFile> {
        self.files.iter()
    }

    /// Sum of all file sizes in bytes.
    pub fn total_bytes(&self) -> usize {
        self.total_bytes
    }
}

/// Checks a bundle-relative file path with the rules [`Bundle::build`] applies to the files of
/// a deploy (relative, forward slashes, no empty, `.` or `..` segments, no control characters);
/// the error says what is wrong. Lookups by such a path can never leave the bundle.
pub fn check_path(path: &str) -> Result<(), String> {
    validate_path(path)
}

/// Rejects an import that must not reach QuickJS.
fn check_import(
    index: &HashMap<String, usize>,
    importer: &str,
    source: &str,
    import: &ImportRef,
) -> Result<(), BundleError> {
    if let Some((problem, (start, end))) = import.unsupported {
        let shown = import
            .specifier
            .as_deref()
            .map_or_else(|| "…".to_string(), |s| format!("{s:?}"));
        let (message, help) = match problem {
            ImportProblem::DynamicImportOptions => (
                format!("import({shown}, …): the second argument of import() is not supported"),
                "pass only the module path to import(); import attributes are not supported",
            ),
            ImportProblem::Phase => (
                format!("import {shown}: `import source` and `import defer` are not supported"),
                "use a plain import",
            ),
            _ => (
                format!(
                    "cannot import {shown}: import attributes (`with {{ … }}`, `assert {{ … }}`) \
                     are not supported"
                ),
                "remove the attributes; read JSON or text files at run time with the `files` API",
            ),
        };
        let diagnostic =
            Diagnostic::at(importer, source, start, end, message).with_help(Some(help.to_string()));
        return Err(BundleError::Import {
            problem,
            diagnostic: Box::new(diagnostic),
        });
    }
    let Some(specifier) = &import.specifier else {
        return Ok(());
    };
    match resolve_specifier(index, importer, specifier) {
        Ok(_) => Ok(()),
        Err(Rejection {
            problem,
            message,
            help,
        }) => {
            let (start, end) = import.span;
            let diagnostic = Diagnostic::at(importer, source, start, end, message).with_help(help);
            Err(BundleError::Import {
                problem,
                diagnostic: Box::new(diagnostic),
            })
        }
    }
}
