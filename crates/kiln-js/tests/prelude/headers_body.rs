//! `Headers`, `Request` and `Response`.

use crate::harness::Harness;

// ---------------------------------------------------------------------------
// Headers

#[test]
fn headers_semantics() {
    let h = Harness::new();
    h.check(
        r#"
        const hd = new Headers({ "Content-Type": "text/plain", "X-B": "  padded\t" });
        assertEq(hd.get("content-type"), "text/plain");
        assertEq(hd.get("CONTENT-TYPE"), "text/plain");
        assertEq(hd.get("x-b"), "padded");
        assertEq(hd.get("missing"), null);
        hd.append("X-A", "1");
        hd.append("x-a", "2");
        assertEq(hd.get("X-A"), "1, 2");
        hd.append("Set-Cookie", "a=1");
        hd.append("set-cookie", "b=2");
        assertEq(hd.getSetCookie(), ["a=1", "b=2"]);
        assertEq([...hd], [["content-type", "text/plain"], ["set-cookie", "a=1"], ["set-cookie", "b=2"], ["x-a", "1, 2"], ["x-b", "padded"]]);
        assertEq([...hd.keys()], ["content-type", "set-cookie", "set-cookie", "x-a", "x-b"]);
        hd.set("x-a", "3");
        assertEq(hd.get("x-a"), "3");
        assert(hd.has("X-A"));
        hd.delete("x-a");
        assert(!hd.has("x-a"));
        const fe = [];
        hd.forEach((v, k) => fe.push(k));
        assertEq(fe, ["content-type", "set-cookie", "set-cookie", "x-b"]);

        assertThrows(() => hd.append("bad name", "x"), "TypeError");
        assertThrows(() => hd.append("", "x"), "TypeError");
        assertThrows(() => hd.set("x", "a\nb"), "TypeError");
        assertThrows(() => hd.set("x", "a\0b"), "TypeError");
        assertThrows(() => hd.set("x", "€"), "TypeError");
        assertThrows(() => hd.get("bad name"), "TypeError");
        assertThrows(() => new Headers([["a"]]), "TypeError");
        assertThrows(() => new Headers("nope"), "TypeError");

        const copy = new Headers(hd);
        copy.set("x-b", "changed");
        assertEq(hd.get("x-b"), "padded");
        assertEq(new Headers([["a", "1"], ["A", "2"]]).get("a"), "1, 2");
        assertEq(new Headers(new Map([["m", "v"]])).get("m"), "v");

        const r = Response.redirect("https://example.com/next");
        assertThrows(() => r.headers.set("x", "1"), "TypeError", "immutable");
        assertEq(r.headers.get("location"), "https://example.com/next");
        "#,
    );
}

// ---------------------------------------------------------------------------
// Request / Response

#[test]
fn request_semantics() {
    let h = Harness::new();
    h.check_async(
        r#"
        const r = new Request("https://example.com/p?q=1", { method: "post", headers: { "X-Id": "7" }, body: "hello" });
        assertEq(r.method, "POST");
        assertEq(r.url, "https://example.com/p?q=1");
        assertEq(r.headers.get("x-id"), "7");
        assertEq(r.headers.get("content-type"), "text/plain;charset=UTF-8");
        assertEq(r.redirect, "follow");
        assert(r.signal instanceof AbortSignal && !r.signal.aborted);
        assertEq(r.bodyUsed, false);
        const c = r.clone();
        assertEq(await r.text(), "hello");
        assertEq(r.bodyUsed, true);
        await assertRejects(r.text(), "TypeError");
        assertThrows(() => r.clone(), "TypeError");
        assertEq(new TextDecoder().decode(await c.arrayBuffer()), "hello");

        assertEq(new Request("https://x.test", { method: "patch" }).method, "patch");
        assertEq(new Request("https://x.test", { method: "delete" }).method, "DELETE");
        assertThrows(() => new Request("https://x.test", { method: "bad method" }), "TypeError");
        assertThrows(() => new Request("https://x.test", { method: "CONNECT" }), "TypeError");
        assertThrows(() => new Request("https://x.test", { body: "x" }), "TypeError");
        assertThrows(() => new Request("https://x.test", { method: "HEAD", body: "x" }), "TypeError");
        assertThrows(() => new Request("/relative"), "TypeError");
        assertThrows(() => new Request("https://u:p@x.test/"), "TypeError");
        assertEq(new Request(new URL("https://x.test/u")).url, "https://x.test/u");

        const j = new Request("https://x.test", { method: "POST", body: JSON.stringify({ a: [1] }), headers: [["content-type", "application/json"]] });
        assertEq(j.headers.get("content-type"), "application/json");
        assertEq(await j.json(), { a: [1] });

        const bin = new Request("https://x.test", { method: "PUT", body: new Uint8Array([1, 2, 3]) });
        assertEq(bin.headers.get("content-type"), null);
        const bytes = await bin.bytes();
        assert(bytes instanceof Uint8Array);
        assertEq(Array.from(bytes), [1, 2, 3]);

        const form = new Request("https://x.test", { method: "POST", body: new URLSearchParams({ a: "b c" }) });
        assertEq(form.headers.get("content-type"), "application/x-www-form-urlencoded;charset=UTF-8");
        assertEq(await form.text(), "a=b+c");
        await assertRejects(new Request("https://x.test").formData(), "TypeError");

        // new Request(request) takes over the body.
        const orig = new Request("https://x.test/o", { method: "POST", body: "moved" });
        const next = new Request(orig, { headers: { "x-new": "1" } });
        assertEq(orig.bodyUsed, true);
        assertEq(next.method, "POST");
        assertEq(next.headers.get("x-new"), "1");
        assertEq(await next.text(), "moved");
        assertThrows(() => new Request(orig), "TypeError");
        assertEq(await new Request("https://x.test").text(), "");
        "#,
    );
}

