//! `GET /engine/api/openapi.json` describes the scripts' routes: OpenAPI paths and path
//! parameters, the summary, tags and JSON Schemas given to `registerWebHandler`, and the
//! security each route's `auth` requires.

use serde_json::json;

use crate::common::TestServer;

const SHOP: &str = r#"
export function init() {
  registerWebHandler("GET", "/shop/items/:id", () => ({}), {
    summary: "One item", tags: ["items"],
    responseSchema: { type: "object", properties: { id: { type: "string" } }, required: ["id"] },
  });
  registerWebHandler("POST", "/shop/items", () => ({}), {
    auth: "user", description: "Creates an item",
    requestSchema: { type: "object", properties: { name: { type: "string" } } },
  });
  registerWebHandler("ANY", "/shop/proxy/*", () => "", { auth: "apiKey" });
  registerWebHandler("GET", "/shop/items", () => []);
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_routes_are_described_as_openapi_paths() {
    let server = TestServer::start().await;
    server.deploy_js("shop", SHOP).await;
    let doc = server.api_json("/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");

    let one = &doc["paths"]["/shop/items/{id}"]["get"];
    assert_eq!(one["summary"], "One item", "{doc}");
    assert_eq!(one["tags"], json!(["items"]));
    assert_eq!(one["operationId"], "shop.get.shop_items_id");
    assert_eq!(
        one["parameters"],
        json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }])
    );
    assert_eq!(
        one["responses"]["200"]["content"]["application/json"]["schema"]["required"],
        json!(["id"])
    );
    assert!(
        one.get("security").is_none(),
        "public routes need nothing: {one}"
    );

    let create = &doc["paths"]["/shop/items"]["post"];
    assert_eq!(create["description"], "Creates an item");
    assert_eq!(
        create["tags"],
        json!(["shop"]),
        "the script's name by default"
    );
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["properties"]["name"]["type"],
        "string"
    );
    assert_eq!(
        create["security"],
        json!([{ "session": [] }, { "apiKey": [] }])
    );
    assert_eq!(create["x-kiln-auth"], "user");
    assert!(doc["paths"]["/shop/items"]["get"].is_object());

    let proxy = &doc["paths"]["/shop/proxy/{wildcard}"];
    for method in ["get", "put", "post", "delete", "patch"] {
        assert_eq!(
            proxy[method]["security"],
            json!([{ "apiKey": [] }]),
            "{method}"
        );
    }
    assert_eq!(proxy["get"]["parameters"][0]["name"], "wildcard");
    assert_eq!(
        doc["components"]["securitySchemes"]["apiKey"]["scheme"],
        "bearer"
    );

    assert_valid_openapi_31(&doc);

    // Like every management endpoint, it needs a caller.
    let anonymous = server.get("/engine/api/openapi.json").await;
    assert_eq!(anonymous.status(), 401);
    server.stop().await;
}

/// Validates `doc` against the OpenAPI 3.1 schema with `openapi-spec-validator` (PyPI):
/// `$OPENAPI_SPEC_VALIDATOR` (test.sh installs it and sets it), else the command on the PATH.
fn assert_valid_openapi_31(doc: &serde_json::Value) {
    let validator =
        std::env::var("OPENAPI_SPEC_VALIDATOR").unwrap_or_else(|_| "openapi-spec-validator".into());
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, doc.to_string()).expect("write the document");
    let output = std::process::Command::new(&validator)
        .args(["--schema", "3.1"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {validator} ({e}): run ./test.sh, which installs it, or set \
                 OPENAPI_SPEC_VALIDATOR"
            )
        });
    assert!(
        output.status.success(),
        "the document is not valid OpenAPI 3.1:\n{}{}\n{doc}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_serves_swagger_ui_from_kiln() {
    let server = TestServer::start().await;
    let page = server.get("/engine/docs").await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    // Everything comes from Kiln itself: no CDN.
    for asset in [
        "/engine/docs/swagger-ui.css",
        "/engine/docs/swagger-ui-bundle.js",
        "/engine/docs/init.js",
    ] {
        assert!(html.contains(asset), "{html}");
        let response = server.get(asset).await;
        assert_eq!(response.status(), 200, "{asset}");
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(kind.starts_with(if asset.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        }));
        assert!(!response.text().await.unwrap().is_empty());
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    let init = server.get_text("/engine/docs/init.js").await;
    assert!(init.contains("/engine/api/openapi.json"), "{init}");
    server.stop().await;
}
