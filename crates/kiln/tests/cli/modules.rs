//! `kiln modules put|list|exec|rm` with the real binary against a real server, authenticated
//! with an `execute` API key: the guest's output and exit code come back through the CLI.

use super::{Server, create_admin, failure, http, login, stdout};

#[test]
fn modules_commands_store_list_execute_and_delete_with_an_api_key() {
    let work = tempfile::tempdir().expect("tmp");
    let server = Server::start(work.path());
    let data = work.path().join("kiln-data");
    stdout(&create_admin(
        &data,
        "root@example.com",
        "root password 123",
    ));
    let (cookie, csrf) = login(&server.base, "root@example.com", "root password 123");
    let created = http(
        "POST",
        &format!("{}/engine/api/keys", server.base),
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        Some(r#"{"name":"wasm","scopes":["execute"]}"#),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let key = created.json()["key"].as_str().expect("key").to_owned();
    let kiln = |args: &[&str]| server.kiln_as(&key, args);
    let write = |name: &str, wat: &str| {
        let path = work.path().join(name);
        std::fs::write(&path, wat::parse_str(wat).expect("wat")).expect("write");
        path.to_str().expect("path").to_owned()
    };
    let echo = write(
        "echo.wasm",
        r#"(module
          (import "wasi_snapshot_preview1" "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 1024))
            (i32.store (i32.const 4) (i32.const 4096))
            (drop (call $r (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
            (i32.store (i32.const 4) (i32.load (i32.const 8)))
            (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))))"#,
    );
    // Prints its argv and environment buffers (NUL-separated strings), then exits with 3.
    let args_env = write(
        "args_env.wasm",
        r#"(module
          (import "wasi_snapshot_preview1" "args_sizes_get" (func $asg (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "args_get" (func $ag (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "environ_sizes_get" (func $esg (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "environ_get" (func $eg (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") 1)
          (func $out (param $ptr i32) (param $len i32)
            (i32.store (i32.const 16) (local.get $ptr))
            (i32.store (i32.const 20) (local.get $len))
            (drop (call $w (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 32))))
          (func (export "_start")
            (drop (call $asg (i32.const 0) (i32.const 4)))
            (drop (call $ag (i32.const 1024) (i32.const 4096)))
            (call $out (i32.const 4096) (i32.load (i32.const 4)))
            (drop (call $esg (i32.const 0) (i32.const 4)))
            (drop (call $eg (i32.const 2048) (i32.const 8192)))
            (call $out (i32.const 8192) (i32.load (i32.const 4)))
            (call $exit (i32.const 3))))"#,
    );

    let out = stdout(&kiln(&[
        "modules",
        "put",
        "echo",
        &echo,
        "--description",
        "echoes",
    ]));
    assert!(out.contains("stored module echo"), "{out}");
    stdout(&kiln(&["modules", "put", "args-env", &args_env]));
    let err = failure(&kiln(&["modules", "put", "Bad Name", &echo]));
    assert!(err.contains("INVALID_MODULE_NAME"), "{err}");

    let input = work.path().join("in.txt");
    std::fs::write(&input, "hello through the server").expect("write");
    let out = stdout(&kiln(&[
        "modules",
        "exec",
        "echo",
        "--input",
        input.to_str().expect("path"),
    ]));
    assert_eq!(out, "hello through the server");
    let out = kiln(&[
        "modules",
        "exec",
        "args-env",
        "--arg",
        "one",
        "--arg",
        "two words",
        "--env",
        "K=V",
    ]);
    assert_eq!(out.status.code(), Some(3), "the guest's exit code: {out:?}");
    let printed = String::from_utf8_lossy(&out.stdout).replace('\0', "|");
    assert!(printed.ends_with("|one|two words|K=V|"), "{printed:?}");

    let out = stdout(&kiln(&["modules", "list"]));
    assert!(out.starts_with("NAME"), "{out}");
    assert!(out.contains("args-env") && out.contains("echoes"), "{out}");
    let listed: serde_json::Value =
        serde_json::from_str(&stdout(&kiln(&["modules", "list", "--json"]))).expect("json");
    let echo_row = listed
        .as_array()
        .expect("array")
        .iter()
        .find(|m| m["name"] == "echo")
        .expect("echo listed")
        .clone();
    assert_eq!(echo_row["execution_count"], 1, "{listed}");

    let out = stdout(&kiln(&["modules", "rm", "echo"]));
    assert!(out.contains("deleted module echo"), "{out}");
    let err = failure(&kiln(&["modules", "exec", "echo"]));
    assert!(err.contains("MODULE_NOT_FOUND"), "{err}");
    let err = failure(&kiln(&["modules", "rm", "echo"]));
    assert!(err.contains("MODULE_NOT_FOUND"), "{err}");
}
