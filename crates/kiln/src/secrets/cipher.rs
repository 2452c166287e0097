//! Sealing and opening secret values with AES-256-GCM under the master key.
//!
//! Every value gets a fresh random 96-bit nonce (from the OS). The associated data binds the
//! ciphertext to its script and secret name, so a row copied to another script or renamed in
//! the database fails to open instead of handing one script another's value. Opening with a
//! different master key fails the same way (the tag does not verify): never garbage.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use kiln_store::SealedSecret;

use crate::config::MASTER_KEY_BYTES;

/// Bytes of a nonce (AES-GCM's standard 96 bits).
const NONCE_BYTES: usize = 12;
/// Prefix of the associated data; a new format would change it.
const AAD_PREFIX: &[u8] = b"kiln-secret-v1\0";

/// Why a value could not be sealed or opened. Messages never contain values.
#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    /// The OS random source failed.
    #[error("could not get random bytes for a nonce: {0}")]
    Random(getrandom::Error),
    /// AES-GCM refused to encrypt (only for absurd lengths).
    #[error("could not encrypt the value")]
    Seal,
    /// The tag did not verify: another master key, or the row was altered or moved.
    #[error(
        "cannot decrypt: it was encrypted with another master key, or its row was altered or moved"
    )]
    Open,
    /// Decrypted bytes are not UTF-8 (values are always stored as text).
    #[error("decrypted value is not UTF-8 text")]
    NotText,
}

/// AES-256-GCM under the master key.
pub struct SecretCipher {
    /// The keyed cipher (the key itself is not kept elsewhere).
    aead: Aes256Gcm,
}

impl SecretCipher {
    /// A cipher for `key`.
    pub fn new(key: &[u8; MASTER_KEY_BYTES]) -> Self {
        SecretCipher {
            aead: Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key)),
        }
    }

    /// Encrypts `value` as `script`'s secret `name`.
    pub fn seal(&self, script: &str, name: &str, value: &str) -> Result<SealedSecret, CipherError> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(CipherError::Random)?;
        let aad = associated_data(script, name);
        let ciphertext = self
            .aead
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| CipherError::Seal)?;
        Ok(SealedSecret {
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Decrypts `script`'s secret `name`.
    pub fn open(
        &self,
        script: &str,
        name: &str,
        sealed: &SealedSecret,
    ) -> Result<String, CipherError> {
        let nonce = <[u8; NONCE_BYTES]>::try_from(sealed.nonce.as_slice())
            .map_err(|_| CipherError::Open)?;
        let aad = associated_data(script, name);
        let plain = self
            .aead
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| CipherError::Open)?;
        String::from_utf8(plain).map_err(|_| CipherError::NotText)
    }
}

/// `kiln-secret-v1\0<script>\0<name>`: neither a script name nor a secret name can contain NUL,
/// so the encoding is unambiguous.
fn associated_data(script: &str, name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_PREFIX.len() + script.len() + name.len() + 1);
    aad.extend_from_slice(AAD_PREFIX);
    aad.extend_from_slice(script.as_bytes());
    aad.push(0);
    aad.extend_from_slice(name.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_open_only_as_their_script_and_name_under_their_key() {
        let cipher = SecretCipher::new(&[7; MASTER_KEY_BYTES]);
        let sealed = cipher.seal("shop", "TOKEN", "s3cret value").unwrap();
        assert_eq!(sealed.nonce.len(), NONCE_BYTES);
        assert!(
            !sealed.ciphertext.windows(6).any(|w| w == b"s3cret"),
            "ciphertext is not the plaintext"
        );
        assert_eq!(
            cipher.open("shop", "TOKEN", &sealed).unwrap(),
            "s3cret value"
        );
        assert!(matches!(
            cipher.open("blog", "TOKEN", &sealed),
            Err(CipherError::Open)
        ));
        assert!(matches!(
            cipher.open("shop", "OTHER", &sealed),
            Err(CipherError::Open)
        ));
        let other_key = SecretCipher::new(&[8; MASTER_KEY_BYTES]);
        let error = other_key.open("shop", "TOKEN", &sealed).unwrap_err();
        assert!(error.to_string().contains("another master key"), "{error}");
        let again = cipher.seal("shop", "TOKEN", "s3cret value").unwrap();
        assert_ne!(again.nonce, sealed.nonce, "a fresh nonce per value");
    }
}
