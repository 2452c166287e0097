//! `files`, `render` and `markdown` over HTTP: a script reads its own bundle (bytes, text,
//! listings), never another's and never outside it; templates render with autoescaping,
//! includes and inheritance, and their errors name the file and line; Markdown escapes raw
//! HTML unless allowed.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::TestServer;

const MAIN: &str = r#"
async function attempt(run) {
  try { return await run(); } catch (e) { return { name: e.name, code: e.code, message: e.message, kiln: e instanceof KilnError }; }
}
export function init() {
  registerWebHandler("GET", "/read", async (req, ctx) => attempt(async () => {
    const bytes = await files.read(ctx.query.path);
    return { uint8: bytes instanceof Uint8Array, bytes: Array.from(bytes) };
  }));
  registerWebHandler("GET", "/text", async (req, ctx) => attempt(async () => ({ text: await files.text(ctx.query.path) })));
  registerWebHandler("GET", "/list", async (req, ctx) => attempt(() => files.list(ctx.query.dir)));
  registerWebHandler("GET", "/types", async () => ({
    read: await attempt(() => files.read(42)),
    list: await attempt(() => files.list({})),
    render: await attempt(() => render(null)),
    markdown: await attempt(() => markdown(1)),
  }));
  registerWebHandler("POST", "/render", async (req, ctx) => {
    const { path, data } = await req.json();
    return attempt(async () => ({ html: await render(path, data) }));
  });
  registerWebHandler("POST", "/markdown", async (req, ctx) => {
    const { text, allowHtml } = await req.json();
    return attempt(async () => ({ html: await markdown(text, { allowHtml }) }));
  });
}"#;

const OTHER: &str = r#"
export function init() {
  registerWebHandler("GET", "/other/secret", async () => files.text("data/secret.txt"));
}"#;

async fn deploy_main(server: &TestServer) {
    let text = |path: &str, content: &str| json!({"path": path, "content": content});
    let blob = base64::engine::general_purpose::STANDARD.encode([0u8, 255, 1, 128]);
    let files = json!([
        text("main.js", MAIN),
        text("data/hello.txt", "h\u{e9}llo\n"),
        text("data/nested/deep.json", "{\"a\":1}"),
        {"path": "data/blob.bin", "content_base64": blob},
        text("templates/base.html", "<html><title>{% block title %}{% endblock %}</title><body>{% block body %}{% endblock %}</body></html>"),
        text("templates/page.html", "{% extends \"templates/base.html\" %}{% block title %}{{ title }}{% endblock %}{% block body %}{% for item in items %}{% include \"./item.html\" %}{% endfor %}{% endblock %}"),
        text("templates/item.html", "<li>{{ item }}</li>"),
        text("templates/mail.txt", "Hi {{ name }}"),
        text("templates/broken.html", "line one\n{% if %}\n"),
        text("templates/runtime.html", "a\nb\n{{ 1 + \"x\" }}\n"),
        text("templates/missing-include.html", "{% include \"templates/nope.html\" %}"),
        text("templates/loop.txt", "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}"),
    ]);
    let response = server
        .api_post("/scripts/main/versions", &json!({ "files": files }))
        .await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

async fn get(server: &TestServer, path: &str, query: &[(&str, &str)]) -> Value {
    let response = server
        .client
        .get(server.url(path))
        .query(query)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "GET {path} {query:?}");
    response.json().await.unwrap()
}

