//! Handler registration with `registerWebHandler` / `registerWasmHandler` and the reported routes.

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

#[test]
fn wasm_routes_carry_the_normalised_module_path_and_share_the_validation() {
    let h = Harness::new();
    let e = h
        .eval("registerWasmHandler('GET', '/x', 'app.wasm')")
        .unwrap_err();
    assert!(
        e.contains("registerWasmHandler can only be called during init()"),
        "{e}"
    );
    h.init(
        r#"
        registerWasmHandler("get", "/app/*", "./app.wasm", { auth: "apiKey", cors: true });
        registerWasmHandler("POST", "/h/:id", "handlers/../handlers/./app.wasm");
        registerWasmHandler("PUT", "/x", "app.wasm", { wasm: "ignored.wasm", summary: "S" });
        registerWebHandler("GET", "/js", () => 1);

        const bad = [
          [["FETCH", "/x", "app.wasm"], "TypeError", "registerWasmHandler: unsupported method"],
          [["GET", "x", "app.wasm"], "TypeError", "registerWasmHandler: the path must start with"],
          [["GET", "/y", 1], "TypeError", "path of a .wasm file"],
          [["GET", "/y", ""], "TypeError", "invalid module path"],
          [["GET", "/y", "a\\b.wasm"], "TypeError", "invalid module path"],
          [["GET", "/y", "/app.wasm"], "TypeError", "is absolute"],
          [["GET", "/y", "../app.wasm"], "TypeError", "leaves the script bundle"],
          [["GET", "/y", "handlers/../../app.wasm"], "TypeError", "leaves the script bundle"],
          [["GET", "/y", "handlers//app.wasm"], "TypeError", "empty segment"],
          [["GET", "/y", "notes.txt"], "TypeError", "'notes.txt' is not a .wasm file"],
          [["GET", "/y", ".wasm"], "TypeError", "is not a .wasm file"],
          [["GET", "/y", "missing.wasm"], "Error", "the module 'missing.wasm' is not in the script bundle"],
          [["GET", "/y", "./lib/x.wasm"], "Error", "(looked for 'lib/x.wasm')"],
          [["GET", "/y", "app.wasm", { auth: "root" }], "TypeError", "registerWasmHandler: options.auth"],
          [["GET", "/app/*", "app.wasm"], "Error", "conflicts with the route GET /app/*"],
          [["GET", "/js", "app.wasm"], "Error", "conflicts with the route GET /js"],
        ];
        for (const [args, name, msg] of bad) {
          assertThrows(() => registerWasmHandler(...args), name, msg);
        }
        // A JavaScript route on a WebAssembly route's path collides too.
        assertThrows(() => registerWebHandler("POST", "/h/:other", () => 1), "Error", "conflicts");
        "#,
    );
    assert_eq!(
        h.routes(),
        serde_json::json!([
            [
                "GET",
                "/app/*",
                r#"{"auth":"apiKey","cors":{"origins":"*"},"wasm":"app.wasm"}"#
            ],
            ["POST", "/h/:id", r#"{"wasm":"handlers/app.wasm"}"#],
            ["PUT", "/x", r#"{"summary":"S","wasm":"app.wasm"}"#],
            ["GET", "/js", "{}"],
        ])
    );
    // The prelude never runs a WebAssembly route itself.
    let outcome = h.dispatch(0, "GET", "http://localhost/app/x");
    assert_eq!(outcome.status(), 500, "{outcome:?}");
}
