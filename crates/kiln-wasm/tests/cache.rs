//! The compiled-module cache: repeated prepares do not compile again, artifacts on disk are
//! reused by a new runtime, and a corrupt artifact is recompiled and replaced.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{HELLO, SPIN, runtime, wasm};
use kiln_wasm::{CacheStats, ExecRequest, ExecStatus, RuntimeConfig, WasmRuntime};

fn on_disk(dir: &Path) -> WasmRuntime {
    WasmRuntime::new(RuntimeConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..RuntimeConfig::default()
    })
    .unwrap()
}

fn artifacts(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn a_repeated_prepare_does_not_compile_again() {
    let rt = runtime();
    let bytes = wasm(HELLO);
    let first = rt.prepare(&bytes).unwrap();
    let second = rt.prepare(&bytes).unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(
        rt.cache_stats(),
        CacheStats {
            hits: 1,
            misses: 1,
            disk_hits: 0,
            entries: 1
        }
    );
    assert_eq!(first.hash().len(), 64);

    rt.prepare(&wasm(SPIN)).unwrap();
    let stats = rt.cache_stats();
    assert_eq!((stats.misses, stats.entries), (2, 2));
}

#[test]
fn a_prepared_module_is_found_by_its_hash() {
    let rt = runtime();
    assert!(rt.cached(&"0".repeat(64)).is_none());
    let prepared = rt.prepare(&wasm(HELLO)).unwrap();
    let found = rt.cached(prepared.hash()).expect("cached by hash");
    assert!(Arc::ptr_eq(&prepared, &found));
    let stats = rt.cache_stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));
}

#[test]
fn concurrent_prepares_of_a_new_module_compile_it_once() {
    let rt = runtime();
    let bytes = wasm(HELLO);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| rt.prepare(&bytes).unwrap());
        }
    });
    let stats = rt.cache_stats();
    assert_eq!((stats.misses, stats.hits), (1, 3));
}

#[test]
fn the_memory_cache_is_bounded() {
    let rt = WasmRuntime::new(RuntimeConfig {
        cache_entries: 2,
        ..RuntimeConfig::default()
    })
    .unwrap();
    for i in 0..5 {
        rt.prepare(&wasm(&format!(
            r#"(module (func (export "f{i}") (result i32) (i32.const {i})))"#
        )))
        .unwrap();
    }
    let stats = rt.cache_stats();
    assert_eq!(stats.misses, 5);
    assert!(stats.entries <= 2, "{stats:?}");
}

#[test]
fn a_new_runtime_loads_compiled_modules_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = wasm(HELLO);

    let rt = on_disk(dir.path());
    rt.prepare(&bytes).unwrap();
    assert_eq!(
        (rt.cache_stats().misses, rt.cache_stats().disk_hits),
        (1, 0)
    );
    drop(rt);
    let files = artifacts(dir.path());
    assert_eq!(files.len(), 1, "one artifact, no temp files: {files:?}");

    let rt = on_disk(dir.path());
    let module = rt.prepare(&bytes).unwrap();
    let stats = rt.cache_stats();
    assert_eq!((stats.misses, stats.disk_hits, stats.hits), (0, 1, 0));
    let outcome = rt.run(&module, ExecRequest::default());
    assert_eq!(outcome.status, ExecStatus::Success);
    assert_eq!(outcome.stdout, b"hello, world\n");
}

#[test]
fn a_corrupt_artifact_is_recompiled_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = wasm(HELLO);
    on_disk(dir.path()).prepare(&bytes).unwrap();
    let [artifact] = artifacts(dir.path()).try_into().unwrap();

    // Flip one byte in the middle of the artifact.
    let mut data = std::fs::read(&artifact).unwrap();
    let middle = data.len() / 2;
    data[middle] ^= 0xff;
    std::fs::write(&artifact, &data).unwrap();
    let rt = on_disk(dir.path());
    let module = rt.prepare(&bytes).unwrap();
    assert_eq!(
        (rt.cache_stats().misses, rt.cache_stats().disk_hits),
        (1, 0)
    );
    assert_eq!(
        rt.run(&module, ExecRequest::default()).status,
        ExecStatus::Success
    );

    // Truncated to a few bytes.
    std::fs::write(&artifact, b"xx").unwrap();
    let rt = on_disk(dir.path());
    rt.prepare(&bytes).unwrap();
    assert_eq!(
        (rt.cache_stats().misses, rt.cache_stats().disk_hits),
        (1, 0)
    );

    // The replacement is good again.
    let rt = on_disk(dir.path());
    rt.prepare(&bytes).unwrap();
    assert_eq!(
        (rt.cache_stats().misses, rt.cache_stats().disk_hits),
        (0, 1)
    );
}

#[test]
fn a_refused_module_is_not_written_to_disk() {
    let dir = tempfile::tempdir().unwrap();
    let rt = on_disk(dir.path());
    let bytes = wasm(r#"(module (import "env" "f" (func)))"#);
    assert!(rt.prepare(&bytes).is_err());
    assert!(artifacts(dir.path()).is_empty());
}

#[test]
fn opening_the_cache_removes_stale_artifacts_and_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = wasm(HELLO);
    on_disk(dir.path()).prepare(&bytes).unwrap();
    let [current] = artifacts(dir.path()).try_into().unwrap();
    let old = dir
        .path()
        .join(format!("{}-0000000000000000.cwasm", "ab".repeat(32)));
    let tmp = dir.path().join(".tmp-crashed.cwasm");
    let other = dir.path().join("README");
    for path in [&old, &tmp, &other] {
        std::fs::write(path, b"x").unwrap();
    }
    let rt = on_disk(dir.path());
    let mut kept = vec![other, current];
    kept.sort();
    assert_eq!(artifacts(dir.path()), kept);
    rt.prepare(&bytes).unwrap();
    assert_eq!(rt.cache_stats().disk_hits, 1);
}
