//! API key material: generation (`kiln_` + 192 random bits as hex), the visible prefix used for
//! lookup, and the keyed hash (HMAC-SHA-256 with the server's secret) that is all the store
//! keeps. Verification compares MACs in constant time. The secret comes from `auth.key_secret`
//! or is generated once and kept in the settings table, so every instance sharing a database
//! agrees on it.

use hmac::{Hmac, Mac};
use kiln_store::Store;
use sha2::Sha256;

/// Every key starts with this.
pub const KEY_PREFIX: &str = "kiln_";
/// Random bytes per key (192 bits).
const KEY_BYTES: usize = 24;
/// Hex characters of the key shown as its prefix (after `kiln_`).
const VISIBLE_HEX: usize = 8;
/// Settings row holding the generated secret (hex).
const SECRET_SETTING: &str = "api_key_secret";

/// The scopes a key may carry.
pub const SCOPES: [&str; 3] = ["execute", "invoke", "manage"];

type HmacSha256 = Hmac<Sha256>;

/// The server secret keys are hashed with.
#[derive(Clone)]
pub struct KeySecret(Vec<u8>);

impl KeySecret {
    /// The configured secret, or the stored one, or a new one (stored).
    pub async fn load(store: &dyn Store, configured: Option<&str>) -> anyhow::Result<KeySecret> {
        if let Some(secret) = configured {
            return Ok(KeySecret(secret.as_bytes().to_vec()));
        }
        if let Some(stored) = store.get_setting(SECRET_SETTING).await? {
            return Ok(KeySecret(hex::decode(stored.trim())?));
        }
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        store
            .set_setting(SECRET_SETTING, &hex::encode(random))
            .await?;
        // Another instance may have raced us: whatever is stored now wins.
        match store.get_setting(SECRET_SETTING).await? {
            Some(stored) => Ok(KeySecret(hex::decode(stored.trim())?)),
            None => Ok(KeySecret(random.to_vec())),
        }
    }

    /// A secret from raw bytes (tests).
    pub fn from_bytes(bytes: &[u8]) -> KeySecret {
        KeySecret(bytes.to_vec())
    }

    fn mac(&self) -> Option<HmacSha256> {
        HmacSha256::new_from_slice(&self.0).ok()
    }

    /// Hex HMAC of `key`.
    pub fn hash(&self, key: &str) -> String {
        match self.mac() {
            Some(mut mac) => {
                mac.update(key.as_bytes());
                hex::encode(mac.finalize().into_bytes())
            }
            None => String::new(),
        }
    }

    /// Whether `key` hashes to `stored_hex`, compared in constant time.
    pub fn verify(&self, key: &str, stored_hex: &str) -> bool {
        let (Some(mut mac), Ok(expected)) = (self.mac(), hex::decode(stored_hex)) else {
            return false;
        };
        mac.update(key.as_bytes());
        mac.verify_slice(&expected).is_ok()
    }
}

/// A new key: `(full key, visible prefix)`.
pub fn generate() -> anyhow::Result<(String, String)> {
    let mut random = [0u8; KEY_BYTES];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let key = format!("{KEY_PREFIX}{}", hex::encode(random));
    let prefix = key[..KEY_PREFIX.len() + VISIBLE_HEX].to_owned();
    Ok((key, prefix))
}

/// The visible prefix of something shaped like a key (`kiln_` + 48 lowercase hex), or `None`.
pub fn prefix_of(candidate: &str) -> Option<&str> {
    let hex = candidate.strip_prefix(KEY_PREFIX)?;
    let well_formed = hex.len() == KEY_BYTES * 2
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    well_formed.then(|| &candidate[..KEY_PREFIX.len() + VISIBLE_HEX])
}

/// Sorted, deduplicated scopes, or the first unknown one.
pub fn normalize_scopes(scopes: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for scope in scopes {
        if !SCOPES.contains(&scope.as_str()) {
            return Err(scope.clone());
        }
        if !out.contains(scope) {
            out.push(scope.clone());
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_recognisable() {
        let (key, prefix) = generate().unwrap();
        assert_eq!(key.len(), 5 + 48);
        assert!(key.starts_with(&prefix));
        assert_eq!(prefix.len(), 13);
        assert_eq!(prefix_of(&key), Some(prefix.as_str()));
        assert_ne!(generate().unwrap().0, key);
        assert_eq!(prefix_of("kiln_admin_0123"), None);
        assert_eq!(prefix_of(&key[..30]), None);
        assert_eq!(prefix_of(&key.to_uppercase()), None);
    }

    #[test]
    fn keyed_hash_depends_on_the_secret() {
        let a = KeySecret::from_bytes(b"secret-a-secret-a-secret-a-secret-a");
        let b = KeySecret::from_bytes(b"secret-b-secret-b-secret-b-secret-b");
        let (key, _) = generate().unwrap();
        let hash = a.hash(&key);
        assert!(a.verify(&key, &hash));
        assert!(!b.verify(&key, &hash));
        assert!(!a.verify(&format!("{key}x"), &hash));
        assert!(!a.verify(&key, "not-hex"));
    }

    #[test]
    fn scopes_are_checked_and_sorted() {
        let scopes = ["manage".to_string(), "execute".into(), "manage".into()];
        assert_eq!(
            normalize_scopes(&scopes).unwrap(),
            vec!["execute", "manage"]
        );
        assert_eq!(normalize_scopes(&["root".into()]), Err("root".to_string()));
    }
}
