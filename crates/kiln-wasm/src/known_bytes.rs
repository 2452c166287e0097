//! Recognising bytes seen before without hashing them again.
//!
//! Clients of `POST /execute` upload the same module with every call, and the module cache is
//! keyed by the SHA-256 of the bytes, which costs ~35 µs for a 64 KiB module — a large share of
//! a cached execution. [`KnownBytes`] keeps a copy of the bytes of recently prepared modules,
//! indexed by a cheap fingerprint (the length and a few sampled windows), and answers the
//! content hash of an upload when its bytes are *exactly equal* to a remembered copy: the
//! fingerprint only picks the candidate, the full comparison decides, so two different modules
//! can never share an answer (a fingerprint collision just costs the SHA-256 as before). The
//! copies are bounded in total size and per module.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

/// Largest module whose bytes are remembered: comparing is ~20 times cheaper than hashing, but
/// copies of big modules would crowd out many small ones.
pub(crate) const MAX_REMEMBERED_MODULE: usize = 4 * 1024 * 1024;
/// Bytes of remembered modules kept at most (least recently used ones go first).
const MAX_REMEMBERED_TOTAL: u64 = 64 * 1024 * 1024;
/// Size of each sampled window of the fingerprint.
const WINDOW: usize = 64;

/// A remembered module: its bytes and their content hash.
struct Known {
    bytes: Box<[u8]>,
    hash: Arc<str>,
}

/// Bytes of recently prepared modules, by fingerprint.
pub(crate) struct KnownBytes {
    entries: moka::sync::Cache<u64, Arc<Known>>,
    /// Seeds the fingerprint (fixed per process, so it stays a cheap lookup key).
    hasher: std::hash::RandomState,
}

impl KnownBytes {
    pub(crate) fn new() -> KnownBytes {
        KnownBytes {
            entries: moka::sync::Cache::builder()
                .max_capacity(MAX_REMEMBERED_TOTAL)
                .weigher(|_, known: &Arc<Known>| {
                    u32::try_from(known.bytes.len()).unwrap_or(u32::MAX)
                })
                .build(),
            hasher: std::hash::RandomState::new(),
        }
    }

    /// The length and three sampled windows (start, middle, end) of `bytes`, hashed.
    fn fingerprint(&self, bytes: &[u8]) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write_usize(bytes.len());
        let middle = bytes.len() / 2;
        for start in [
            0,
            middle.saturating_sub(WINDOW / 2),
            bytes.len().saturating_sub(WINDOW),
        ] {
            let end = bytes.len().min(start + WINDOW);
            hasher.write(&bytes[start..end]);
        }
        hasher.finish()
    }

    /// The content hash of `bytes` if exactly these bytes were remembered.
    pub(crate) fn hash_of(&self, bytes: &[u8]) -> Option<Arc<str>> {
        if bytes.len() > MAX_REMEMBERED_MODULE {
            return None;
        }
        let known = self.entries.get(&self.fingerprint(bytes))?;
        (*known.bytes == *bytes).then(|| known.hash.clone())
    }

    /// Remembers that `bytes` have content hash `hash` (small enough modules only).
    pub(crate) fn remember(&self, bytes: &[u8], hash: Arc<str>) {
        if bytes.len() > MAX_REMEMBERED_MODULE {
            return;
        }
        let known = Known {
            bytes: bytes.into(),
            hash,
        };
        self.entries
            .insert(self.fingerprint(bytes), Arc::new(known));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exactly_equal_bytes_are_recognised() {
        let known = KnownBytes::new();
        let module: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(known.hash_of(&module), None);
        known.remember(&module, Arc::from("h1"));
        assert_eq!(known.hash_of(&module).as_deref(), Some("h1"));

        // Same length and the same sampled windows, one byte different outside them: the
        // fingerprint collides on purpose, the comparison tells them apart.
        let mut twin = module.clone();
        twin[1_000] ^= 1;
        assert_eq!(known.fingerprint(&twin), known.fingerprint(&module));
        assert_eq!(known.hash_of(&twin), None);
        // The twin replaces the remembered copy under the shared fingerprint; each still
        // answers only for itself.
        known.remember(&twin, Arc::from("h2"));
        assert_eq!(known.hash_of(&twin).as_deref(), Some("h2"));
        assert_eq!(known.hash_of(&module), None);

        // Tiny inputs (shorter than a window) work too.
        known.remember(b"\0asm", Arc::from("h3"));
        assert_eq!(known.hash_of(b"\0asm").as_deref(), Some("h3"));
        assert_eq!(known.hash_of(b"\0asn"), None);
    }

    #[test]
    fn big_modules_are_not_remembered() {
        let known = KnownBytes::new();
        let big = vec![7u8; MAX_REMEMBERED_MODULE + 1];
        known.remember(&big, Arc::from("big"));
        assert_eq!(known.hash_of(&big), None);
    }
}
