//! Source maps of transpiled modules and the rewriting of `file:line:col` positions in QuickJS
//! stack traces and messages from generated code back to the original TypeScript/JSX source.
//!
//! Conventions: QuickJS (quickjs-ng) reports 1-based lines and 1-based columns counted in bytes;
//! source maps use 0-based lines and UTF-16 columns; Kiln shows 1-based lines and 1-based
//! character columns (as [`super::Diagnostic`] does).

use super::diagnostics::{LineIndex, to_u32};

/// One mapping: generated (line, UTF-16 column) → original (line, UTF-16 column), all 0-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct MapToken {
    dst_line: u32,
    dst_col: u32,
    src_line: u32,
    src_col: u32,
}

/// The source map of one transpiled module, indexed for lookups.
#[derive(Debug, Clone)]
pub(crate) struct SourceMapping {
    /// Sorted by generated position.
    tokens: Vec<MapToken>,
    /// The source map as JSON (version 3).
    json: String,
}

impl SourceMapping {
    /// Builds the index from `(dst_line, dst_col, src_line, src_col)` tuples.
    pub(crate) fn new(tokens: impl Iterator<Item = (u32, u32, u32, u32)>, json: String) -> Self {
        let mut tokens: Vec<MapToken> = tokens
            .map(|(dst_line, dst_col, src_line, src_col)| MapToken {
                dst_line,
                dst_col,
                src_line,
                src_col,
            })
            .collect();
        tokens.sort_unstable();
        SourceMapping { tokens, json }
    }

    pub(crate) fn json(&self) -> &str {
        &self.json
    }

    /// The original 0-based (line, UTF-16 column) of generated 0-based (line, UTF-16 column):
    /// the closest mapping at or before the position on the same line, else the first mapping
    /// of the line, else the closest mapping before the line.
    fn lookup(&self, line: u32, col: u32) -> Option<(u32, u32)> {
        let after = self
            .tokens
            .partition_point(|t| (t.dst_line, t.dst_col) <= (line, col));
        let before = after.checked_sub(1).and_then(|i| self.tokens.get(i));
        let token = match before {
            Some(t) if t.dst_line == line => Some(t),
            _ => match self.tokens.get(after) {
                Some(t) if t.dst_line == line => Some(t),
                _ => before,
            },
        }?;
        Some((token.src_line, token.src_col))
    }

    /// Maps a QuickJS position (1-based line, optional 1-based byte column) in `generated` to
    /// the 1-based (line, optional character column) in `original`.
    pub(crate) fn original_position(
        &self,
        generated: &str,
        original: &str,
        line: u32,
        col: Option<u32>,
    ) -> Option<(u32, Option<u32>)> {
        let line0 = line.checked_sub(1)?;
        let gen_line = generated.split('\n').nth(line0 as usize).unwrap_or("");
        let gen_col = match col {
            Some(c) => utf16_len(prefix_bytes(gen_line, c.saturating_sub(1) as usize)),
            None => 0,
        };
        let (src_line, src_col16) = self.lookup(line0, gen_col)?;
        let index = LineIndex::new(original);
        let src_text = index.line_text(original, src_line as usize).unwrap_or("");
        let char_col = chars_in_utf16_prefix(src_text, src_col16 as usize);
        Some((src_line + 1, col.map(|_| to_u32(char_col + 1))))
    }
}

/// The longest prefix of `s` of at most `bytes` bytes that ends on a char boundary.
fn prefix_bytes(s: &str, bytes: usize) -> &str {
    let mut end = bytes.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn utf16_len(s: &str) -> u32 {
    to_u32(s.encode_utf16().count())
}

/// Number of chars of `s` that fit in `units` UTF-16 code units.
fn chars_in_utf16_prefix(s: &str, units: usize) -> usize {
    let mut used = 0;
    let mut chars = 0;
    for c in s.chars() {
        used += c.len_utf16();
        if used > units {
            break;
        }
        chars += 1;
    }
    chars
}

/// Characters that cannot be part of a module path in a stack trace.
fn is_delimiter(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'"' | b'\'' | b'`' | b','
        )
        || matches!(b, b'<' | b'>' | b'@' | b'=' | b';' | b':')
}

