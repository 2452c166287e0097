//! Handler registration with `registerWebHandler` and the reported routes.

use crate::harness::Harness;

// ---------------------------------------------------------------------------
// Registration

#[test]
fn registration_validates_and_reports_routes() {
    let h = Harness::new();
    let e = h
        .eval("registerWebHandler('GET', '/x', () => 1)")
        .unwrap_err();
    assert!(
        e.contains("registerWebHandler can only be called during init()"),
        "{e}"
    );

    h.init(
        r#"
        registerWebHandler("get", "/", () => "root");
        registerWebHandler("POST", "/notes/:id/items/:item", () => 1, {
          auth: "role:admin", summary: "Add", description: "Adds an item", tags: ["notes"],
          requestSchema: { type: "object", properties: { a: { type: "string" } } }, responseSchema: true,
          ignored: () => 1,
        });
        registerWebHandler("Any", "/files/*", () => 1, { auth: "user" });
        registerWebHandler("GET", "/trailing/", () => 1, null);
        registerWebHandler("GET", "/a-b.c~d/%20x/@u", () => 1);
        registerWebHandler("DELETE", "/notes/:id/items/:item", () => 1);

        const bad = [
          [["FETCH", "/x", () => 1], "TypeError", "unsupported method"],
          [[1, "/x", () => 1], "TypeError", "method"],
          [["GET", "x", () => 1], "TypeError", "must start with"],
          [["GET", "", () => 1], "TypeError", "must start with"],
          [["GET", "/a//b", () => 1], "TypeError", "empty segment"],
          [["GET", "/a/*/b", () => 1], "TypeError", "last segment"],
          [["GET", "/a/:1x", () => 1], "TypeError", "invalid parameter name"],
          [["GET", "/a/:", () => 1], "TypeError", "invalid parameter name"],
          [["GET", "/a/:__proto__", () => 1], "TypeError", "invalid parameter name"],
          [["GET", "/a/:id/:id", () => 1], "TypeError", "duplicate parameter"],
          [["GET", "/a b", () => 1], "TypeError", "invalid path segment"],
          [["GET", "/a?b", () => 1], "TypeError", "invalid path segment"],
          [["GET", "/{a}", () => 1], "TypeError", "invalid path segment"],
          [["GET", "/a*", () => 1], "TypeError", "invalid path segment"],
          [["GET", "/x", "handlerName"], "TypeError", "handler must be a function"],
          [["GET", "/x", () => 1, "opts"], "TypeError", "options must be an object"],
          [["GET", "/x", () => 1, { auth: "root" }], "TypeError", "options.auth"],
          [["GET", "/x", () => 1, { tags: "a" }], "TypeError", "options.tags"],
          [["GET", "/x", () => 1, { summary: 1 }], "TypeError", "options.summary"],
          [["GET", "/x", () => 1, { requestSchema: { n: 1n } }], "TypeError", "JSON-serialisable"],
          [["POST", "/notes/:other/items/:x", () => 1], "Error", "conflicts"],
        ];
        for (const [args, name, msg] of bad) {
          assertThrows(() => registerWebHandler(...args), name, msg);
        }
        "#,
    );
    assert_eq!(
        h.routes(),
        serde_json::json!([
            ["GET", "/", "{}"],
            [
                "POST",
                "/notes/:id/items/:item",
                r#"{"auth":"role:admin","summary":"Add","description":"Adds an item","tags":["notes"],"requestSchema":{"type":"object","properties":{"a":{"type":"string"}}},"responseSchema":true}"#
            ],
            ["ANY", "/files/*", r#"{"auth":"user"}"#],
            ["GET", "/trailing/", "{}"],
            ["GET", "/a-b.c~d/%20x/@u", "{}"],
            ["DELETE", "/notes/:id/items/:item", "{}"],
        ])
    );
    // After init, registration fails again.
    let e = h
        .eval("registerWebHandler('GET', '/later', () => 1)")
        .unwrap_err();
    assert!(
        e.contains("registerWebHandler can only be called during init()"),
        "{e}"
    );
    // A new init starts from an empty route table.
    h.init("registerWebHandler('GET', '/only', () => 1)");
    assert_eq!(h.routes(), serde_json::json!([["GET", "/only", "{}"]]));
}
