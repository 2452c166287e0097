//! The `[secrets]` section (where the master key of scripts' secrets lives, size caps, cache
//! lifetime) and the checks of the top-level `master_key` (`KILN_MASTER_KEY`).

use std::path::PathBuf;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::ConfigProblem;

/// Bytes of the master key (AES-256).
pub const MASTER_KEY_BYTES: usize = 32;

/// Scripts' secrets (`[secrets]`). The master key comes from `master_key` (the environment
/// variable `KILN_MASTER_KEY`, base64), else from `master_key_file`, else from
/// `<data_dir>/master.key`, generated on first start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// File holding the master key (32 random bytes, or their base64); must not be readable
    /// by group or others. `None`: `<data_dir>/master.key`, created when missing.
    pub master_key_file: Option<PathBuf>,
    /// Largest secret value, in bytes: secrets are for keys and tokens, not documents.
    pub max_value_bytes: usize,
    /// Most secrets one script may have (stops a script's `ctx.env` from growing unbounded).
    pub max_per_script: u32,
    /// How long a server reuses a script's decrypted secrets before reading them again, in
    /// milliseconds. A change made through this server applies at once; this bounds how long
    /// other servers sharing the database keep the old values.
    pub cache_ttl_ms: u64,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        SecretsConfig {
            master_key_file: None,
            max_value_bytes: 64 * 1024,
            max_per_script: 100,
            cache_ttl_ms: 1_000,
        }
    }
}

impl SecretsConfig {
    /// Problems with the `[secrets]` values and the top-level `master_key`.
    pub(super) fn validate(&self, master_key: Option<&str>, problems: &mut Vec<ConfigProblem>) {
        if self.max_value_bytes == 0 || self.max_value_bytes > 1024 * 1024 {
            problems.push(ConfigProblem::new(
                "secrets.max_value_bytes",
                format!(
                    "must be between 1 and 1048576 (got {})",
                    self.max_value_bytes
                ),
            ));
        }
        if self.max_per_script == 0 || self.max_per_script > 10_000 {
            problems.push(ConfigProblem::new(
                "secrets.max_per_script",
                format!("must be between 1 and 10000 (got {})", self.max_per_script),
            ));
        }
        if self.cache_ttl_ms > 3_600_000 {
            problems.push(ConfigProblem::new(
                "secrets.cache_ttl_ms",
                format!("must be between 0 and 3600000 (got {})", self.cache_ttl_ms),
            ));
        }
        if let Some(key) = master_key {
            if let Err(message) = decode_master_key(key) {
                problems.push(ConfigProblem::new("master_key", message));
            } else if self.master_key_file.is_some() {
                problems.push(ConfigProblem::new(
                    "master_key",
                    "give either master_key (KILN_MASTER_KEY) or secrets.master_key_file, not both",
                ));
            }
        }
    }
}

/// The 32 bytes of a base64 master key (standard alphabet, padding optional; surrounding
/// whitespace ignored), or why it is not one. The message never contains the key.
pub fn decode_master_key(text: &str) -> Result<[u8; MASTER_KEY_BYTES], String> {
    let text = text.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .map_err(|_| {
            format!("must be the base64 of {MASTER_KEY_BYTES} random bytes (e.g. `openssl rand -base64 32`); it is not valid base64")
        })?;
    <[u8; MASTER_KEY_BYTES]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "must be the base64 of {MASTER_KEY_BYTES} random bytes (e.g. `openssl rand -base64 32`); it decodes to {} bytes",
            bytes.len()
        )
    })
}
