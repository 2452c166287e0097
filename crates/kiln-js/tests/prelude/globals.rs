//! Installed globals, `console` formatting, the harness's own failure reporting, and a second context.

use crate::harness::Harness;

// ---------------------------------------------------------------------------
// Globals

#[test]
fn globals_are_installed_like_the_web() {
    let h = Harness::new();
    h.check(
        r#"
        const names = ["console", "TextEncoder", "TextDecoder", "atob", "btoa", "DOMException", "URL",
          "URLSearchParams", "Headers", "Request", "Response", "Blob", "File", "FormData", "setTimeout", "clearTimeout", "setInterval",
          "clearInterval", "queueMicrotask", "crypto", "structuredClone", "AbortController", "AbortSignal",
          "EventTarget", "Event", "HttpError", "h", "Fragment", "registerWebHandler",
          "registerWasmHandler"];
        for (const n of names) {
          const d = Object.getOwnPropertyDescriptor(globalThis, n);
          assert(d, n + " missing");
          assert(d.writable && d.configurable && !d.enumerable, n + " has the wrong attributes");
        }
        for (const n of ["require", "process", "Deno", "Bun", "fs", "os", "std", "scriptArgs", "internal", "host"]) {
          assert(!(n in globalThis), n + " must not be exposed");
        }
        assertEq(Object.prototype.toString.call(new Headers()), "[object Headers]");
        assertEq(String(crypto), "[object Crypto]");
        "#,
    );
}

// ---------------------------------------------------------------------------
// console

