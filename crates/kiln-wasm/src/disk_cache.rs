//! Compiled modules on disk, so a restart does not recompile every stored module.
//!
//! An artifact is `Module::serialize` output followed by the SHA-256 of that output, stored as
//! `<sha256 of the wasm bytes>-<engine fingerprint>.cwasm`. The fingerprint hashes wasmtime's
//! `Engine::precompile_compatibility_hash` (wasmtime version, target, and the settings that
//! shape compiled code), so a new wasmtime or a changed engine configuration never picks up
//! old artifacts. Files are written to a temporary file in the same directory and renamed into
//! place, so a reader never sees a partial artifact. An artifact that is missing, fails its
//! checksum or is refused by wasmtime is simply compiled again and replaced. Opening the cache
//! removes what can never be used again: artifacts of another engine fingerprint (an older
//! wasmtime) and temporary files left by a crash. Nothing else is evicted; the directory holds
//! one artifact per distinct module prepared.
#![allow(unsafe_code)]

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

/// Version of the artifact layout; bump it when the file format changes.
const FORMAT: &[u8] = b"kiln-wasm-artifact-v1";
/// Name prefix of artifacts being written.
const TMP_PREFIX: &str = ".tmp-";
/// Length of the SHA-256 trailer.
const DIGEST_LEN: usize = 32;

/// The on-disk half of the module cache.
pub(crate) struct DiskCache {
    dir: PathBuf,
    fingerprint: String,
}

/// SHA-256 of `bytes`, lower-case hex: the content hash modules are cached under.
pub(crate) fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Feeds `Hash` output into SHA-256, which (unlike `DefaultHasher`) is stable across Rust
/// versions and processes.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Identifies the compiled-code compatibility of `engine` (wasmtime version and settings).
fn engine_fingerprint(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    hasher.write(FORMAT);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = hasher.0.finalize();
    hex::encode(&digest[..8])
}

impl DiskCache {
    /// Opens (creating it if needed) the cache directory `dir` for artifacts of `engine`.
    pub(crate) fn open(dir: &Path, engine: &Engine) -> std::io::Result<DiskCache> {
        fs::create_dir_all(dir)?;
        let cache = DiskCache {
            dir: dir.to_path_buf(),
            fingerprint: engine_fingerprint(engine),
        };
        cache.prune()?;
        Ok(cache)
    }

    /// Removes stale artifacts (another fingerprint) and leftover temporary files.
    fn prune(&self) -> std::io::Result<()> {
        let current = format!("-{}.cwasm", self.fingerprint);
        let mut removed = 0usize;
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let stale = name.ends_with(".cwasm") && !name.ends_with(&current);
            if stale || name.starts_with(TMP_PREFIX) {
                match fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(err) => {
                        tracing::warn!(path = %path.display(), error = %err, "cannot remove stale wasm artifact");
                    }
                }
            }
        }
        if removed > 0 {
            tracing::info!(dir = %self.dir.display(), removed, "removed stale compiled wasm artifacts");
        }
        Ok(())
    }

    /// Where the artifact for the module with content hash `hash` lives.
    pub(crate) fn path(&self, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}-{}.cwasm", self.fingerprint))
    }

    /// Loads the artifact for `hash`, or `None` if there is none or it cannot be used.
    pub(crate) fn load(&self, engine: &Engine, hash: &str) -> Option<Module> {
        let path = self.path(hash);
        let file = match fs::read(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "cannot read compiled wasm artifact; recompiling");
                return None;
            }
        };
        let Some(split) = file.len().checked_sub(DIGEST_LEN) else {
            tracing::warn!(path = %path.display(), "truncated compiled wasm artifact; recompiling");
            return None;
        };
        let (artifact, digest) = file.split_at(split);
        if Sha256::digest(artifact)[..] != *digest {
            tracing::warn!(path = %path.display(), "corrupt compiled wasm artifact (checksum mismatch); recompiling");
            return None;
        }
        // SAFETY: `Module::deserialize` trusts its input to be wasmtime's own output. These
        // bytes are: the file lives in Kiln's cache directory, which only `store` below writes
        // (serialize output + its SHA-256, via temp file + rename, so never partially), and the
        // checksum just verified that the bytes are exactly what `store` wrote. Artifacts from
        // another wasmtime version or engine configuration have another file name
        // (fingerprint), and wasmtime itself also rejects them with an error. The remaining
        // assumption is that nobody else writes into Kiln's data directory; whoever can do
        // that already controls the host.
        match unsafe { Module::deserialize(engine, artifact) } {
            Ok(module) => Some(module),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "incompatible compiled wasm artifact; recompiling");
                None
            }
        }
    }

    /// Writes the artifact for `hash` atomically. Failures are logged, never fatal: the module
    /// is compiled and usable either way.
    pub(crate) fn store(&self, hash: &str, module: &Module) {
        if let Err(err) = self.try_store(hash, module) {
            tracing::warn!(dir = %self.dir.display(), error = %err, "cannot write compiled wasm artifact");
        }
    }

    fn try_store(&self, hash: &str, module: &Module) -> std::io::Result<()> {
        let artifact = module.serialize().map_err(std::io::Error::other)?;
        let digest = Sha256::digest(&artifact);
        let mut tmp = tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .suffix(".cwasm")
            .tempfile_in(&self.dir)?;
        tmp.write_all(&artifact)?;
        tmp.write_all(&digest)?;
        tmp.as_file().sync_all()?;
        tmp.persist(self.path(hash)).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_is_sha256_hex() {
        assert_eq!(
            content_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn fingerprint_is_stable_for_an_engine() {
        let engine = Engine::default();
        assert_eq!(engine_fingerprint(&engine), engine_fingerprint(&engine));
        assert_eq!(engine_fingerprint(&engine).len(), 16);
    }
}
