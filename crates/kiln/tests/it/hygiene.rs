//! HTTP hygiene over real HTTP: security headers, HSTS behind proxies, CORS, compression, body
//! limits on the management API and the validation of the `[http]` settings. (How the client
//! address is taken from `X-Forwarded-For` is unit-tested in `http_policy`: nothing a script
//! sees shows it yet.)

use std::io::Read as _;

use kiln::config::{Config, CorsConfig, SecureMode};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TOKEN, TestServer, expect_error, fails, header};

const SCRIPT: &str = r#"
export function init() {
  registerWebHandler("GET", "/plain", () => "hi");
  registerWebHandler("GET", "/own-headers", () => new Response("mine", { headers: {
    "x-frame-options": "SAMEORIGIN", "referrer-policy": "no-referrer" } }));
  registerWebHandler("GET", "/big", () => ({
    items: Array.from({ length: 400 }, (_, i) => ({ id: i, name: "item number " + i })) }));
  registerWebHandler("GET", "/events", () => new Response("data: tick\n\n".repeat(500), {
    headers: { "content-type": "text/event-stream" } }));
  registerWebHandler("POST", "/submit", async (req) => ({ got: (await req.text()).length }));
  registerWebHandler("OPTIONS", "/submit", () => new Response("script options", {
    headers: { "allow": "POST, OPTIONS" } }));
}"#;

