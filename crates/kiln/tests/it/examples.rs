//! The scripts in `examples/` stay correct: each deploys from its directory and answers as its
//! comments say (over HTTP, with a real SQLite file), they type-check with `tsc` against
//! `types/kiln.d.ts`, and the server serves that declaration file.

use std::path::{Path, PathBuf};

use hmac::Mac;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::common::{TOKEN, TestServer};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Every file under `examples/<name>`, as (bundle path, text).
fn example_files(name: &str) -> Vec<(String, String)> {
    let root = examples_dir().join(name);
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let relative = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((relative, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out
}

async fn deploy_example(server: &TestServer, name: &str) {
    let files = example_files(name);
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    server.deploy_ok(name, &refs).await;
}

async fn post_json(server: &TestServer, path: &str, body: Value) -> (u16, Value) {
    let response = server
        .client
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_deploy_and_answer() {
    let upstream = {
        let app = axum::Router::new().route(
            "/data",
            axum::routing::get(|| async { "x".repeat(200_000) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    };
    let server = TestServer::start_with(|config| {
        config.egress.allow = vec!["127.0.0.1/32".into()];
    })
    .await;
    let mut names: Vec<String> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["hello", "notes", "proxy", "site", "uploads", "webhook"]
    );
    for name in &names {
        deploy_example(&server, name).await;
    }

    // hello
    let hello = server.get_json("/hello/ann?shout=1").await;
    assert_eq!(hello["greeting"], "HELLO, ANN");
    let (status, echoed) = post_json(&server, "/hello/echo", json!({"a": 1})).await;
    assert_eq!((status, echoed), (200, json!({"echoed": {"a": 1}})));

    // notes: the migration ran at deploy; the transaction rolls back as a whole.
    let (status, created) = post_json(&server, "/notes", json!({"text": "first"})).await;
    assert_eq!(status, 201, "{created}");
    let note = server.get_json(&format!("/notes/{}", created["id"])).await;
    assert_eq!(
        (note["text"].clone(), note["views"].clone()),
        (json!("first"), json!(1))
    );
    let (status, _) = post_json(&server, "/notes/pair", json!({"first": "a", "second": ""})).await;
    assert_eq!(status, 400);
    let (status, pair) =
        post_json(&server, "/notes/pair", json!({"first": "a", "second": "b"})).await;
    assert_eq!((status, pair), (200, json!({"total": 3})));

    // uploads
    let form = Form::new().part(
        "file",
        Part::bytes(b"\x00\x01hello".to_vec())
            .file_name("h.bin")
            .mime_str("application/x-demo")
            .unwrap(),
    );
    let response = server
        .client
        .post(server.url("/files/h"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let stored: Value = response.json().await.unwrap();
    assert_eq!(stored["size"], 7, "{stored}");
    let served = server.get("/files/h").await;
    assert_eq!(served.headers()["content-type"], "application/x-demo");
    assert_eq!(served.bytes().await.unwrap().as_ref(), b"\x00\x01hello");

    // webhook: a secret, a variable from kiln.toml, a signature checked with crypto.subtle.
    let set = server
        .client
        .put(server.url("/engine/api/scripts/webhook/secrets/WEBHOOK_SECRET"))
        .bearer_auth(TOKEN)
        .json(&json!({"value": "s3cret-hook"}))
        .send()
        .await
        .unwrap();
    assert!(set.status().is_success(), "{}", set.status());
    let body = br#"{"type":"order.paid"}"#;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret-hook").unwrap();
    mac.update(body);
    let signature = hex::encode(mac.finalize().into_bytes());
    let signed = |signature: String| {
        server
            .client
            .post(server.url("/webhook"))
            .header("x-signature", signature)
            .body(body.to_vec())
            .send()
    };
    let accepted = signed(signature.clone()).await.unwrap();
    assert_eq!(accepted.status(), 200);
    assert_eq!(
        accepted.json::<Value>().await.unwrap(),
        json!({"received": "order.paid"})
    );
    assert_eq!(signed("00".repeat(32)).await.unwrap().status(), 401);

    // proxy: a streamed download, counted chunk by chunk.
    let measured = server
        .get_json(&format!("/measure?url=http://{upstream}/data"))
        .await;
    assert_eq!(measured["bytes"], 200_000, "{measured}");
    assert!(measured["chunks"].as_u64().unwrap() > 1, "{measured}");

    // site: JSX, a template with Markdown, a static file.
    assert!(server.get_text("/site").await.contains("<h1>Hello</h1>"));
    let about = server.get_text("/site/about").await;
    assert!(about.contains("<strong>Markdown</strong>"), "{about}");
    assert!(about.contains("&lt;em&gt;escapes&lt;/em&gt;"), "{about}");
    assert!(server.get_text("/site.css").await.contains("font-family"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_the_script_type_declarations() {
    let server = TestServer::start().await;
    let response = server.get("/engine/types/kiln.d.ts").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/typescript")
    );
    let text = response.text().await.unwrap();
    let file = std::fs::read_to_string(examples_dir().join("../types/kiln.d.ts")).unwrap();
    assert_eq!(text, file);
    server.stop().await;
}

/// `tsc -p examples`: `$TSC` (test.sh installs TypeScript and sets it), else `tsc` on the
/// PATH.
#[test]
fn the_examples_type_check_with_tsc() {
    let tsc = std::env::var("TSC").unwrap_or_else(|_| "tsc".into());
    let project = examples_dir().join("tsconfig.json");
    let output = std::process::Command::new(&tsc)
        .arg("-p")
        .arg(&project)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {tsc} ({e}): run ./test.sh, which installs TypeScript, or set TSC")
        });
    assert!(
        output.status.success(),
        "tsc -p examples failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
