//! Scripts' secrets: encrypted at rest, managed through the API (`kiln secrets`), delivered to
//! handlers as `ctx.env`, and kept out of script logs.
//!
//! [`SecretsService`] owns the master key's cipher ([`cipher`], key loading in [`master_key`]),
//! the store's sealed rows and a short-lived cache of each script's decrypted set
//! ([`ScriptSecrets`], in [`cache`]). A script's set becomes one [`kiln_js::EnvOverlay`] laid
//! over its version's variables (`crate::env_vars`) in each invocation — secrets win over a
//! variable of the same name — and one [`Redactor`] applied to every log line the script
//! writes ([`crate::script_logs`]). Values only ever leave this module towards the script they
//! belong to: the management API lists names and timestamps, audit entries carry names.

pub mod cache;
pub mod cipher;
pub mod master_key;
pub mod redact;

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use kiln_js::EnvOverlay;
use kiln_store::{SecretRecord, Store, StoreError};

use crate::config::{MASTER_KEY_BYTES, SecretsConfig};
use crate::error::ApiError;
use cache::SecretsCache;
use cipher::{CipherError, SecretCipher};
pub use redact::{MIN_REDACTED_LEN, REDACTED, Redactor};

/// A script's decrypted secrets, as invocations and the log writer use them.
#[derive(Default)]
pub struct ScriptSecrets {
    /// Laid over `ctx.env`; `None` when the script has no secrets.
    pub overlay: Option<Arc<EnvOverlay>>,
    /// Removes the values from log lines.
    pub redactor: Redactor,
}

/// Why a secrets operation failed. Messages never contain values.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The name breaks the naming rules.
    #[error("{0}")]
    InvalidName(String),
    /// The value is larger than `secrets.max_value_bytes`.
    #[error("the value is {len} bytes; secrets may be at most {max} bytes")]
    TooLarge {
        /// The value's size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A stored secret could not be decrypted.
    #[error("secret {name} of script {script:?} {source}")]
    Undecryptable {
        /// The script.
        script: String,
        /// The secret's name.
        name: String,
        /// Why.
        #[source]
        source: CipherError,
    },
    /// Encrypting failed.
    #[error("could not encrypt the secret: {0}")]
    Seal(#[source] CipherError),
    /// The store failed or refused (e.g. the per-script cap).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<SecretsError> for ApiError {
    fn from(error: SecretsError) -> Self {
        match error {
            SecretsError::InvalidName(message) => {
                ApiError::new(StatusCode::BAD_REQUEST, "INVALID_SECRET_NAME", message)
            }
            error @ SecretsError::TooLarge { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "SECRET_TOO_LARGE",
                error.to_string(),
            ),
            error @ SecretsError::Undecryptable { .. } => {
                tracing::error!(%error, "a script secret could not be decrypted");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "SECRETS_UNAVAILABLE",
                    format!(
                        "{error}; check that the server runs with the master key the secrets \
                         were set with, or set the secret again"
                    ),
                )
            }
            SecretsError::Store(StoreError::LimitExceeded { message }) => {
                ApiError::new(StatusCode::CONFLICT, "TOO_MANY_SECRETS", message)
            }
            SecretsError::Store(error) => error.into(),
            error @ SecretsError::Seal(_) => ApiError::internal(error),
        }
    }
}

/// A secret as the management API shows it: no value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretInfo {
    /// Its name.
    pub name: String,
    /// When it was first set (unix ms).
    pub created_at: i64,
    /// When its value last changed (unix ms).
    pub updated_at: i64,
}

/// Scripts' secrets: management, delivery, redaction.
pub struct SecretsService {
    /// Sealed rows.
    store: Arc<dyn Store>,
    /// AES-256-GCM under the master key.
    cipher: SecretCipher,
    /// Size caps and cache lifetime.
    config: SecretsConfig,
    /// Decrypted sets, per script.
    cache: SecretsCache,
}

