//! Password hashing with argon2id (PHC strings). Hashing is deliberately slow, so both
//! operations run on the blocking thread pool, never on a request thread; verifying against an
//! unknown account still burns the same time (a dummy hash) so response timing does not reveal
//! which emails exist.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest accepted password.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest accepted password (argon2 handles more, but nobody types this much).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The password breaks the length policy.
    #[error("passwords must be between {MIN_PASSWORD_CHARS} and {MAX_PASSWORD_CHARS} characters")]
    Policy,
    /// The hashing library failed (bad stored hash, no randomness).
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The blocking task was cancelled.
    #[error("password hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The argon2id parameters (OWASP's 19 MiB, 2 passes, 1 lane).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks the length policy.
pub fn check_policy(password: &str) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        Ok(())
    } else {
        Err(PasswordError::Policy)
    }
}

/// Hashes `password` (after checking the policy) into a PHC string.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    check_policy(&password)?;
    tokio::task::spawn_blocking(move || hash_now(&password)).await?
}

fn hash_now(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// A hash of a random password, verified against when the account does not exist.
static DUMMY_HASH: LazyLock<Option<String>> =
    LazyLock::new(|| hash_now("no account has this password, ever").ok());

/// Whether `password` matches `stored` (a PHC string). With `stored = None` (unknown account or
/// no password set) it does the same work and returns false.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, PasswordError> {
    tokio::task::spawn_blocking(move || {
        let (phc, real) = match &stored {
            Some(hash) => (Some(hash.as_str()), true),
            None => (DUMMY_HASH.as_deref(), false),
        };
        let Some(phc) = phc else { return Ok(false) };
        let parsed = PasswordHash::new(phc).map_err(|e| PasswordError::Hash(e.to_string()))?;
        let matches = argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(matches && real)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let a = hash("correct horse battery".into()).await.unwrap();
        let b = hash("correct horse battery".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(
            verify("correct horse battery".into(), Some(a.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse battery".into(), Some(a)).await.unwrap());
        assert!(!verify("correct horse battery".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn policy_rejects_short_passwords() {
        assert!(matches!(
            hash("short".into()).await,
            Err(PasswordError::Policy)
        ));
        assert!(check_policy(&"x".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
    }
}
