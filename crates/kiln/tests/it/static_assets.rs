//! Static assets over HTTP: a bundle's `public/` files are served with their content type,
//! `ETag`, `Last-Modified`, conditional GETs (304), byte ranges (206/416), HEAD and
//! `index.html`; encoded traversal attempts are refused; a script's own routes win over its
//! public files; public paths that collide with another script's files or routes, or with
//! Kiln's own paths, reject the deploy.

use base64::Engine as _;
use http::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{TestServer, expect_error, header};

const SITE: &str = r#"
export function init() {
  registerWebHandler("GET", "/api/hello", () => "hello");
  registerWebHandler("GET", "/override.txt", () => "from the route");
  registerWebHandler("POST", "/form.html", () => "posted");
}"#;

const BIG: &str = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz";

async fn deploy_site(server: &TestServer) {
    let text = |path: &str, content: &str| json!({"path": path, "content": content});
    let png = base64::engine::general_purpose::STANDARD.encode(b"\x89PNG\r\n\x1a\n....");
    let files = json!([
        text("main.js", SITE),
        text("public/index.html", "<h1>home</h1>"),
        text("public/docs/index.html", "<h1>docs</h1>"),
        text("public/css/site.css", "body { color: red; }"),
        text("public/js/app.js", "console.log(1);"),
        text("public/data.json", "{\"a\":1}"),
        text("public/big.txt", BIG),
        text("public/override.txt", "from the file"),
        text("public/form.html", "<form method=post></form>"),
        text("public/my file.txt", "spaced"),
        {"path": "public/img/logo.png", "content_base64": png},
    ]);
    let response = server
        .api_post("/scripts/site/versions", &json!({ "files": files }))
        .await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

/// Sends a request with the path exactly as given (HTTP clients normalise `..` and `%2e%2e`
/// away) and returns the status code.
async fn raw_status(server: &TestServer, path: &str) -> u16 {
    let address = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: kiln.test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    let status = text.split(' ').nth(1).unwrap_or_default();
    status
        .parse()
        .unwrap_or_else(|_| panic!("no status in {text}"))
}

async fn get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = server.client.get(server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_files_are_served_with_types_and_caching_headers() {
    let server = TestServer::start().await;
    deploy_site(&server).await;

    for (path, content_type, body) in [
        (
            "/css/site.css",
            "text/css; charset=utf-8",
            "body { color: red; }",
        ),
        (
            "/js/app.js",
            "text/javascript; charset=utf-8",
            "console.log(1);",
        ),
        ("/data.json", "application/json; charset=utf-8", "{\"a\":1}"),
        ("/", "text/html; charset=utf-8", "<h1>home</h1>"),
        ("/index.html", "text/html; charset=utf-8", "<h1>home</h1>"),
        ("/docs/", "text/html; charset=utf-8", "<h1>docs</h1>"),
        ("/my%20file.txt", "text/plain; charset=utf-8", "spaced"),
    ] {
        let response = get(&server, path, &[]).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            header(&response, "content-type"),
            Some(content_type),
            "{path}"
        );
        assert_eq!(header(&response, "accept-ranges"), Some("bytes"), "{path}");
        assert_eq!(
            header(&response, "cache-control"),
            Some("public, max-age=0, must-revalidate")
        );
        let etag = header(&response, "etag").unwrap();
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34,
            "{etag}"
        );
        let modified = header(&response, "last-modified").unwrap();
        assert!(httpdate::parse_http_date(modified).unwrap() <= std::time::SystemTime::now());
        assert_eq!(response.text().await.unwrap(), body, "{path}");
    }
    let png = get(&server, "/img/logo.png", &[]).await;
    assert_eq!(header(&png, "content-type"), Some("image/png"));
    assert_eq!(&png.bytes().await.unwrap()[..4], b"\x89PNG");

    // A directory without its slash is redirected to it.
    let response = crate::common::no_redirects()
        .get(server.url("/docs?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 301);
    assert_eq!(header(&response, "location"), Some("/docs/?x=1"));

    // HEAD: the headers of GET, no body.
    let head = server
        .client
        .head(server.url("/css/site.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "content-length"), Some("20"));
    assert!(head.bytes().await.unwrap().is_empty());

    // Other methods are refused; unknown paths and the script's sources are not found.
    let post = server
        .client
        .post(server.url("/css/site.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&post, "allow"), Some("GET, HEAD"));
    expect_error(post, 405, "METHOD_NOT_ALLOWED").await;
    expect_error(get(&server, "/nope.css", &[]).await, 404, "ROUTE_NOT_FOUND").await;
    expect_error(get(&server, "/main.js", &[]).await, 404, "ROUTE_NOT_FOUND").await;
    expect_error(
        get(&server, "/public/index.html", &[]).await,
        404,
        "ROUTE_NOT_FOUND",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_gets_answer_304() {
    let server = TestServer::start().await;
    deploy_site(&server).await;
    let first = get(&server, "/css/site.css", &[]).await;
    let etag = header(&first, "etag").unwrap().to_owned();
    let modified = header(&first, "last-modified").unwrap().to_owned();

    for headers in [
        vec![("if-none-match", etag.as_str())],
        vec![("if-none-match", &format!("\"x\", W/{etag}"))],
        vec![("if-none-match", "*")],
        vec![("if-modified-since", modified.as_str())],
        vec![("if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT")],
    ] {
        let response = get(&server, "/css/site.css", &headers).await;
        assert_eq!(response.status(), 304, "{headers:?}");
        assert_eq!(header(&response, "etag"), Some(etag.as_str()));
        assert!(response.bytes().await.unwrap().is_empty());
    }
    for headers in [
        vec![("if-none-match", "\"other\"")],
        vec![("if-modified-since", "Mon, 01 Jan 1990 00:00:00 GMT")],
        // If-None-Match wins over If-Modified-Since.
        vec![
            ("if-none-match", "\"other\""),
            ("if-modified-since", modified.as_str()),
        ],
    ] {
        let response = get(&server, "/css/site.css", &headers).await;
        assert_eq!(response.status(), 200, "{headers:?}");
    }

    // A new version with other content has another ETag.
    let files = json!([
        {"path": "main.js", "content": SITE},
        {"path": "public/css/site.css", "content": "body { color: blue; }"},
    ]);
    let response = server
        .api_post("/scripts/site/versions", &json!({ "files": files }))
        .await;
    assert_eq!(response.status(), 201);
    let response = get(&server, "/css/site.css", &[("if-none-match", &etag)]).await;
    assert_eq!(response.status(), 200);
    assert_ne!(header(&response, "etag"), Some(etag.as_str()));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_ranges_answer_206_and_416() {
    let server = TestServer::start().await;
    deploy_site(&server).await;
    let len = BIG.len();

    for (range, body, content_range) in [
        ("bytes=0-3", "0123", format!("bytes 0-3/{len}")),
        (
            "bytes=10-",
            &BIG[10..],
            format!("bytes 10-{}/{len}", len - 1),
        ),
        (
            "bytes=-4",
            &BIG[len - 4..],
            format!("bytes {}-{}/{len}", len - 4, len - 1),
        ),
        (
            "bytes=70-1000",
            &BIG[70..],
            format!("bytes 70-{}/{len}", len - 1),
        ),
    ] {
        // Compression must leave partial content alone.
        let response = get(
            &server,
            "/big.txt",
            &[("range", range), ("accept-encoding", "gzip")],
        )
        .await;
        assert_eq!(response.status(), 206, "{range}");
        assert_eq!(
            header(&response, "content-range"),
            Some(content_range.as_str())
        );
        assert_eq!(header(&response, "content-encoding"), None);
        assert_eq!(response.text().await.unwrap(), body, "{range}");
    }
    let response = get(&server, "/big.txt", &[("range", "bytes=500-")]).await;
    assert_eq!(
        header(&response, "content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    expect_error(response, 416, "RANGE_NOT_SATISFIABLE").await;

    // Several ranges, or an If-Range naming an older version: the whole file.
    let response = get(&server, "/big.txt", &[("range", "bytes=0-1,4-5")]).await;
    assert_eq!(response.status(), 200);
    let etag = header(&response, "etag").unwrap().to_owned();
    let response = get(
        &server,
        "/big.txt",
        &[("range", "bytes=0-1"), ("if-range", "\"old\"")],
    )
    .await;
    assert_eq!(response.status(), 200);
    let response = get(
        &server,
        "/big.txt",
        &[("range", "bytes=0-1"), ("if-range", &etag)],
    )
    .await;
    assert_eq!(response.status(), 206);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_attempts_never_leave_public() {
    let server = TestServer::start().await;
    deploy_site(&server).await;
    for path in [
        "/..%2f..%2fmain.js",
        "/%2e%2e/main.js",
        "/%2E%2E/%2e%2e/main.js",
        "/css/%2e%2e/%2e%2e/main.js",
        "/css%5c..%5cmain.js",
        "/css/..%5c..%5cmain.js",
        "/../main.js",
        "/css/../../main.js",
        "/css/site.css%00",
        "/%ff",
    ] {
        assert_eq!(raw_status(&server, path).await, 400, "{path}");
    }
    for path in [
        "/public/css/site.css",
        "/main.js",
        "//main.js",
        "/css//site.css",
    ] {
        assert_eq!(raw_status(&server, path).await, 404, "{path}");
    }
    assert_eq!(raw_status(&server, "/css/site.css").await, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_win_over_own_public_files() {
    let server = TestServer::start().await;
    deploy_site(&server).await;
    assert_eq!(server.get_text("/override.txt").await, "from the route");
    assert_eq!(server.get_text("/api/hello").await, "hello");
    // A route for POST only: GET still finds the file, POST the route.
    assert_eq!(
        server.get_text("/form.html").await,
        "<form method=post></form>"
    );
    let posted = server
        .client
        .request(Method::POST, server.url("/form.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.text().await.unwrap(), "posted");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colliding_public_paths_reject_the_deploy() {
    let server = TestServer::start().await;
    deploy_site(&server).await;
    let route = "export function init() { registerWebHandler(\"GET\", \"/x\", () => 1); }";

    // Another script's public file at the same path.
    let error = expect_error(
        server
            .deploy("rival", &[("main.js", route), ("public/css/site.css", "x")])
            .await,
        409,
        "ROUTE_CONFLICT",
    )
    .await;
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("public/css/site.css") && message.contains("'site'"),
        "{message}"
    );

    // A route of another script at a public file's path, both ways round.
    let claims_file =
        "export function init() { registerWebHandler(\"GET\", \"/js/app.js\", () => 1); }";
    let error = expect_error(
        server.deploy("rival", &[("main.js", claims_file)]).await,
        409,
        "ROUTE_CONFLICT",
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().contains("/js/app.js"),
        "{error}"
    );
    let error = expect_error(
        server
            .deploy("rival", &[("main.js", route), ("public/api/hello", "x")])
            .await,
        409,
        "ROUTE_CONFLICT",
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("route GET /api/hello of script 'site'"),
        "{error}"
    );
    let wildcard = "export function init() { registerWebHandler(\"GET\", \"/docs/*\", () => 1); }";
    expect_error(
        server.deploy("rival", &[("main.js", wildcard)]).await,
        409,
        "ROUTE_CONFLICT",
    )
    .await;

    // Kiln's own paths.
    let error = expect_error(
        server
            .deploy("rival", &[("main.js", route), ("public/health", "x")])
            .await,
        409,
        "ROUTE_CONFLICT",
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().contains("reserved"),
        "{error}"
    );

    // The site still serves, and a script with distinct public files deploys.
    assert_eq!(
        server.get_text("/css/site.css").await,
        "body { color: red; }"
    );
    server
        .deploy_ok("rival", &[("main.js", route), ("public/rival.css", "r")])
        .await;
    assert_eq!(server.get_text("/rival.css").await, "r");
    server.stop().await;
}