impl SecretsService {
    /// A service encrypting with `master_key`.
    pub fn new(
        store: Arc<dyn Store>,
        master_key: &[u8; MASTER_KEY_BYTES],
        config: SecretsConfig,
    ) -> Self {
        SecretsService {
            store,
            cipher: SecretCipher::new(master_key),
            cache: SecretsCache::new(Duration::from_millis(config.cache_ttl_ms)),
            config,
        }
    }

    /// Sets `script`'s secret `name`; returns whether it is new. Visible to the script's next
    /// invocation on this server.
    pub async fn set(&self, script: &str, name: &str, value: &str) -> Result<bool, SecretsError> {
        crate::env_vars::check_name(name).map_err(SecretsError::InvalidName)?;
        if value.len() > self.config.max_value_bytes {
            return Err(SecretsError::TooLarge {
                len: value.len(),
                max: self.config.max_value_bytes,
            });
        }
        let sealed = self
            .cipher
            .seal(script, name, value)
            .map_err(SecretsError::Seal)?;
        let now = crate::auth::now_ms();
        let created = self
            .store
            .put_secret(script, name, &sealed, now, self.config.max_per_script)
            .await?;
        self.cache.invalidate(script);
        Ok(created)
    }

    /// The names and timestamps of `script`'s secrets, sorted by name.
    pub async fn list(&self, script: &str) -> Result<Vec<SecretInfo>, SecretsError> {
        Ok(self
            .store
            .list_secrets(script)
            .await?
            .into_iter()
            .map(|record| SecretInfo {
                name: record.name,
                created_at: record.created_at,
                updated_at: record.updated_at,
            })
            .collect())
    }

    /// Deletes `script`'s secret `name`; returns whether it existed.
    pub async fn remove(&self, script: &str, name: &str) -> Result<bool, SecretsError> {
        crate::env_vars::check_name(name).map_err(SecretsError::InvalidName)?;
        let removed = self.store.delete_secret(script, name).await?;
        self.cache.invalidate(script);
        Ok(removed)
    }

    /// Forgets what is cached for `script` (its secrets were deleted with it).
    pub fn forget(&self, script: &str) {
        self.cache.invalidate(script);
    }

    /// `script`'s decrypted secrets when they are cached (the request path's fast case).
    pub fn cached(&self, script: &str) -> Option<Arc<ScriptSecrets>> {
        self.cache.get(script)
    }

    /// `script`'s decrypted secrets, from the cache or the store. Fails when a stored value
    /// cannot be decrypted (another master key): never hands out garbage.
    pub async fn for_script(&self, script: &str) -> Result<Arc<ScriptSecrets>, SecretsError> {
        if let Some(secrets) = self.cache.get(script) {
            return Ok(secrets);
        }
        let epoch = self.cache.epoch();
        let records = self.store.list_secrets(script).await?;
        let secrets = Arc::new(self.open_all(script, records)?);
        self.cache.insert(script, secrets.clone(), epoch);
        Ok(secrets)
    }

    /// Decrypts a script's rows into its [`ScriptSecrets`].
    fn open_all(
        &self,
        script: &str,
        records: Vec<SecretRecord>,
    ) -> Result<ScriptSecrets, SecretsError> {
        if records.is_empty() {
            return Ok(ScriptSecrets::default());
        }
        let mut values = Vec::with_capacity(records.len());
        for record in records {
            let value = self
                .cipher
                .open(script, &record.name, &record.sealed)
                .map_err(|source| SecretsError::Undecryptable {
                    script: script.to_owned(),
                    name: record.name.clone(),
                    source,
                })?;
            values.push((record.name, value));
        }
        let redactor = Redactor::new(values.iter().map(|(_, value)| value.as_str()));
        Ok(ScriptSecrets {
            overlay: Some(Arc::new(EnvOverlay::new(values))),
            redactor,
        })
    }
}
