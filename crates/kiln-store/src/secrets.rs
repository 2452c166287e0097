//! Scripts' secrets at rest: the [`SecretStore`] trait behind `kiln secrets` and `ctx.env`.
//!
//! The store never sees a secret's value: the server encrypts it first and hands over a
//! [`SealedSecret`] (nonce and ciphertext), which comes back byte for byte. Secrets are keyed by
//! (script, name); a script's secrets are deleted with it ([`Store::delete_script`]). Listing
//! returns the sealed values too, because the server decrypts a script's whole set at once
//! when it builds `ctx.env`; the management API shows only names and timestamps.
//!
//! [`Store::delete_script`]: crate::Store::delete_script

use async_trait::async_trait;

use crate::StoreError;

/// An encrypted secret value as stored: opaque bytes chosen by the server.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// The nonce the value was encrypted with (unique per value).
    pub nonce: Vec<u8>,
    /// The ciphertext, authentication tag included.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for SealedSecret {
    /// Sizes only: ciphertext is no use in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedSecret")
            .field("nonce_len", &self.nonce.len())
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// One stored secret of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRecord {
    /// The script it belongs to.
    pub script: String,
    /// Its name (as the script sees it in `ctx.env`).
    pub name: String,
    /// The encrypted value.
    pub sealed: SealedSecret,
    /// When it was first set (unix ms).
    pub created_at: i64,
    /// When its value last changed (unix ms).
    pub updated_at: i64,
}

/// Encrypted per-script secrets.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Sets `script`'s secret `name` to `sealed`, replacing any previous value (keeping its
    /// `created_at`). Returns whether the secret is new. Fails with
    /// [`StoreError::LimitExceeded`] (and changes nothing) when it is new and the script
    /// already has `max_per_script` secrets.
    async fn put_secret(
        &self,
        script: &str,
        name: &str,
        sealed: &SealedSecret,
        now: i64,
        max_per_script: u32,
    ) -> Result<bool, StoreError>;

    /// Every secret of `script`, sorted by name (byte order).
    async fn list_secrets(&self, script: &str) -> Result<Vec<SecretRecord>, StoreError>;

    /// Deletes `script`'s secret `name`; returns whether it existed.
    async fn delete_secret(&self, script: &str, name: &str) -> Result<bool, StoreError>;
}
