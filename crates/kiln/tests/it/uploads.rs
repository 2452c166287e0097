//! Uploads over HTTP: `await request.formData()` on multipart and urlencoded bodies (files
//! with binary content, text fields), malformed forms answering 400 `INVALID_FORM_DATA`,
//! `new Response(formData)`, and per-route body limits (`maxBodyBytes`) refusing oversized
//! bodies with 413 — declared by Content-Length or streamed chunked — while the server keeps
//! serving.

use std::convert::Infallible;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::StreamBody;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::common::{TestServer, assert_mentions, expect_error};

/// The SHA-256 of `bytes` in hex, as the script computes it with `crypto.subtle.digest`.
fn sha256(bytes: impl AsRef<[u8]>) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes.as_ref()))
}

const UPLOADS: &str = r#"
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
async function describe(form) {
  const out = [];
  for (const [name, value] of form) {
    if (typeof value === "string") out.push({ name, text: value });
    else out.push({ name, file: value.name, type: value.type, size: value.size, hex: hex(await value.bytes()),
                    sha256: hex(new Uint8Array(await crypto.subtle.digest("SHA-256", await value.bytes()))) });
  }
  return out;
}
export function init() {
  registerWebHandler("POST", "/upload", async (req) => describe(await req.formData()));
  registerWebHandler("POST", "/small", async (req) => ({ size: (await req.bytes()).length }), { maxBodyBytes: 1024 });
  registerWebHandler("POST", "/wide", async (req) => ({ size: (await req.bytes()).length }), { maxBodyBytes: 1024 * 1024 });
  registerWebHandler("POST", "/default", async (req) => ({ size: (await req.bytes()).length }));
  registerWebHandler("GET", "/made", () => {
    const form = new FormData();
    form.append("greeting", "hello");
    form.append("data", new File([new Uint8Array([0, 1, 254, 255])], "data.bin", { type: "application/x-kiln" }));
    return new Response(form);
  });
}"#;

/// A server whose global body limit is 8 KiB, with the uploads script deployed.
async fn server() -> TestServer {
    let server = TestServer::start_with(|c| c.http.max_body_bytes = 8 * 1024).await;
    server.deploy_js("uploads", UPLOADS).await;
    server
}

/// Sends `request`, expects 200 and returns its JSON body.
async fn post_json(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("request");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_uploads_reach_the_handler_as_files() {
    let server = server().await;
    let binary: Vec<u8> = vec![0x00, 0xff, 0xfe, 0x80, 0x0d, 0x0a, 0x2d, 0x2d, 0xc3];
    let form = Form::new()
        .text("title", "héllo wörld")
        .part(
            "notes",
            Part::text("# Notes\n")
                .file_name("notes.md")
                .mime_str("text/markdown")
                .unwrap(),
        )
        .part(
            "blob",
            Part::bytes(binary.clone())
                .file_name("raw.bin")
                .mime_str("application/octet-stream")
                .unwrap(),
        );
    let request = server.client.post(server.url("/upload")).multipart(form);
    let entries = post_json(request).await;
    assert_eq!(
        entries,
        json!([
            { "name": "title", "text": "héllo wörld" },
            { "name": "notes", "file": "notes.md", "type": "text/markdown", "size": 8, "hex": hex::encode("# Notes\n"), "sha256": sha256("# Notes\n") },
            { "name": "blob", "file": "raw.bin", "type": "application/octet-stream", "size": binary.len(), "hex": hex::encode(&binary), "sha256": sha256(&binary) },
        ])
    );

    // URL-encoded forms read the same way.
    let request =
        server
            .client
            .post(server.url("/upload"))
            .form(&[("a", "1"), ("b", "x y&z"), ("a", "€")]);
    let entries = post_json(request).await;
    assert_eq!(
        entries,
        json!([{ "name": "a", "text": "1" }, { "name": "b", "text": "x y&z" }, { "name": "a", "text": "€" }])
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_forms_answer_400_invalid_form_data() {
    let server = server().await;
    let post = |content_type: &str, body: &'static str| {
        server
            .client
            .post(server.url("/upload"))
            .header("content-type", content_type)
            .body(body)
    };
    let cut_short =
        "--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno closing boundary";
    let response = post("multipart/form-data; boundary=xyz", cut_short)
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 400, "INVALID_FORM_DATA").await;
    assert_mentions(&error, "Request.formData");
    assert_mentions(&error, "closing boundary");

    let response = post("multipart/form-data", "x").send().await.unwrap();
    let error = expect_error(response, 400, "INVALID_FORM_DATA").await;
    assert_mentions(&error, "boundary");

    let response = post("application/json", "{}").send().await.unwrap();
    let error = expect_error(response, 400, "INVALID_FORM_DATA").await;
    assert_mentions(
        &error,
        "multipart/form-data or application/x-www-form-urlencoded",
    );

    let many = "x=1&".repeat(1001);
    let response = server
        .client
        .post(server.url("/upload"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(many)
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 400, "INVALID_FORM_DATA").await;
    assert_mentions(&error, "more than 1000 entries");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_data_response_round_trips() {
    let server = server().await;
    let response = server.get("/made").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    let body = response.bytes().await.unwrap();
    let request = server
        .client
        .post(server.url("/upload"))
        .header("content-type", content_type)
        .body(body);
    let entries = post_json(request).await;
    assert_eq!(
        entries,
        json!([
            { "name": "greeting", "text": "hello" },
            { "name": "data", "file": "data.bin", "type": "application/x-kiln", "size": 4, "hex": "0001feff", "sha256": sha256([0u8, 1, 0xfe, 0xff]) },
        ])
    );
    server.stop().await;
}

/// A chunked body: `chunks` chunks of 1 KiB, then (if `endless`) nothing, forever.
fn chunked(chunks: usize, endless: bool) -> reqwest::Body {
    let data = futures::stream::iter(
        (0..chunks).map(|_| Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b'x'; 1024])))),
    );
    if endless {
        reqwest::Body::wrap(StreamBody::new(futures::StreamExt::chain(
            data,
            futures::stream::pending(),
        )))
    } else {
        reqwest::Body::wrap(StreamBody::new(data))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_body_limits_refuse_oversized_bodies_early() {
    let server = server().await;
    let size = post_json;

    // Within the route's limit, with a Content-Length and chunked.
    let within = server
        .client
        .post(server.url("/small"))
        .body(vec![b'x'; 1024]);
    assert_eq!(size(within).await, json!({ "size": 1024 }));
    let within = server
        .client
        .post(server.url("/small"))
        .body(chunked(1, false));
    assert_eq!(size(within).await, json!({ "size": 1024 }));

    // Above it: a declared length is refused before the body is read…
    let response = server
        .client
        .post(server.url("/small"))
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 413, "PAYLOAD_TOO_LARGE").await;
    assert_mentions(&error, "this route's limit of 1024 bytes");

    // …and a chunked body is read only until it passes the limit: this one never ends, so
    // only a server that stops reading can answer.
    let response = server
        .client
        .post(server.url("/small"))
        .body(chunked(2, true))
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 413, "PAYLOAD_TOO_LARGE").await;
    assert_mentions(&error, "1024");

    // A route without the option has the server's limit (8 KiB here), and a route's larger
    // limit cannot raise it.
    for path in ["/default", "/wide"] {
        let fits = server.client.post(server.url(path)).body(vec![b'x'; 4096]);
        assert_eq!(size(fits).await, json!({ "size": 4096 }));
        let response = server
            .client
            .post(server.url(path))
            .body(chunked(9, false))
            .send()
            .await
            .unwrap();
        let error = expect_error(response, 413, "PAYLOAD_TOO_LARGE").await;
        assert_mentions(&error, "the limit of 8192 bytes");
    }

    // The server keeps serving.
    let after = server.client.post(server.url("/small")).body("ok");
    assert_eq!(size(after).await, json!({ "size": 2 }));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_max_body_bytes_options_are_rejected_at_deploy() {
    let server = TestServer::start().await;
    for bad in ["0", "-5", "1.5", "\"1024\""] {
        let source = format!(
            r#"export function init() {{ registerWebHandler("POST", "/x", () => "", {{ maxBodyBytes: {bad} }}); }}"#
        );
        let response = server.deploy("bad", &[("main.js", &source)]).await;
        let error = expect_error(response, 400, "DEPLOY_REJECTED").await;
        assert_mentions(&error, "options.maxBodyBytes must be a positive integer");
    }
    server.stop().await;
}

