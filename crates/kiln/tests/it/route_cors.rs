//! CORS declared per script route (`registerWebHandler(…, { cors })`), with the global
//! `[http.cors]` off.

use crate::common::{TestServer, expect_error, header};

/// The origin the script's policies allow.
const APP: &str = "https://app.example";

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

    let allowed = server.preflight(APP, "PUT", "/data").await;
    assert_eq!(allowed.status(), 204);
    let h = allowed.headers();
    assert_eq!(h["access-control-allow-origin"], APP);
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-allow-methods"], "PUT");
    assert_eq!(h["access-control-allow-headers"], "content-type");

    let denied = server
        .preflight("https://evil.example", "PUT", "/data")
        .await;
    assert_eq!(denied.status(), 204);
    assert_eq!(header(&denied, "access-control-allow-origin"), None);

    // A route without a policy gets no preflight answer: OPTIONS is simply not a method it has.
    let none = server.preflight(APP, "GET", "/closed").await;
    assert_eq!(none.status(), 405);
    assert_eq!(header(&none, "access-control-allow-origin"), None);

    let get = server.get_with_header("/data", "origin", APP).await;
    assert_eq!(get.status(), 200);
    assert_eq!(header(&get, "access-control-allow-origin"), Some(APP));
    assert_eq!(get.headers()["access-control-expose-headers"], "x-total");

    let open = server
        .get_with_header("/open", "origin", "https://anyone.example")
        .await;
    assert_eq!(open.headers()["access-control-allow-origin"], "*");
    assert_eq!(header(&open, "access-control-allow-credentials"), None);

    let closed = server.get_with_header("/closed", "origin", APP).await;
    assert_eq!(header(&closed, "access-control-allow-origin"), None);
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