fn assert_error(value: &Value, name: &str, code: &str) {
    assert_eq!(value["name"], name, "{value}");
    assert_eq!(value["code"], code, "{value}");
    assert_eq!(value["kiln"], true, "{value}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_read_text_and_list_the_scripts_own_bundle() {
    let server = TestServer::start().await;
    deploy_main(&server).await;

    let read = get(&server, "/read", &[("path", "data/blob.bin")]).await;
    assert_eq!(read, json!({"uint8": true, "bytes": [0, 255, 1, 128]}));
    let text = get(&server, "/text", &[("path", "data/hello.txt")]).await;
    assert_eq!(text["text"], "h\u{e9}llo\n");
    let not_text = get(&server, "/text", &[("path", "data/blob.bin")]).await;
    assert_error(&not_text, "FilesError", "FILES_NOT_TEXT");
    let missing = get(&server, "/text", &[("path", "data/none.txt")]).await;
    assert_error(&missing, "FilesError", "FILES_NOT_FOUND");

    let list = get(&server, "/list", &[("dir", "data")]).await;
    assert_eq!(
        list,
        json!([
            {"name": "blob.bin", "path": "data/blob.bin", "isDir": false, "size": 4},
            {"name": "hello.txt", "path": "data/hello.txt", "isDir": false, "size": 7},
            {"name": "nested", "path": "data/nested", "isDir": true, "size": 7},
        ])
    );
    let root = get(&server, "/list", &[]).await;
    let names: Vec<&str> = root
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["data", "main.js", "templates"]);
    let trailing = get(&server, "/list", &[("dir", "data/nested/")]).await;
    assert_eq!(trailing[0]["path"], "data/nested/deep.json");
    let no_dir = get(&server, "/list", &[("dir", "nope")]).await;
    assert_error(&no_dir, "FilesError", "FILES_NOT_FOUND");
    let a_file = get(&server, "/list", &[("dir", "main.js")]).await;
    assert_error(&a_file, "FilesError", "FILES_NOT_FOUND");

    let types = get(&server, "/types", &[]).await;
    for api in ["read", "list", "render", "markdown"] {
        assert_eq!(types[api]["name"], "TypeError", "{api}: {types}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_refuse_paths_leaving_the_bundle_and_other_scripts_files() {
    let server = TestServer::start().await;
    deploy_main(&server).await;
    server
        .deploy_ok(
            "other",
            &[("main.js", OTHER), ("data/secret.txt", "other's secret")],
        )
        .await;

    for path in [
        "../main.js",
        "data/../main.js",
        "/etc/passwd",
        "/main.js",
        "./main.js",
        "data\\hello.txt",
        "data/\u{0}hello.txt",
        "data//hello.txt",
        "",
    ] {
        for api in ["/read", "/text"] {
            let refused = get(&server, api, &[("path", path)]).await;
            assert_error(&refused, "FilesError", "FILES_INVALID_PATH");
        }
    }
    for dir in ["..", "../other", "/data", "data/..", "./data"] {
        let refused = get(&server, "/list", &[("dir", dir)]).await;
        assert_error(&refused, "FilesError", "FILES_INVALID_PATH");
    }
    // Percent-encoding is not decoded: it is just a (missing) file name.
    let encoded = get(&server, "/text", &[("path", "%2e%2e/main.js")]).await;
    assert_error(&encoded, "FilesError", "FILES_NOT_FOUND");

    // Each script sees only its own bundle.
    let theirs = get(&server, "/text", &[("path", "data/secret.txt")]).await;
    assert_error(&theirs, "FilesError", "FILES_NOT_FOUND");
    assert_eq!(server.get_text("/other/secret").await, "other's secret");

    // Refusals are in the script's log, naming the path, with the request id.
    let lines = server
        .wait_for_log(
            "main",
            r#"files.text "data/secret.txt" failed: FILES_NOT_FOUND"#,
        )
        .await;
    assert!(lines[0]["request_id"].is_string(), "{lines:?}");
    server.wait_for_log("main", "FILES_INVALID_PATH").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_escapes_html_and_follows_extends_and_includes() {
    let server = TestServer::start().await;
    deploy_main(&server).await;

    let page = server.post_json("/render",
        json!({"path": "templates/page.html", "data": {"title": "<script>alert(1)</script>", "items": ["a & b", "c"]}}),
    )
    .await;
    assert_eq!(
        page["html"],
        "<html><title>&lt;script&gt;alert(1)&lt;&#x2f;script&gt;</title><body><li>a &amp; b</li><li>c</li></body></html>"
    );
    let mail = server
        .post_json(
            "/render",
            json!({"path": "templates/mail.txt", "data": {"name": "<b>Ann</b>"}}),
        )
        .await;
    assert_eq!(mail["html"], "Hi <b>Ann</b>");

    let broken = server
        .post_json("/render", json!({"path": "templates/broken.html"}))
        .await;
    assert_error(&broken, "TemplateError", "TEMPLATE_ERROR");
    let message = broken["message"].as_str().unwrap();
    assert!(message.contains("templates/broken.html:2"), "{message}");
    assert!(message.contains("syntax error"), "{message}");

    let runtime = server
        .post_json("/render", json!({"path": "templates/runtime.html"}))
        .await;
    assert_error(&runtime, "TemplateError", "TEMPLATE_ERROR");
    let message = runtime["message"].as_str().unwrap();
    assert!(message.contains("templates/runtime.html:3"), "{message}");

    let missing = server
        .post_json("/render", json!({"path": "templates/none.html"}))
        .await;
    assert_error(&missing, "TemplateError", "TEMPLATE_NOT_FOUND");
    assert!(
        missing["message"]
            .as_str()
            .unwrap()
            .contains("templates/none.html")
    );
    let include = server
        .post_json("/render", json!({"path": "templates/missing-include.html"}))
        .await;
    assert_error(&include, "TemplateError", "TEMPLATE_NOT_FOUND");
    assert!(
        include["message"]
            .as_str()
            .unwrap()
            .contains("templates/nope.html")
    );
    for path in ["../main.js", "/templates/page.html"] {
        let refused = server.post_json("/render", json!({ "path": path })).await;
        assert_error(&refused, "TemplateError", "TEMPLATE_NOT_FOUND");
    }

    // A template that would run for ever runs out of fuel (a count, not a clock).
    let looping = server
        .post_json("/render", json!({"path": "templates/loop.txt"}))
        .await;
    assert_error(&looping, "TemplateError", "TEMPLATE_ERROR");
    assert!(
        looping["message"].as_str().unwrap().contains("fuel"),
        "{looping}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markdown_renders_commonmark_and_escapes_raw_html_by_default() {
    let server = TestServer::start().await;
    deploy_main(&server).await;
    let text = "# Title\n\nSome *text* | and a [link](https://example.org).\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))\n";
    let safe = server.post_json("/markdown", json!({ "text": text })).await;
    let html = safe["html"].as_str().unwrap();
    assert!(html.contains("<h1>Title</h1>"), "{html}");
    assert!(html.contains("<em>text</em>"), "{html}");
    assert!(
        html.contains("<a href=\"https://example.org\">link</a>"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("javascript:"), "{html}");

    let raw = server
        .post_json("/markdown", json!({ "text": text, "allowHtml": true }))
        .await;
    assert!(
        raw["html"]
            .as_str()
            .unwrap()
            .contains("<script>alert(1)</script>")
    );
    server.stop().await;
}