#[test]
fn response_semantics() {
    let h = Harness::new();
    h.check_async(
        r#"
        const r = new Response("body", { status: 201, statusText: "Created", headers: { "X-A": "1" } });
        assertEq([r.status, r.ok, r.statusText, r.type, r.url, r.redirected], [201, true, "Created", "default", "", false]);
        assertEq(r.headers.get("content-type"), "text/plain;charset=UTF-8");
        assertEq(await r.clone().text(), "body");
        assertEq(await r.text(), "body");
        assert(r.bodyUsed);
        await assertRejects(r.text(), "TypeError");

        const d = new Response();
        assertEq([d.status, d.ok, d.statusText], [200, true, ""]);
        assertEq(await d.text(), "");
        assertEq(new Response(null, { status: 404 }).ok, false);
        assertThrows(() => new Response("x", { status: 199 }), "RangeError");
        assertThrows(() => new Response("x", { status: 600 }), "RangeError");
        assertThrows(() => new Response("x", { statusText: "bad\n" }), "TypeError");
        assertThrows(() => new Response("x", { status: 204 }), "TypeError");
        assertThrows(() => new Response("", { status: 304 }), "TypeError");
        assertEq(new Response(null, { status: 204 }).status, 204);

        const j = Response.json({ a: 1 }, { status: 400, headers: { "x-j": "1" } });
        assertEq([j.status, j.headers.get("content-type"), j.headers.get("x-j")], [400, "application/json", "1"]);
        assertEq(await j.json(), { a: 1 });
        assertThrows(() => Response.json(undefined), "TypeError");
        assertThrows(() => Response.json(1n), "TypeError");
        assertThrows(() => Response.json({}, { status: 204 }), "TypeError");

        const red = Response.redirect("https://example.com/x");
        assertEq([red.status, red.headers.get("location")], [302, "https://example.com/x"]);
        assertEq(Response.redirect("https://example.com/", 308).status, 308);
        assertThrows(() => Response.redirect("https://example.com/", 200), "RangeError");
        assertThrows(() => Response.redirect("nope"), "TypeError");
        const err = Response.error();
        assertEq([err.status, err.type, err.ok], [0, "error", false]);

        const bin = new Response(new Uint8Array([104, 105]).buffer);
        assertEq(bin.headers.get("content-type"), null);
        assertEq(new Uint8Array(await bin.arrayBuffer()).length, 2);
        const view = new Response(new Uint8Array([0, 104, 105, 0]).subarray(1, 3));
        assertEq(await view.text(), "hi");
        const html = new Response(h("p", null, "x"));
        assertEq(html.headers.get("content-type"), "text/html;charset=UTF-8");
        assertEq(await html.text(), "<p>x</p>");
        const preset = new Response("x", { headers: { "content-type": "text/csv" } });
        assertEq(preset.headers.get("content-type"), "text/csv");
        await assertRejects(new Response("{bad").json(), "SyntaxError");
        "#,
    );
}