/// The avatar example of docs/scripts.md ("Uploads"), as written there.
const AVATARS: &str = r#"
export function init() {
  registerWebHandler("POST", "/avatars/:user", async (req, ctx) => {
    const form = await req.formData();
    const file = form.get("avatar");
    if (!(file instanceof File)) throw new HttpError(400, "send the image as the `avatar` file field");
    if (!file.type.startsWith("image/")) throw new HttpError(415, `expected an image, got ${file.type}`);
    let binary = "";
    for (const byte of await file.bytes()) binary += String.fromCharCode(byte);
    await kv.set(`avatar:${ctx.params.user}`, { name: file.name, type: file.type, data: btoa(binary) });
    return Response.json({ name: file.name, size: file.size, caption: form.get("caption") }, { status: 201 });
  }, { maxBodyBytes: 256 * 1024 });

  registerWebHandler("GET", "/avatars/:user", async (req, ctx) => {
    const saved = await kv.get(`avatar:${ctx.params.user}`);
    if (saved === null) throw new HttpError(404, "no avatar");
    const bytes = Uint8Array.from(atob(saved.data), (c) => c.charCodeAt(0));
    return new Response(new Blob([bytes], { type: saved.type }));
  });
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_avatar_example_stores_and_serves_an_upload() {
    let server = TestServer::start().await;
    server.deploy_js("avatars", AVATARS).await;
    let image: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let form = || {
        Form::new().text("caption", "hello").part(
            "avatar",
            Part::bytes(image.clone())
                .file_name("me.png")
                .mime_str("image/png")
                .unwrap(),
        )
    };
    let response = server
        .client
        .post(server.url("/avatars/ann"))
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "name": "me.png", "size": 5000, "caption": "hello" })
    );
    let response = server.get("/avatars/ann").await;
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.bytes().await.unwrap().to_vec(), image);

    // Above the route's 256 KiB: refused before the handler runs.
    let big = Form::new().part(
        "avatar",
        Part::bytes(vec![0u8; 300 * 1024]).file_name("big.png"),
    );
    let response = server
        .client
        .post(server.url("/avatars/ann"))
        .multipart(big)
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 413, "PAYLOAD_TOO_LARGE").await;
    assert_mentions(&error, "262144");
    server.stop().await;
}