/// Rewrites every `path:line` / `path:line:col` in `text` for which `map` returns the original
/// position; leaves everything else as is. `map(path, line, col)` gets 1-based numbers.
pub(crate) fn remap_text(
    text: &str,
    map: impl Fn(&str, u32, Option<u32>) -> Option<(u32, Option<u32>)>,
) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b':' || !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            continue;
        }
        let mut start = i;
        while start > copied && !is_delimiter(bytes[start - 1]) {
            start -= 1;
        }
        let path = &text[start..i];
        let (line, after_line) = digits(bytes, i + 1);
        let (col, end) = if bytes.get(after_line) == Some(&b':')
            && bytes.get(after_line + 1).is_some_and(u8::is_ascii_digit)
        {
            let (col, end) = digits(bytes, after_line + 1);
            (Some(col), end)
        } else {
            (None, after_line)
        };
        let mapped = if path.is_empty() {
            None
        } else {
            line.and_then(|l| map(path, l, col.flatten()))
        };
        match mapped {
            Some((new_line, new_col)) => {
                out.push_str(&text[copied..=i]);
                out.push_str(&new_line.to_string());
                if let Some(c) = new_col {
                    out.push(':');
                    out.push_str(&c.to_string());
                }
                copied = end;
                i = end;
            }
            None => i = after_line,
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Parses the ASCII digits at `from`; returns the number (None on overflow) and the end index.
fn digits(bytes: &[u8], from: usize) -> (Option<u32>, usize) {
    let mut end = from;
    while bytes.get(end).is_some_and(u8::is_ascii_digit) {
        end += 1;
    }
    let n = std::str::from_utf8(&bytes[from..end])
        .ok()
        .and_then(|s| s.parse().ok());
    (n, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> SourceMapping {
        // generated line 0 col 0 -> original 3:0, gen 0:10 -> orig 3:12, gen 2:4 -> orig 9:2
        SourceMapping::new(
            [(0, 0, 3, 0), (0, 10, 3, 12), (2, 4, 9, 2)].into_iter(),
            String::new(),
        )
    }

    #[test]
    fn lookup_prefers_same_line() {
        let m = mapping();
        assert_eq!(m.lookup(0, 0), Some((3, 0)));
        assert_eq!(m.lookup(0, 9), Some((3, 0)));
        assert_eq!(m.lookup(0, 11), Some((3, 12)));
        assert_eq!(m.lookup(2, 0), Some((9, 2)), "first token of the line");
        assert_eq!(
            m.lookup(1, 5),
            Some((3, 12)),
            "no token on the line: closest before"
        );
    }

    #[test]
    fn remap_text_rewrites_only_known_paths() {
        let text = "Error: boom\n    at f (main.ts:1:11)\n    at lib.js:4:2\n    at main.ts:3\nsub/main.ts:1:1";
        let out = remap_text(text, |path, line, col| {
            (path == "main.ts").then(|| (line + 100, col.map(|c| c + 1)))
        });
        assert_eq!(
            out,
            "Error: boom\n    at f (main.ts:101:12)\n    at lib.js:4:2\n    at main.ts:103\nsub/main.ts:1:1"
        );
    }

    #[test]
    fn original_position_converts_columns() {
        let m = SourceMapping::new([(0, 0, 0, 0), (0, 5, 1, 4)].into_iter(), String::new());
        let generated = "f(); g();";
        let original = "// é\nabc g();";
        // QuickJS column 6 (1-based bytes) is generated UTF-16 col 5 -> original line 2, col 5.
        assert_eq!(
            m.original_position(generated, original, 1, Some(6)),
            Some((2, Some(5)))
        );
        assert_eq!(
            m.original_position(generated, original, 1, None),
            Some((1, None))
        );
        assert_eq!(m.original_position(generated, original, 0, None), None);
    }
}
