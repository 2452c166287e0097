//! Dispatching requests to handlers and converting their results and errors.

use crate::harness::{Body, Harness, Outcome};

// ---------------------------------------------------------------------------
// Dispatch

const APP: &str = r#"
  registerWebHandler("GET", "/text", () => "plain ✓");                                  // 0
  registerWebHandler("GET", "/json", (req, ctx) => ({ ok: true, n: [1, 2] }));           // 1
  registerWebHandler("GET", "/none", () => undefined);                                   // 2
  registerWebHandler("GET", "/resp", () => {                                             // 3
    const r = new Response("created", { status: 201, headers: { "X-A": "1" } });
    r.headers.append("Set-Cookie", "a=1");
    r.headers.append("Set-Cookie", "b=2");
    return r;
  });
  registerWebHandler("GET", "/html", () => h("h1", { class: "t" }, "Hi <you>"));       // 4
  registerWebHandler("GET", "/async", async (req, ctx) => {                              // 5
    await new Promise((resolve) => queueMicrotask(resolve));
    return { async: true, id: ctx.requestId };
  });
  registerWebHandler("GET", "/http-error", () => { throw new HttpError(404, "no such note"); });   // 6
  registerWebHandler("GET", "/http-error-code", async () => {                            // 7
    throw new HttpError(409, "taken", { code: "NAME_TAKEN" });
  });
  registerWebHandler("GET", "/crash", () => {                                            // 8
    function deepInside() { throw new Error("secret internal detail"); }
    deepInside();
  });
  registerWebHandler("GET", "/cycle", () => { const o = {}; o.o = o; return o; });       // 9
  registerWebHandler("GET", "/bigint", async () => ({ n: 1n }));                         // 10
  registerWebHandler("POST", "/echo/:id", async (req, ctx) => {                          // 11
    const body = await req.json();
    return {
      method: req.method, url: req.url, ct: req.headers.get("content-type"),
      accept: req.headers.get("accept"), body, params: ctx.params, query: ctx.query,
      requestId: ctx.requestId, env: ctx.env.GREETING, mutable: !Object.isFrozen(ctx),
      queryProto: Object.getPrototypeOf(ctx.query), keys: Object.keys(ctx), spread: { ...ctx }.query.y,
      sameQuery: ctx.query === ctx.query,
    };
  });
  registerWebHandler("GET", "/bad-status", () => { throw new HttpError(200, "not an error status"); });  // 12
  registerWebHandler("GET", "/throw-string", async () => { throw "just a string"; });  // 13
  registerWebHandler("GET", "/oom-like", () => { throw new InternalError("out of memory"); });  // 14
  registerWebHandler("GET", "/bytes", () => new Uint8Array([0, 1, 2]));                 // 15
  registerWebHandler("GET", "/thenable", () => ({ then(res) { res("from thenable"); } }));  // 16
  registerWebHandler("GET", "/function", () => () => 1);                                 // 17
  registerWebHandler("GET", "/error-response", () => Response.error());                  // 18
  registerWebHandler("GET", "/thrown-response", () => { throw new Response("early", { status: 409 }); });  // 19
  registerWebHandler("POST", "/raw", async (req) => new Response(await req.bytes(), { headers: { "content-type": "application/octet-stream" } }));  // 20
  registerWebHandler("GET", "/null", () => null);                                        // 21
  registerWebHandler("GET", "/http-error-sub", () => {                                   // 22
    class Gone extends HttpError { constructor() { super(410); } }
    throw new Gone();
  });
"#;

fn app() -> Harness {
    let h = Harness::new();
    h.init(APP);
    h
}

