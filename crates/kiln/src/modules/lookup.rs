//! A short-lived in-memory copy of what executing a stored module by name reads first: the
//! (owner, name) → (content hash, size) of the module. Without it every
//! `POST /api/modules/{name}/execute` starts with a SQLite round trip; with it, a repeated
//! execution finds the compiled module by hash in the runtime's cache without touching the
//! store for the lookup.
//!
//! Entries live at most [`LOOKUP_TTL`], so a module replaced or deleted through another
//! instance sharing the database is seen within that time. Uploads and deletes through this
//! server call [`ModuleLookups::invalidate`], which applies to the very next execution: each
//! entry carries the generation read *before* its store read, and entries of older generations
//! are ignored, so a lookup racing with a change never brings the old module back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long a lookup may be served before it is read from the store again.
pub const LOOKUP_TTL: Duration = Duration::from_millis(500);
/// Entries kept at most (least recently used ones go first).
const MAX_ENTRIES: u64 = 10_000;

/// What an execution needs to know about a stored module before running it.
#[derive(Clone, Debug, PartialEq)]
pub struct ModuleRef {
    /// SHA-256 of the bytes (the runtime's cache key).
    pub hash: String,
    /// Size of the bytes.
    pub size_bytes: i64,
}

#[derive(Clone)]
struct Entry {
    generation: u64,
    module: ModuleRef,
}

/// The cache; one per server.
pub struct ModuleLookups {
    generation: AtomicU64,
    entries: moka::sync::Cache<(i64, String), Entry>,
}

impl Default for ModuleLookups {
    fn default() -> Self {
        ModuleLookups {
            generation: AtomicU64::new(0),
            entries: moka::sync::Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .time_to_live(LOOKUP_TTL)
                .build(),
        }
    }
}

impl ModuleLookups {
    /// The generation to tag a store read with; read it *before* reading the store.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The cached module `name` of `owner`, if fresh.
    pub fn get(&self, owner: i64, name: &str) -> Option<ModuleRef> {
        let entry = self.entries.get(&(owner, name.to_owned()))?;
        (entry.generation == self.generation()).then_some(entry.module)
    }

    /// Remembers a module read from the store under `generation`.
    pub fn insert(&self, owner: i64, name: &str, module: ModuleRef, generation: u64) {
        if generation == self.generation() {
            self.entries
                .insert((owner, name.to_owned()), Entry { generation, module });
        }
    }

    /// Forgets everything: a module was stored, replaced or deleted through this server.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::{ModuleLookups, ModuleRef};

    fn module(hash: &str) -> ModuleRef {
        ModuleRef {
            hash: hash.into(),
            size_bytes: 3,
        }
    }

    #[test]
    fn lookups_are_per_owner_and_name_and_dropped_on_invalidation() {
        let lookups = ModuleLookups::default();
        let generation = lookups.generation();
        lookups.insert(1, "calc", module("aa"), generation);
        assert_eq!(lookups.get(1, "calc"), Some(module("aa")));
        assert_eq!(lookups.get(2, "calc"), None);
        assert_eq!(lookups.get(1, "other"), None);
        lookups.invalidate();
        assert_eq!(lookups.get(1, "calc"), None);
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_cached() {
        let lookups = ModuleLookups::default();
        let before = lookups.generation();
        lookups.invalidate(); // the module changed while the store read was in flight
        lookups.insert(1, "calc", module("old"), before);
        assert_eq!(lookups.get(1, "calc"), None);
    }
}
