//! CORS declared per script route (`registerWebHandler(…, { cors })`), with the global
//! `[http.cors]` off.

use crate::common::{TestServer, expect_error};

const SCRIPT: &str = r#"
export function init() {
  registerWebHandler("GET", "/data", () => ({ ok: true }), {
    cors: { origins: ["https://app.example"], credentials: true, exposeHeaders: ["x-total"] },
  });
  registerWebHandler("PUT", "/data", () => ({ put: true }), {
    cors: { origins: ["https://app.example"], credentials: true },
  });
  registerWebHandler("GET", "/open", () => "open", { cors: true });
  registerWebHandler("GET", "/closed", () => "closed");
}
"#;

#[tokio::test]
async fn preflights_and_answers_follow_each_routes_policy() {
    let server = TestServer::start().await;
    server.deploy_js("corsy", SCRIPT).await;
    let preflight = |origin: &'static str, method: &'static str, path: &str| {
        server
            .client
            .request(reqwest::Method::OPTIONS, server.url(path))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "content-type")
            .send()
    };

    let allowed = preflight("https://app.example", "PUT", "/data")
        .await
        .unwrap();
    assert_eq!(allowed.status(), 204);
    let h = allowed.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-allow-methods"], "PUT");
    assert_eq!(h["access-control-allow-headers"], "content-type");

    let denied = preflight("https://evil.example", "PUT", "/data")
        .await
        .unwrap();
    assert_eq!(denied.status(), 204);
    assert!(
        denied
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // A route without a policy gets no preflight answer: OPTIONS is simply not a method it has.
    let none = preflight("https://app.example", "GET", "/closed")
        .await
        .unwrap();
    assert_eq!(none.status(), 405);
    assert!(none.headers().get("access-control-allow-origin").is_none());

    let get = server
        .client
        .get(server.url("/data"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(
        get.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(get.headers()["access-control-expose-headers"], "x-total");

    let open = server
        .client
        .get(server.url("/open"))
        .header("origin", "https://anyone.example")
        .send()
        .await
        .unwrap();
    assert_eq!(open.headers()["access-control-allow-origin"], "*");
    assert!(
        open.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );

    let closed = server
        .client
        .get(server.url("/closed"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert!(
        closed
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn invalid_cors_options_reject_the_deploy() {
    let server = TestServer::start().await;
    for (options, needle) in [
        (
            r#"{ cors: { origins: "*", credentials: true } }"#,
            "credentials",
        ),
        (
            r#"{ cors: { origins: ["app.example"] } }"#,
            "is not an origin",
        ),
        (r#"{ cors: "yes" }"#, "options.cors"),
    ] {
        let source = format!(
            "export function init() {{ registerWebHandler(\"GET\", \"/x\", () => 1, {options}); }}"
        );
        let response = server.deploy("bad-cors", &[("main.js", &source)]).await;
        let body = expect_error(response, 400, "DEPLOY_REJECTED").await;
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(needle), "{options}: {message}");
    }
}