async fn server_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
    let server = TestServer::start_with(tweak).await;
    server.deploy_js("hygiene", SCRIPT).await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_on_script_routes_and_kiln_pages() {
    let server = server_with(|_| {}).await;
    let response = server.get("/plain").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
    assert_eq!(
        header(&response, "referrer-policy"),
        Some("strict-origin-when-cross-origin")
    );
    assert_eq!(header(&response, "x-frame-options"), None);
    assert_eq!(header(&response, "content-security-policy"), None);
    assert_eq!(header(&response, "strict-transport-security"), None);

    for path in ["/health", "/health/live", "/engine/api/scripts"] {
        let response = server.get(path).await;
        assert_eq!(
            header(&response, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(header(&response, "x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(
            header(&response, "content-security-policy"),
            Some("default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
            "{path}"
        );
        assert_eq!(
            header(&response, "strict-transport-security"),
            None,
            "{path}"
        );
    }

    // Error responses get them too.
    let response = server.get("/no/such/route").await;
    assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
    expect_error(response, 404, "ROUTE_NOT_FOUND").await;

    // A script's own values win.
    let response = server.get("/own-headers").await;
    assert_eq!(header(&response, "x-frame-options"), Some("SAMEORIGIN"));
    assert_eq!(header(&response, "referrer-policy"), Some("no-referrer"));
    assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
    server.stop().await;

    let server = server_with(|c| c.http.security_headers = false).await;
    let response = server.get("/health").await;
    assert_eq!(header(&response, "x-content-type-options"), None);
    assert_eq!(header(&response, "x-frame-options"), None);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_only_on_secure_requests() {
    const HSTS: &str = "max-age=31536000; includeSubDomains";
    let server = server_with(|c| c.http.secure = SecureMode::Always).await;
    for path in ["/plain", "/health"] {
        let response = server.get(path).await;
        assert_eq!(
            header(&response, "strict-transport-security"),
            Some(HSTS),
            "{path}"
        );
    }
    server.stop().await;

    // The test client connects from 127.0.0.1: a trusted proxy here.
    let server = server_with(|c| c.http.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let forwarded = |proto: &'static str| {
        server
            .client
            .get(server.url("/plain"))
            .header("x-forwarded-proto", proto)
            .header("x-forwarded-for", "203.0.113.7")
            .send()
    };
    let response = forwarded("https").await.expect("request");
    assert_eq!(header(&response, "strict-transport-security"), Some(HSTS));
    let response = forwarded("http").await.expect("request");
    assert_eq!(header(&response, "strict-transport-security"), None);
    let response = server.get("/plain").await;
    assert_eq!(header(&response, "strict-transport-security"), None);
    server.stop().await;

    // Not trusted (the default), the header is ignored; and "never" wins over a trusted proxy.
    let untrusted_or_never: [fn(&mut Config); 2] = [
        |_| {},
        |c| {
            c.http.trusted_proxies = vec!["127.0.0.0/8".into()];
            c.http.secure = SecureMode::Never;
        },
    ];
    for tweak in untrusted_or_never {
        let server = server_with(tweak).await;
        let response = server
            .get_with_header("/plain", "x-forwarded-proto", "https")
            .await;
        assert_eq!(header(&response, "strict-transport-security"), None);
        server.stop().await;
    }
}

const APP: &str = "https://app.example.com";
const EVIL: &str = "https://evil.example";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflights_and_simple_requests() {
    let server = server_with(|c| {
        c.http.cors = CorsConfig {
            allowed_origins: vec![APP.into()],
            ..CorsConfig::default()
        }
    })
    .await;
    let response = server.preflight(APP, "POST", "/submit").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "access-control-allow-origin"), Some(APP));
    let methods = header(&response, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("POST"), "{methods}");
    let headers = header(&response, "access-control-allow-headers").unwrap_or_default();
    assert!(headers.contains("content-type"), "{headers}");
    assert_eq!(header(&response, "access-control-max-age"), Some("600"));
    assert!(header(&response, "x-request-id").is_some());
    assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
    assert_eq!(response.text().await.expect("body"), "", "answered by Kiln");

    let response = server.preflight(EVIL, "POST", "/submit").await;
    assert_eq!(header(&response, "access-control-allow-origin"), None);

    // An OPTIONS request that is not a preflight reaches the script.
    let response = server
        .client
        .request(Method::OPTIONS, server.url("/submit"))
        .send()
        .await
        .expect("options");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "script options");

    let simple = |origin: &'static str| {
        server
            .client
            .post(server.url("/submit"))
            .header("origin", origin)
            .body("hello")
            .send()
    };
    let response = simple(APP).await.expect("post");
    assert_eq!(header(&response, "access-control-allow-origin"), Some(APP));
    let exposed = header(&response, "access-control-expose-headers").unwrap_or_default();
    for name in ["x-request-id", "ratelimit-remaining", "retry-after"] {
        assert!(exposed.contains(name), "{exposed}");
    }
    assert_eq!(header(&response, "access-control-allow-credentials"), None);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"got": 5})
    );
    let response = simple(EVIL).await.expect("post");
    assert_eq!(header(&response, "access-control-allow-origin"), None);
    assert_eq!(
        response.status(),
        200,
        "the browser, not Kiln, blocks the answer"
    );

    // Kiln's own API gets the same treatment.
    let response = server.get_with_header("/health", "origin", APP).await;
    assert_eq!(header(&response, "access-control-allow-origin"), Some(APP));
    server.stop().await;

    // Credentials: the exact origin is echoed along with the credentials flag.
    let server = server_with(|c| {
        c.http.cors = CorsConfig {
            allowed_origins: vec![APP.into()],
            allow_credentials: true,
            ..CorsConfig::default()
        }
    })
    .await;
    let response = server.get_with_header("/plain", "origin", APP).await;
    assert_eq!(header(&response, "access-control-allow-origin"), Some(APP));
    assert_eq!(
        header(&response, "access-control-allow-credentials"),
        Some("true")
    );
    server.stop().await;

    // Off by default: preflights reach the scripts, no CORS headers.
    let server = server_with(|_| {}).await;
    let response = server.preflight(APP, "POST", "/submit").await;
    assert_eq!(response.text().await.expect("body"), "script options");
    let response = server.get_with_header("/plain", "origin", APP).await;
    assert_eq!(header(&response, "access-control-allow-origin"), None);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_origin_with_a_wildcard() {
    let server = server_with(|c| c.http.cors.allowed_origins = vec!["*".into()]).await;
    let response = server.get_with_header("/plain", "origin", EVIL).await;
    assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
    server.stop().await;
}

