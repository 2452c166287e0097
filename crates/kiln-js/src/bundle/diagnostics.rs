//! Errors of the bundle module and how they are shown: [`BundleError`], positioned
//! [`Diagnostic`]s with 1-based `file:line:col` and a code frame, and the [`LineIndex`] that turns
//! byte offsets into lines and columns.

use std::fmt;

/// Why an import was rejected (see [`BundleError::Import`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImportProblem {
    /// A package or built-in module specifier (`lodash`, `node:fs`, `fs`).
    Package,
    /// A URL specifier (`https://…`).
    Url,
    /// An absolute path specifier (`/lib/x.js`).
    Absolute,
    /// A relative specifier that matches no file of the bundle.
    NotFound,
    /// A relative specifier that names a file that is not a JavaScript/TypeScript module.
    NotAModule,
    /// A module importing itself.
    SelfImport,
    /// A relative specifier whose `..` segments leave the bundle root.
    EscapesRoot,
    /// Import attributes or assertions (`with { … }`, `assert { … }`).
    Attributes,
    /// A second argument to dynamic `import()`.
    DynamicImportOptions,
    /// Source-phase or deferred imports (`import source x from …`, `import defer * as x from …`).
    Phase,
}

/// A problem at a position in a bundle file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Bundle path of the file.
    pub path: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when known.
    pub help: Option<String>,
    /// The offending source line with a caret under the position (no trailing newline).
    pub frame: String,
    /// Related positions, as `line:col: text` (e.g. where a name was first declared).
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// Builds a diagnostic for the byte range `start..end` of `source`.
    pub(crate) fn at(path: &str, source: &str, start: u32, end: u32, message: String) -> Self {
        let index = LineIndex::new(source);
        let (line, column) = index.line_col(source, start as usize);
        let frame = code_frame(&index, source, start as usize, end as usize);
        Diagnostic {
            path: path.to_string(),
            line,
            column,
            message,
            help: None,
            frame,
            notes: Vec::new(),
        }
    }

    pub(crate) fn add_note(&mut self, source: &str, offset: u32, text: &str) {
        let (line, column) = LineIndex::new(source).line_col(source, offset as usize);
        self.notes.push(format!("{line}:{column}: {text}"));
    }

    pub(crate) fn with_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path, self.line, self.column, self.message
        )?;
        if !self.frame.is_empty() {
            write!(f, "\n{}", self.frame)?;
        }
        for note in &self.notes {
            write!(f, "\n  note: {note}")?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Why a bundle could not be built. `Display` is a message a user can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// A file path is not a clean relative path.
    #[error("invalid file path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two files have the same path.
    #[error("duplicate file path {path:?}: every file of a script must have a distinct path")]
    DuplicatePath {
        /// The repeated path.
        path: String,
    },
    /// More files than [`super::BundleLimits::max_files`].
    #[error("too many files: the script has {count} files, the limit is {limit}")]
    TooManyFiles {
        /// Number of files in the bundle.
        count: usize,
        /// The configured limit.
        limit: usize,
    },
    /// More bytes than [`super::BundleLimits::max_total_bytes`].
    #[error(
        "script too large: its files total {total} bytes, the limit is {limit} bytes ({})",
        human_bytes(*limit)
    )]
    TooLarge {
        /// Sum of all file sizes.
        total: usize,
        /// The configured limit.
        limit: usize,
    },
    /// No entry file at the root.
    #[error(
        "no entry file: add one of {} at the root of the script directory",
        super::ENTRY_NAMES.join(", ")
    )]
    NoEntry,
    /// Several entry files at the root.
    #[error("more than one entry file: {}; keep exactly one", paths.join(" and "))]
    MultipleEntries {
        /// The entry files found.
        paths: Vec<String>,
    },
    /// A module file is not UTF-8.
    #[error(
        "{path}:{line}: the file is not valid UTF-8; JavaScript and TypeScript files must be UTF-8 text"
    )]
    NotUtf8 {
        /// The module file.
        path: String,
        /// 1-based line of the first invalid byte.
        line: u32,
    },
    /// Syntax (or TypeScript/JSX transform) errors in one module file.
    #[error("{}", join_diagnostics(diagnostics))]
    Syntax {
        /// All errors of the file, first one first.
        diagnostics: Vec<Diagnostic>,
    },
    /// An import that Kiln does not support or cannot resolve.
    #[error("{diagnostic}")]
    Import {
        /// The kind of problem.
        problem: ImportProblem,
        /// Where and why.
        diagnostic: Box<Diagnostic>,
    },
}

impl BundleError {
    /// The positioned diagnostics of this error (empty for errors about the bundle as a whole).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            BundleError::Syntax { diagnostics } => diagnostics,
            BundleError::Import { diagnostic, .. } => std::slice::from_ref(&**diagnostic),
            _ => &[],
        }
    }
}

fn join_diagnostics(diagnostics: &[Diagnostic]) -> String {
    let parts: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    parts.join("\n\n")
}

fn human_bytes(n: usize) -> String {
    const MIB: usize = 1024 * 1024;
    const KIB: usize = 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else if n >= MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else {
        format!("{n} B")
    }
}