#[test]
fn dispatch_result_conversion() {
    let h = app();

    let o = h.dispatch(0, "GET", "http://localhost/text");
    assert_eq!(o.status(), 200);
    assert_eq!(
        o.header("content-type").as_deref(),
        Some("text/plain;charset=UTF-8")
    );
    assert_eq!(o.text(), "plain ✓");

    let o = h.dispatch(1, "GET", "http://localhost/json");
    assert_eq!(
        (o.status(), o.header("content-type").as_deref()),
        (200, Some("application/json"))
    );
    assert_eq!(o.text(), r#"{"ok":true,"n":[1,2]}"#);

    let o = h.dispatch(2, "GET", "http://localhost/none");
    assert_eq!(
        o,
        Outcome::Complete {
            status: 204,
            headers: vec![],
            body: Body::Empty
        }
    );

    let o = h.dispatch(3, "GET", "http://localhost/resp");
    assert_eq!(
        o,
        Outcome::Complete {
            status: 201,
            headers: vec![
                ("x-a".into(), "1".into()),
                ("content-type".into(), "text/plain;charset=UTF-8".into()),
                ("set-cookie".into(), "a=1".into()),
                ("set-cookie".into(), "b=2".into()),
            ],
            body: Body::Text("created".into()),
        }
    );

    let o = h.dispatch(4, "GET", "http://localhost/html");
    assert_eq!(
        o.header("content-type").as_deref(),
        Some("text/html;charset=UTF-8")
    );
    assert_eq!(o.text(), r#"<h1 class="t">Hi &lt;you&gt;</h1>"#);

    let o = h.dispatch(5, "GET", "http://localhost/async");
    assert_eq!(o.status(), 200);
    assert!(o.text().starts_with(r#"{"async":true,"id":"req-"#), "{o:?}");

    let o = h.dispatch(15, "GET", "http://localhost/bytes");
    assert_eq!(
        o.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert!(matches!(o, Outcome::Complete { body: Body::Bytes(ref b), .. } if b == &[0, 1, 2]));

    assert_eq!(
        h.dispatch(16, "GET", "http://localhost/thenable").text(),
        "from thenable"
    );
    assert_eq!(
        h.dispatch(21, "GET", "http://localhost/null").text(),
        "null"
    );

    let o = h.dispatch(19, "GET", "http://localhost/thrown-response");
    assert_eq!((o.status(), o.text()), (409, "early".to_owned()));

    let o = h.dispatch_full(
        20,
        "POST",
        "http://localhost/raw",
        &[],
        Some(&[0xff, 0x00, 0x7f]),
        &[],
    );
    assert!(
        matches!(o, Outcome::Complete { body: Body::Bytes(ref b), .. } if b == &[0xff, 0x00, 0x7f]),
        "{o:?}"
    );
}

#[test]
fn dispatch_request_and_context() {
    let h = app();
    let o = h.dispatch_full(
        11,
        "POST",
        "http://localhost/echo/42?x=1&x=2&y=%C3%A9&z",
        &[
            ("content-type", "application/json"),
            ("accept", "a"),
            ("accept", "b"),
        ],
        Some(br#"{"hello":"world"}"#),
        &[("id", "42")],
    );
    let v: serde_json::Value = serde_json::from_str(&o.text()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "method": "POST", "url": "http://localhost/echo/42?x=1&x=2&y=%C3%A9&z", "ct": "application/json",
            "accept": "a, b", "body": {"hello": "world"}, "params": {"id": "42"},
            "query": {"x": "1", "y": "é", "z": ""}, "requestId": "req-1", "env": "hello", "mutable": true,
            "queryProto": null, "keys": ["params", "query", "requestId", "env", "user", "apiKey"], "spread": "é",
            "sameQuery": true,
        })
    );

    // A malformed JSON body is the client's fault: 400, not 500.
    let o = h.dispatch_full(
        11,
        "POST",
        "http://localhost/echo/1",
        &[],
        Some(b"{nope"),
        &[("id", "1")],
    );
    let (status, code, message, detail) = o.fail_parts();
    assert_eq!((status, code.as_str(), detail), (400, "BAD_REQUEST", None));
    assert!(
        message.starts_with("The request body is not valid JSON: "),
        "{message}"
    );
    assert!(
        !message.contains('\n'),
        "no stack in a client-facing message: {message}"
    );
}

#[test]
fn dispatch_errors() {
    let h = app();

    let o = h.dispatch(6, "GET", "http://localhost/http-error");
    assert_eq!(
        o.fail_parts(),
        (404, "NOT_FOUND".into(), "no such note".into(), None)
    );
    let o = h.dispatch(7, "GET", "http://localhost/http-error-code");
    assert_eq!(
        o.fail_parts(),
        (409, "NAME_TAKEN".into(), "taken".into(), None)
    );
    let o = h.dispatch(12, "GET", "http://localhost/bad-status");
    assert_eq!(
        o.fail_parts(),
        (
            500,
            "INTERNAL_ERROR".into(),
            "not an error status".into(),
            None
        )
    );
    let o = h.dispatch(22, "GET", "http://localhost/http-error-sub");
    assert_eq!(o.fail_parts(), (410, "GONE".into(), "Gone".into(), None));
    h.check(
        r#"
        assertEq(new HttpError(418).code, "HTTP_418");
        assertEq(new HttpError(418).message, "I'm a teapot");
        assertEq(new HttpError(503, "x").code, "SERVICE_UNAVAILABLE");
        assertEq(new HttpError(1000, "x").status, 500);
        const e = new HttpError(400, "m", { cause: 1 });
        assert(e instanceof Error && e.name === "HttpError" && e.cause === 1 && typeof e.stack === "string");
        "#,
    );

    // A crash: generic message for the client, the stack only in the log detail.
    let o = h.dispatch(8, "GET", "http://localhost/crash");
    let (status, code, message, detail) = o.fail_parts();
    assert_eq!((status, code.as_str()), (500, "SCRIPT_ERROR"));
    assert_eq!(message, "The script failed while handling the request");
    assert!(!message.contains("secret"));
    let detail = detail.expect("log detail");
    assert!(
        detail.starts_with("Error: secret internal detail\n    at deepInside"),
        "{detail}"
    );

    let o = h.dispatch(13, "GET", "http://localhost/throw-string");
    assert_eq!(
        o.fail_parts(),
        (
            500,
            "SCRIPT_ERROR".into(),
            "The script failed while handling the request".into(),
            Some("just a string".into())
        )
    );

    for route in [9u32, 10, 17] {
        let o = h.dispatch(route, "GET", "http://localhost/unserialisable");
        let (status, code, message, detail) = o.fail_parts();
        assert_eq!(
            (status, code.as_str()),
            (500, "SCRIPT_ERROR"),
            "route {route}"
        );
        assert!(message.contains("could not be serialised"), "{message}");
        assert!(detail.is_some());
    }

    let o = h.dispatch(14, "GET", "http://localhost/oom-like");
    let (status, code, message, _) = o.fail_parts();
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (
            503,
            "SCRIPT_MEMORY_LIMIT",
            "The script exceeded its memory limit"
        )
    );

    let o = h.dispatch(18, "GET", "http://localhost/error-response");
    assert_eq!(o.fail_parts().0, 500);

    let o = h.dispatch(99, "GET", "http://localhost/unknown");
    assert_eq!(o.fail_parts().1, "INTERNAL_ERROR");
}

#[test]
fn dispatch_real_out_of_memory() {
    let h = Harness::with_memory_limit(Some(48 * 1024 * 1024));
    h.init(
        r#"
        registerWebHandler("GET", "/hog", () => {
          const hog = [];
          for (;;) hog.push(new Array(10000).fill(hog.length));
        });
        registerWebHandler("GET", "/fine", () => "still alive");
        "#,
    );
    let o = h.dispatch(0, "GET", "http://localhost/hog");
    let (status, code, _, detail) = o.fail_parts();
    // When QuickJS can still allocate the InternalError, the prelude recognises it; when it
    // cannot, the exception surfaces as a bare `null` and only the engine's allocator flag
    // (engine/allocator.rs; tested in tests/engine.rs) can tell. Either way: an error answer.
    assert!(
        (status, code.as_str()) == (503, "SCRIPT_MEMORY_LIMIT")
            || (status == 500 && detail.as_deref() == Some("null")),
        "{status} {code} {detail:?}"
    );
    assert_eq!(
        h.dispatch(1, "GET", "http://localhost/fine").text(),
        "still alive"
    );
}

#[test]
fn dispatch_is_exactly_once_for_async_failures_and_results() {
    let h = app();
    // Interleave several in-flight async invocations.
    let outcomes: Vec<Outcome> = (0..5)
        .map(|_| h.dispatch(5, "GET", "http://localhost/async"))
        .collect();
    assert!(outcomes.iter().all(|o| o.status() == 200));
    let st = h.state.borrow();
    let mut ids: Vec<i64> = st.outcomes.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        st.outcomes.len(),
        "each invocation completes exactly once"
    );
}

#[test]
fn identity_is_frozen_per_call_and_cannot_be_forged() {
    let h = Harness::new();
    h.init(
        r#"
        let stash = null;
          registerWebHandler("GET", "/who", (req, ctx) => {
            const before = stash;
            stash = ctx.user;
            let forged = "no";
            try { ctx.user.roles.push("admin"); forged = "pushed"; } catch {}
            try { ctx.user.email = "evil@example.com"; } catch {}
            try { ctx.apiKey.tier = "pro"; } catch {}
            return Response.json({
              user: ctx.user, apiKey: ctx.apiKey,
              admin: ctx.user ? ctx.user.hasRole("admin") : null,
              editor: ctx.user ? ctx.user.hasRole("editor") : null,
              frozen: ctx.user ? Object.isFrozen(ctx.user) && Object.isFrozen(ctx.user.roles) : null,
              sameAsBefore: before !== null && before === ctx.user,
              forged,
            });
          });
        "#,
    );
    let anonymous = h.dispatch(0, "GET", "http://localhost/who");
    let v: serde_json::Value = serde_json::from_str(&anonymous.text()).unwrap();
    assert_eq!(v["user"], serde_json::Value::Null);
    assert_eq!(v["apiKey"], serde_json::Value::Null);

    h.set_identity(Some(
        r#"{"user":{"id":7,"email":"ed@example.com","name":null,"roles":["editor"]},
            "apiKey":{"id":3,"prefix":"kiln_0123abcd","name":"ci","tier":"free","scopes":["invoke"]}}"#,
    ));
    for _ in 0..2 {
        let o = h.dispatch(0, "GET", "http://localhost/who");
        let v: serde_json::Value = serde_json::from_str(&o.text()).unwrap();
        assert_eq!(v["user"]["email"], "ed@example.com");
        assert_eq!(v["user"]["roles"], serde_json::json!(["editor"]));
        assert_eq!(v["apiKey"]["tier"], "free");
        assert_eq!(
            (v["admin"].clone(), v["editor"].clone()),
            (false.into(), true.into())
        );
        assert_eq!(v["frozen"], true);
        assert_eq!(v["forged"], "no");
        assert_eq!(v["sameAsBefore"], false, "a fresh object per call");
    }
}
