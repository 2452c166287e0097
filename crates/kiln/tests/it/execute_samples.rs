//! Real programs through `POST /execute`: the C equivalents of WasmWiz's sample modules
//! (`hello_world`, `calc_add`, `echo`, built by `kiln-fixtures`) with the samples' inputs and
//! outputs, a C program reading its args and env, and — when `shared/fixtures/wasmwiz` is next to
//! the repository (or under `$KILN_SHARED_DIR`) — the binaries WasmWiz shipped, unchanged.

use kiln_fixtures::{c_module, wasmwiz};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::execute::{failed, ok_json, run, wasm_form, with_key};

/// The samples' documented inputs and outputs (shared/fixtures/wasmwiz/README.md).
const SAMPLES: [(&str, &str, &str); 3] = [
    (
        "hello_world",
        "# Input is not used by this module",
        "Hello, World!\n",
    ),
    ("calc_add", "5 3", "8\n"),
    ("echo", "This is my input.", "This is my input."),
];

fn assert_clean_success(body: &Value, what: &str) {
    assert_eq!(body["error"], Value::Null, "{what}: {body}");
    assert_eq!(body["error_code"], Value::Null, "{what}: {body}");
    assert_eq!(body["exit_code"], 0, "{what}: {body}");
    assert_eq!(body["stderr"], "", "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_c_sample_equivalents_answer_like_wasmwiz() {
    let (server, _admin, key) = with_key("pro").await;
    for (name, input, output) in SAMPLES {
        let form = wasm_form(c_module(name)).text("input", input);
        let body = ok_json(run(&server, "/execute", &key, form).await).await;
        assert_eq!(body["output"], output, "{name}: {body}");
        assert_clean_success(&body, name);
    }
    // The WasmWiz path and field names.
    let form = Form::new()
        .part(
            "wasm_file",
            Part::bytes(c_module("calc_add")).file_name("calc_add.wasm"),
        )
        .text("input_data", "40 2");
    let body = ok_json(run(&server, "/api/execute", &key, form).await).await;
    assert_eq!(body["output"], "42\n");

    // calc_add's error path: a message on stderr and exit code 1, as the original.
    let form = wasm_form(c_module("calc_add")).text("input", "one two");
    let body = failed(run(&server, "/execute", &key, form).await, "EXIT_NONZERO").await;
    assert_eq!(body["exit_code"], 1, "{body}");
    assert_eq!(
        body["stderr"], "Error: Please provide at least two numbers\n",
        "{body}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_c_program_gets_the_requests_args_and_env() {
    let (server, _admin, key) = with_key("pro").await;
    let form = wasm_form(c_module("args_env"))
        .text("args", r#"["--name", "Kiln user"]"#)
        .text("env", r#"{"GREETING": "hi", "EXIT_CODE": "0"}"#);
    let body = ok_json(run(&server, "/execute", &key, form).await).await;
    assert_eq!(
        body["output"],
        "argc=3\nargv[0]=module\nargv[1]=--name\nargv[2]=Kiln user\nenv EXIT_CODE=0\nenv GREETING=hi\n",
        "{body}"
    );
    let form = wasm_form(c_module("args_env")).text("env", r#"{"EXIT_CODE": "42"}"#);
    let body = failed(run(&server, "/execute", &key, form).await, "EXIT_NONZERO").await;
    assert_eq!(body["exit_code"], 42, "{body}");
    server.stop().await;
}

/// The modules WasmWiz shipped run unchanged and give their expected outputs, on both paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasmwiz_sample_modules_run_unchanged() {
    let Some(samples) = wasmwiz::samples() else {
        return;
    };
    let (server, _admin, key) = with_key("pro").await;
    for sample in samples {
        for path in ["/execute", "/api/execute"] {
            let form = Form::new()
                .part(
                    "wasm_file",
                    Part::bytes(sample.module.clone()).file_name(format!("{}.wasm", sample.name)),
                )
                .part("input_data", Part::bytes(sample.input.clone()));
            let body = ok_json(run(&server, path, &key, form).await).await;
            let output = body["output"].as_str().expect("output");
            assert_eq!(
                output.trim_end(),
                sample.expected_output.trim_end(),
                "{} on {path}: {body}",
                sample.name
            );
            assert_clean_success(&body, sample.name);
        }
    }
    let health = server.get_json("/health").await;
    assert_eq!(
        health["wasm_module_cache"]["misses"],
        json!(3),
        "each original compiled once: {health}"
    );
    server.stop().await;
}