/// Line starts of a text, for offset → (line, column) conversion. Lines end at `\n`, `\r\n`,
/// `\r`, U+2028 or U+2029, as in JavaScript (and in oxc's source maps).
pub(crate) struct LineIndex {
    /// Byte offset of the start of each line.
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> Self {
        let mut starts = vec![0];
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => starts.push(i + 1),
                b'\r' => {
                    if bytes.get(i + 1) == Some(&b'\n') {
                        i += 1;
                    }
                    starts.push(i + 1);
                }
                // U+2028 / U+2029 are E2 80 A8 / E2 80 A9.
                0xE2 if bytes.get(i + 1) == Some(&0x80)
                    && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9)) =>
                {
                    i += 2;
                    starts.push(i + 1);
                }
                _ => {}
            }
            i += 1;
        }
        LineIndex { starts }
    }

    /// The text of 0-based line `line` without its terminator.
    pub(crate) fn line_text<'t>(&self, text: &'t str, line: usize) -> Option<&'t str> {
        let start = *self.starts.get(line)?;
        let end = self.starts.get(line + 1).copied().unwrap_or(text.len());
        let raw = text.get(start..end)?;
        Some(raw.trim_end_matches(['\n', '\r', '\u{2028}', '\u{2029}']))
    }

    /// 0-based line containing byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1)
    }

    /// 1-based (line, column in characters) of byte `offset`.
    pub(crate) fn line_col(&self, text: &str, offset: usize) -> (u32, u32) {
        let offset = offset.min(text.len());
        let line = self.line_of(offset);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let column = text.get(start..offset).map_or(0, |s| s.chars().count());
        (to_u32(line + 1), to_u32(column + 1))
    }
}

pub(crate) fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Longest source line shown whole in a code frame; longer lines are cut around the position.
const MAX_FRAME_CHARS: usize = 160;

/// Renders the line holding `start` with carets under `start..end` (clipped to that line).
fn code_frame(index: &LineIndex, source: &str, start: usize, end: usize) -> String {
    let start = start.min(source.len());
    let line = index.line_of(start);
    let Some(text) = index.line_text(source, line) else {
        return String::new();
    };
    let line_start = index.starts.get(line).copied().unwrap_or(0);
    let chars: Vec<char> = text.chars().collect();
    let col = source
        .get(line_start..start)
        .map_or(0, |s| s.chars().count())
        .min(chars.len());
    let end = end.max(start).min(line_start + text.len());
    let width = source
        .get(start..end)
        .map_or(0, |s| s.chars().count())
        .max(1);

    // Window of the line to show.
    let (from, to) = if chars.len() <= MAX_FRAME_CHARS {
        (0, chars.len())
    } else {
        let from = col.saturating_sub(MAX_FRAME_CHARS / 3);
        (from, (from + MAX_FRAME_CHARS).min(chars.len()))
    };
    let prefix = if from > 0 { "…" } else { "" };
    let suffix = if to < chars.len() { "…" } else { "" };
    let shown: String = chars[from..to].iter().collect();
    let pad: String = chars[from..col.max(from)]
        .iter()
        .map(|&c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let carets = "^".repeat(width.min(to.saturating_sub(col)).max(1));
    let number = (line + 1).to_string();
    let gutter = " ".repeat(number.len());
    let prefix_pad = " ".repeat(prefix.chars().count());
    format!("{number} | {prefix}{shown}{suffix}\n{gutter} | {prefix_pad}{pad}{carets}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_chars() {
        let text = "ab\r\ncé d\nx\u{2028}y";
        let index = LineIndex::new(text);
        assert_eq!(index.line_col(text, 0), (1, 1));
        assert_eq!(index.line_col(text, 4), (2, 1));
        // "d" is after "cé " (4 bytes, 3 chars).
        let d = text.find('d').unwrap_or(0);
        assert_eq!(index.line_col(text, d), (2, 4));
        let y = text.find('y').unwrap_or(0);
        assert_eq!(index.line_col(text, y), (4, 1));
        assert_eq!(index.line_text(text, 1), Some("cé d"));
    }

    #[test]
    fn frame_has_line_and_caret() {
        let src = "let a = 1;\nlet b = (;\n";
        let d = Diagnostic::at("x.js", src, 19, 20, "Unexpected token".into());
        assert_eq!((d.line, d.column), (2, 9));
        assert_eq!(d.frame, "2 | let b = (;\n  |         ^");
        assert_eq!(
            d.to_string(),
            "x.js:2:9: Unexpected token\n2 | let b = (;\n  |         ^"
        );
    }

    #[test]
    fn long_lines_are_cut_around_the_position() {
        let src = format!("{}X{}", "a".repeat(500), "b".repeat(500));
        let d = Diagnostic::at("min.js", &src, 500, 501, "here".into());
        let lines: Vec<&str> = d.frame.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].chars().count() < 200);
        let x = lines[0].chars().position(|c| c == 'X');
        let caret = lines[1].chars().position(|c| c == '^');
        assert_eq!(x, caret);
    }

    #[test]
    fn sizes_are_human_readable() {
        assert_eq!(human_bytes(10 * 1024 * 1024), "10 MiB");
        assert_eq!(human_bytes(2048), "2 KiB");
        assert_eq!(human_bytes(100), "100 B");
    }
}