#[test]
fn console_levels_and_formatting() {
    let h = Harness::new();
    let cases: &[(&str, &str, &str)] = &[
        (r#"console.log("hello", "world")"#, "info", "hello world"),
        (
            r#"console.info(1, true, null, undefined)"#,
            "info",
            "1 true null undefined",
        ),
        (r#"console.warn("w")"#, "warn", "w"),
        (r#"console.error("e")"#, "error", "e"),
        (r#"console.debug("d")"#, "debug", "d"),
        (
            r#"console.log("a %s b %d %i %f %j %% %c.", "x", 42.5, 42.5, "1.5", {a: 1}, "color: red")"#,
            "info",
            r#"a x b 42.5 42 1.5 {"a":1} % ."#,
        ),
        (
            r#"console.log("%o and %O", [1], {b: "2"})"#,
            "info",
            "[ 1 ] and { b: '2' }",
        ),
        (
            r#"console.log("%s", "only", "extra", 3)"#,
            "info",
            "only extra 3",
        ),
        (r#"console.log("%s %s", "one")"#, "info", "one %s"),
        (
            r#"console.log({a: 1, b: 'x', c: [1, 2, {d: null}], e: undefined})"#,
            "info",
            "{ a: 1, b: 'x', c: [ 1, 2, { d: null } ], e: undefined }",
        ),
        (
            r#"const o = {name: 'o'}; o.self = o; console.log(o)"#,
            "info",
            "{ name: 'o', self: [Circular] }",
        ),
        (
            r#"console.log(new Map([["a", 1], ["b", {c: 2}]]))"#,
            "info",
            "Map(2) { 'a' => 1, 'b' => { c: 2 } }",
        ),
        (
            r#"console.log(new Set([1, "x"]))"#,
            "info",
            "Set(2) { 1, 'x' }",
        ),
        (
            r#"console.log(new Date(0))"#,
            "info",
            "1970-01-01T00:00:00.000Z",
        ),
        (r#"console.log(/ab+c/gi)"#, "info", "/ab+c/gi"),
        (
            r#"console.log(new Uint8Array([1, 2, 3]))"#,
            "info",
            "Uint8Array(3) [ 1, 2, 3 ]",
        ),
        (
            r#"console.log(new Uint8Array([1, 255]).buffer)"#,
            "info",
            "ArrayBuffer { [Uint8Contents]: <01 ff>, byteLength: 2 }",
        ),
        (
            r#"function foo() {}; console.log(foo, class Bar {}, () => 1)"#,
            "info",
            "[Function: foo] [class Bar] [Function (anonymous)]",
        ),
        (
            r#"console.log(async function af() {})"#,
            "info",
            "[AsyncFunction: af]",
        ),
        (
            r#"console.log({a: {b: {c: {d: 1}}}})"#,
            "info",
            "{ a: { b: { c: [Object] } } }",
        ),
        (
            r#"console.log(["it's", 'say "hi"', "a\nb"])"#,
            "info",
            r#"[ "it's", 'say "hi"', 'a\nb' ]"#,
        ),
        (
            r#"console.log(null, undefined, 1n, -0, Symbol('s'))"#,
            "info",
            "null undefined 1n -0 Symbol(s)",
        ),
        (
            r#"console.log({[Symbol('k')]: 1, 'a-b': 2})"#,
            "info",
            "{ 'a-b': 2, [Symbol(k)]: 1 }",
        ),
        (
            r#"console.log([1, , 3])"#,
            "info",
            "[ 1, <1 empty item>, 3 ]",
        ),
        (
            r#"console.log(Object.create(null))"#,
            "info",
            "[Object: null prototype] {}",
        ),
        (
            r#"class P { constructor() { this.x = 1; } }; console.log(new P())"#,
            "info",
            "P { x: 1 }",
        ),
        (
            r#"console.log({ get g() { return 1; } })"#,
            "info",
            "{ g: [Getter] }",
        ),
        (
            r#"console.log(new Number(3), new String("s"))"#,
            "info",
            "[Number: 3] [String: 's']",
        ),
        (
            r#"console.log(new Headers({"X-A": "1"}))"#,
            "info",
            "Headers { 'x-a': '1' }",
        ),
        (
            r#"console.log(new URLSearchParams("a=1&a=2&b=3"))"#,
            "info",
            "URLSearchParams { a: [ '1', '2' ], b: '3' }",
        ),
        (
            r#"console.log(new Response("x", {status: 201}).status)"#,
            "info",
            "201",
        ),
        (
            r#"console.log(h("b", null, "x"))"#,
            "info",
            "Html '<b>x</b>'",
        ),
        (
            r#"console.assert(1 === 1, "no"); console.assert(false, "value %d", 5)"#,
            "error",
            "Assertion failed: value 5",
        ),
        (r#"console.count(); console.count()"#, "info", "default: 2"),
        (r#"console.count("k")"#, "info", "k: 1"),
        (
            r#"console.group("G"); console.log("inner\nline"); console.groupEnd()"#,
            "info",
            "  inner\n  line",
        ),
        (r#"console.log("after group")"#, "info", "after group"),
    ];
    for (code, level, expected) in cases {
        h.take_logs();
        h.check(code);
        let (l, m) = h.last_log();
        assert_eq!((l.as_str(), m.as_str()), (*level, *expected), "for {code}");
    }

    // A long array is wrapped over several lines; a big object one property per line.
    h.check("console.log(Array.from({length: 40}, (_, i) => i))");
    let (_, m) = h.last_log();
    assert!(m.starts_with("[\n  0, 1, 2,"), "{m}");
    assert!(m.ends_with("39\n]"), "{m}");
    h.check("console.log({alpha: 'aaaaaaaaaaaaaaaaaaaa', beta: 'bbbbbbbbbbbbbbbbbbbbbbbb', gamma: 'cccccccccccccccccccccc'})");
    assert_eq!(
        h.last_log().1,
        "{\n  alpha: 'aaaaaaaaaaaaaaaaaaaa',\n  beta: 'bbbbbbbbbbbbbbbbbbbbbbbb',\n  gamma: 'cccccccccccccccccccccc'\n}"
    );

    // Errors print their stack.
    h.check("function thrower() { return new TypeError('bad thing'); } console.error(thrower())");
    let (l, m) = h.last_log();
    assert_eq!(l, "error");
    assert!(m.starts_with("TypeError: bad thing\n    at thrower"), "{m}");
    h.check("const e = new Error('with code'); e.code = 'E_X'; console.log(e)");
    let m = h.last_log().1;
    assert!(
        m.starts_with("Error: with code\n    at") && m.ends_with("{ code: 'E_X' }"),
        "{m}"
    );
    h.check("console.log({ err: new RangeError('inner') })");
    let m = h.last_log().1;
    assert!(
        m.starts_with("{\n  err: RangeError: inner\n      at"),
        "{m}"
    );

    // trace goes to debug with a stack; detached methods work.
    h.check("function tracer() { console.trace('here %d', 1); } tracer()");
    let (l, m) = h.last_log();
    assert_eq!(l, "debug");
    assert!(m.starts_with("Trace: here 1\n    at tracer"), "{m}");
    h.check("const { log } = console; log('detached')");
    assert_eq!(h.last_log().1, "detached");
    h.check("console.time('t'); console.timeEnd('t')");
    let m = h.last_log().1;
    assert!(m.starts_with("t: ") && m.ends_with("ms"), "{m}");
}

#[test]
fn harness_reports_js_failures() {
    let h = Harness::new();
    assert!(
        h.eval("assertEq(1, 2)")
            .unwrap_err()
            .contains("assertEq failed")
    );
    assert!(h.eval("assertThrows(() => 1)").is_err());
    assert!(
        h.eval("assertThrows(() => { throw new TypeError('x'); }, 'RangeError')")
            .is_err()
    );
    h.check("assertThrows(() => { throw new TypeError('x'); }, 'TypeError', 'x')");
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        h.check_async("await Promise.resolve(); assert(false, 'async failure seen')");
    }));
    assert!(
        failed.is_err(),
        "check_async must fail when the async body rejects"
    );
}

#[test]
fn works_in_a_second_context_of_the_same_runtime() {
    let h = Harness::in_second_context();
    h.check(
        r#"
        assertEq(btoa("hello"), "aGVsbG8=");
        const e = assertThrows(() => atob("a"), "InvalidCharacterError");
        assert(e instanceof DOMException && e instanceof Error && e.code === 5);
        const d = new DOMException("m", "AbortError");
        assertEq([d.name, d.message, d.code, DOMException.ABORT_ERR, String(d)], ["AbortError", "m", 20, 20, "AbortError: m"]);
        assertEq(Object.prototype.toString.call(d), "[object DOMException]");
        assertThrows(() => structuredClone(() => 1), "DataCloneError");
        const d2 = structuredClone(new DOMException("x", "DataCloneError"));
        assertEq([d2.name, d2.message, d2.code], ["DataCloneError", "x", 25]);
        const ac = new AbortController();
        ac.abort();
        assertEq(ac.signal.reason.name, "AbortError");
        "#,
    );
}
