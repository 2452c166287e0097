//! Replacing a script's secret values in its log lines with [`REDACTED`].
//!
//! Built once per loaded set of secrets: an Aho-Corasick automaton over every value at least
//! [`MIN_REDACTED_LEN`] bytes long (leftmost-longest, so a value containing another is replaced
//! whole). A script without such values gets an empty redactor, which costs one branch per
//! line. Shorter values are not redacted: replacing every `1` or `on` in a log would destroy
//! the log and reveal the value just as well.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, MatchKind};

/// What a secret value becomes in a log line.
pub const REDACTED: &str = "[REDACTED]";
/// Shortest value that is redacted, in bytes.
pub const MIN_REDACTED_LEN: usize = 4;

/// Finds a script's secret values in text.
#[derive(Default)]
pub struct Redactor {
    /// `None` when the script has no value worth redacting.
    matcher: Option<AhoCorasick>,
    /// The automaton could not be built: whole lines are replaced (fail closed).
    withhold_all: bool,
}

impl Redactor {
    /// A redactor for `values` (shorter ones than [`MIN_REDACTED_LEN`] are ignored).
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let patterns: Vec<&str> = values
            .into_iter()
            .filter(|v| v.len() >= MIN_REDACTED_LEN)
            .collect();
        if patterns.is_empty() {
            return Redactor::default();
        }
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns);
        match matcher {
            Ok(matcher) => Redactor {
                matcher: Some(matcher),
                withhold_all: false,
            },
            Err(error) => {
                // Only for absurd pattern sets (bounded by the secrets caps); fail closed.
                tracing::error!(%error, "could not build the secret redactor");
                Redactor::withholding_all()
            }
        }
    }

    /// A redactor replacing every line whole (when the script's secrets could not be read,
    /// what it may have logged cannot be checked).
    pub fn withholding_all() -> Self {
        Redactor {
            matcher: None,
            withhold_all: true,
        }
    }

    /// `text` with every secret value replaced by [`REDACTED`]; borrowed when nothing matched.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.withhold_all {
            return Cow::Borrowed(REDACTED);
        }
        match &self.matcher {
            Some(matcher) if matcher.is_match(text) => {
                let replacements = vec![REDACTED; matcher.patterns_len()];
                Cow::Owned(matcher.replace_all(text, &replacements))
            }
            _ => Cow::Borrowed(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_replaced_longest_first_and_short_ones_kept() {
        let redactor = Redactor::new(["hunter22", "hunter22-extended", "on", "abcd"]);
        assert_eq!(
            redactor.redact("pw=hunter22-extended, other=hunter22; on abcd!"),
            "pw=[REDACTED], other=[REDACTED]; on [REDACTED]!"
        );
        assert!(matches!(redactor.redact("nothing here"), Cow::Borrowed(_)));
        assert!(matches!(
            Redactor::new(["on"]).redact("on on"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(Redactor::default().redact("x"), Cow::Borrowed(_)));
        assert_eq!(Redactor::withholding_all().redact("anything"), REDACTED);
    }
}
