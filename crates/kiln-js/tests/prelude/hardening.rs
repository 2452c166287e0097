//! Dispatch keeps working after a script rewrites builtins and globals.

use crate::harness::{Body, Harness, Outcome};

#[test]
fn dispatch_survives_tampered_globals() {
    let h = Harness::new();
    h.init(
        r#"
        const R = Response;
        const HE = HttpError;
        registerWebHandler("GET", "/json", (req, ctx) => ({ q: ctx.query.a, list: [1, 2] }));          // 0
        registerWebHandler("GET", "/async", async (req, ctx) => "async " + ctx.params.id);              // 1
        registerWebHandler("GET", "/resp", () => R.json({ fine: true }, { headers: { "x-k": "v" } })); // 2
        registerWebHandler("POST", "/body", async (req) => {                                             // 3
          const b = await req.text();
          return new R(b + "!", { status: 202 });
        });
        registerWebHandler("GET", "/error", async () => { throw new HE(403, "nope"); });                // 4
        registerWebHandler("GET", "/crash", () => { null.x; });                                         // 5
        registerWebHandler("GET", "/headers", (req) => new R(req.headers.get("x-in")));                 // 6
        registerWebHandler("GET", "/html", () => h("p", null, "x"));                                     // 7
        registerWebHandler("GET", "/none", () => {});                                                    // 8
        registerWebHandler("POST", "/bytes", async (req) => new R(await req.bytes()));                    // 9
        registerWebHandler("POST", "/parse", async (req) => (await req.json()).v);                       // 10
        registerWebHandler("GET", "/log", () => { console.group("g"); console.log({ a: [1] }, new Error("logged")); console.groupEnd(); return "logged"; });  // 11
        "#,
    );
    // A script rewriting builtins after init (as a handler or module code might).
    h.check(
        r#"
        const boom = () => { throw new Error("tampered builtin called"); };
        Object.defineProperty(Object.prototype, "text", { set: boom, configurable: true });
        Object.defineProperty(Object.prototype, "used", { set: boom, configurable: true });
        for (const C of [Array, Uint8Array, ArrayBuffer, Object]) {
          Object.defineProperty(C.prototype, "constructor", { get: boom, configurable: true });
        }
        String.prototype[Symbol.split] = boom;
        String.prototype[Symbol.replace] = boom;
        JSON.stringify = boom;
        JSON.parse = boom;
        Array.prototype.push = boom;
        Array.prototype.join = boom;
        Array.prototype.slice = boom;
        Array.prototype.indexOf = boom;
        Array.prototype.includes = boom;
        Array.prototype[Symbol.iterator] = boom;
        Array.isArray = boom;
        Promise.prototype.then = boom;
        Promise.resolve = boom;
        Promise.prototype.catch = boom;
        Object.defineProperty(Promise, Symbol.species, { get: boom });
        globalThis.Response = 1;
        globalThis.Request = 1;
        globalThis.Headers = 1;
        globalThis.HttpError = 1;
        globalThis.TextDecoder = 1;
        Object.freeze = boom;
        Object.defineProperty = boom;
        Object.keys = boom;
        Object.prototype.toString = boom;
        String.prototype.slice = boom;
        String.prototype.indexOf = boom;
        String.prototype.toLowerCase = boom;
        String.prototype.split = boom;
        String.prototype.replace = boom;
        String.prototype.charCodeAt = boom;
        String.prototype.isWellFormed = boom;
        Map.prototype.get = boom;
        Map.prototype.set = boom;
        WeakSet.prototype.has = boom;
        RegExp.prototype.exec = boom;
        Reflect.apply = boom;
        Function.prototype.call = boom;
        Function.prototype.apply = boom;
        Function.prototype.bind = boom;
        Uint8Array.prototype.slice = boom;
        Symbol.prototype.toString = boom;
        Error.prototype.toString = boom;
        "tampered";
        "#,
    );
    let o = h.dispatch(0, "GET", "http://localhost/json?a=1&a=2");
    assert_eq!(
        (o.status(), o.text()),
        (200, r#"{"q":"1","list":[1,2]}"#.to_owned())
    );
    let o = h.dispatch_full(
        1,
        "GET",
        "http://localhost/async/7",
        &[],
        None,
        &[("id", "7")],
    );
    assert_eq!(o.text(), "async 7");
    let o = h.dispatch(2, "GET", "http://localhost/resp");
    assert_eq!(
        (o.header("x-k").as_deref(), o.text()),
        (Some("v"), r#"{"fine":true}"#.to_owned())
    );
    let o = h.dispatch_full(3, "POST", "http://localhost/body", &[], Some(b"data"), &[]);
    assert_eq!((o.status(), o.text()), (202, "data!".to_owned()));
    let o = h.dispatch(4, "GET", "http://localhost/error");
    assert_eq!(
        o.fail_parts(),
        (403, "FORBIDDEN".into(), "nope".into(), None)
    );
    let o = h.dispatch(5, "GET", "http://localhost/crash");
    let (status, code, _, detail) = o.fail_parts();
    assert_eq!((status, code.as_str()), (500, "SCRIPT_ERROR"));
    assert!(
        detail
            .unwrap()
            .starts_with("TypeError: cannot read property 'x' of null")
    );
    let o = h.dispatch_full(
        6,
        "GET",
        "http://localhost/headers",
        &[("x-in", "abc")],
        None,
        &[],
    );
    assert_eq!(o.text(), "abc");
    assert_eq!(
        h.dispatch(7, "GET", "http://localhost/html").text(),
        "<p>x</p>"
    );
    assert_eq!(h.dispatch(8, "GET", "http://localhost/none").status(), 204);
    let o = h.dispatch_full(
        9,
        "POST",
        "http://localhost/bytes",
        &[],
        Some(&[1, 2, 3]),
        &[],
    );
    assert!(
        matches!(o, Outcome::Complete { body: Body::Bytes(ref b), .. } if b == &[1, 2, 3]),
        "{o:?}"
    );
    let o = h.dispatch_full(
        10,
        "POST",
        "http://localhost/parse",
        &[],
        Some(br#"{"v":[true]}"#),
        &[],
    );
    assert_eq!(o.text(), "[true]");
    h.take_logs();
    assert_eq!(
        h.dispatch(11, "GET", "http://localhost/log").text(),
        "logged"
    );
    let (level, line) = h.last_log();
    assert_eq!(level, "info");
    assert!(
        line.starts_with("  { a: [ 1 ] } Error: logged\n      at"),
        "{line}"
    );
    // The builtins really were replaced (the script sees its own changes).
    assert!(h.eval("JSON.stringify({})").is_err());
    assert!(h.eval("[].push(1)").is_err());
}

#[test]
fn dispatch_survives_a_throwing_promise_constructor_getter() {
    // `await p` reads p.constructor; a throwing getter there must not lose the response.
    let h = Harness::new();
    h.init(
        r#"
        registerWebHandler("GET", "/async", async () => ({ x: 1 }));
        registerWebHandler("GET", "/reject", async () => { throw new HttpError(418, "teapot"); });
        "#,
    );
    h.check(
        r#"
        const boom = () => { throw new Error("tampered"); };
        Object.defineProperty(Promise.prototype, "constructor", { get: boom, configurable: true });
        Promise.prototype.then = boom;
        "#,
    );
    assert_eq!(
        h.dispatch(0, "GET", "http://localhost/async").text(),
        r#"{"x":1}"#
    );
    assert_eq!(
        h.dispatch(1, "GET", "http://localhost/reject")
            .fail_parts()
            .0,
        418
    );
}