/// GETs `path` accepting `encoding`; returns the `Content-Encoding` and the decoded body.
async fn fetch_encoded(
    server: &TestServer,
    path: &str,
    encoding: &str,
) -> (Option<String>, String) {
    let response = server
        .get_with_header(path, "accept-encoding", encoding)
        .await;
    assert_eq!(response.status(), 200);
    let content_encoding = header(&response, "content-encoding").map(str::to_owned);
    let vary = header(&response, "vary").unwrap_or_default().to_owned();
    let bytes = response.bytes().await.expect("body");
    let mut text = String::new();
    match content_encoding.as_deref() {
        None => text = String::from_utf8(bytes.to_vec()).expect("utf-8"),
        Some("gzip") => {
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .expect("gzip");
        }
        Some("br") => {
            brotli_decompressor::Decompressor::new(&bytes[..], 4096)
                .read_to_string(&mut text)
                .expect("brotli");
        }
        Some(other) => panic!("unexpected encoding {other}"),
    }
    if content_encoding.is_some() {
        assert!(
            vary.to_ascii_lowercase().contains("accept-encoding"),
            "{vary}"
        );
    }
    (content_encoding, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_responses_are_compressed_but_not_event_streams() {
    let server = server_with(|_| {}).await;
    let (encoding, plain) = fetch_encoded(&server, "/big", "identity").await;
    assert_eq!(encoding, None);
    let body: Value = serde_json::from_str(&plain).expect("json");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(400));
    assert!(plain.len() > 10_000);
    for (accept, expected) in [("gzip", "gzip"), ("br", "br"), ("gzip, br", "br")] {
        let (encoding, text) = fetch_encoded(&server, "/big", accept).await;
        assert_eq!(encoding.as_deref(), Some(expected), "{accept}");
        assert_eq!(text, plain, "{accept}");
    }
    let (encoding, text) = fetch_encoded(&server, "/events", "gzip, br").await;
    assert_eq!(encoding, None, "event streams are never compressed");
    assert!(text.starts_with("data: tick"));
    let (encoding, text) = fetch_encoded(&server, "/plain", "gzip, br").await;
    assert_eq!(encoding, None, "tiny bodies are not compressed");
    assert_eq!(text, "hi");
    // Kiln's own JSON (the API) is compressed too.
    let response = server
        .bearer(Method::GET, "/engine/api/scripts/hygiene/versions/1", TOKEN)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-encoding"), Some("gzip"));
    server.stop().await;

    let server = server_with(|c| c.http.compression = false).await;
    let (encoding, text) = fetch_encoded(&server, "/big", "gzip, br").await;
    assert_eq!(encoding, None);
    assert_eq!(text, plain);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_management_api_bodies_get_a_json_413() {
    let server = TestServer::start_with(|c| {
        c.http.max_body_bytes = 1024;
        c.limits.max_bundle_bytes = 1024;
    })
    .await;
    // The API accepts twice the bundle limit (2 KiB here); 8 KiB is too much, JSON or not.
    let source = format!("// {}\nexport function init() {{}}", "x".repeat(8 * 1024));
    let body = json!({ "files": [{ "path": "main.js", "content": source }] });
    let deploy = || server.bearer(Method::POST, "/engine/api/scripts/big/versions", TOKEN);
    for accept_encoding in ["identity", "gzip, br"] {
        let request = deploy().header("accept-encoding", accept_encoding);
        let response = request.json(&body).send().await.expect("request");
        assert_eq!(header(&response, "content-encoding"), None);
        assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
        let error = expect_error(response, 413, "PAYLOAD_TOO_LARGE").await;
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let raw = deploy()
        .header("content-type", "application/javascript")
        .body(source);
    fails(raw, 413, "PAYLOAD_TOO_LARGE").await;
    server.stop().await;
}

#[test]
fn bad_http_settings_are_configuration_errors() {
    let mut config = Config::default();
    config.http.trusted_proxies = vec!["10.0.0.0/8".into(), "10.0.0.300".into()];
    config.http.cors.allowed_origins = vec!["*".into()];
    config.http.cors.allow_credentials = true;
    let problems: Vec<String> = config.validate().iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0]
            .starts_with("http.trusted_proxies: \"10.0.0.300\" is not an IP address or CIDR range"),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with(
            "http.cors.allowed_origins: [\"*\"] (any origin) cannot be combined with \
             allow_credentials = true"
        ),
        "{problems:?}"
    );
    config.http.trusted_proxies = vec!["10.0.0.0/8".into(), "::1".into()];
    config.http.cors.allowed_origins = vec![APP.into()];
    assert!(config.validate().is_empty());
}
