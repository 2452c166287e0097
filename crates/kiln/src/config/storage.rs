//! The `[kv]` section: quotas and size caps of scripts' key/value storage.

use serde::{Deserialize, Serialize};

use super::ConfigProblem;

/// Scripts' key/value storage (`[kv]`). Quotas are per script, over the script's own space and
/// every `kv.user` space together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KvConfig {
    /// Most entries one script may keep.
    pub max_keys: u64,
    /// Most bytes (keys plus JSON values) one script may keep.
    pub max_bytes: u64,
    /// Longest key, in bytes.
    pub max_key_bytes: usize,
    /// Largest value, in bytes of its JSON text.
    pub max_value_bytes: usize,
}

impl Default for KvConfig {
    fn default() -> Self {
        KvConfig {
            max_keys: 100_000,
            max_bytes: 100 * 1024 * 1024,
            max_key_bytes: 512,
            max_value_bytes: 1024 * 1024,
        }
    }
}

impl KvConfig {
    /// Problems with the `[kv]` values.
    pub(super) fn validate(&self, problems: &mut Vec<ConfigProblem>) {
        for (key, value) in [
            ("max_keys", self.max_keys),
            ("max_bytes", self.max_bytes),
            ("max_key_bytes", self.max_key_bytes as u64),
            ("max_value_bytes", self.max_value_bytes as u64),
        ] {
            if value == 0 {
                problems.push(ConfigProblem::new(
                    format!("kv.{key}"),
                    "must be at least 1".to_owned(),
                ));
            }
        }
    }
}
