//! `URL` and `URLSearchParams`.

use crate::harness::Harness;

// ---------------------------------------------------------------------------
// URL

#[test]
fn url_getters_setters_and_search_params() {
    let h = Harness::new();
    h.check(
        r##"
        const u = new URL("https://user:pw@example.com:8080/a/b?x=1&y=2#frag");
        assertEq([u.href, u.protocol, u.username, u.password, u.host, u.hostname, u.port, u.pathname, u.search, u.hash, u.origin],
          ["https://user:pw@example.com:8080/a/b?x=1&y=2#frag", "https:", "user", "pw", "example.com:8080", "example.com",
           "8080", "/a/b", "?x=1&y=2", "#frag", "https://example.com:8080"]);
        assertEq(String(u), u.href);
        assertEq(u.toJSON(), u.href);
        assertEq(JSON.stringify({ u }), `{"u":"${u.href}"}`);

        u.pathname = "/c d";
        assertEq(u.pathname, "/c%20d");
        u.hash = "";
        u.port = "443";
        assertEq(u.href, "https://user:pw@example.com/c%20d?x=1&y=2");
        u.protocol = "http";
        u.host = "other.test:81";
        u.username = "";
        u.password = "";
        assertEq(u.href, "http://other.test:81/c%20d?x=1&y=2");
        u.port = "not a port";
        assertEq(u.port, "81");

        // searchParams is live-linked both ways.
        const p = u.searchParams;
        assert(p === u.searchParams);
        assertEq(p.get("x"), "1");
        p.append("z", "a b");
        assertEq(u.search, "?x=1&y=2&z=a+b");
        p.delete("x");
        p.delete("y");
        p.delete("z");
        assertEq(u.search, "");
        assertEq(u.href, "http://other.test:81/c%20d");
        u.search = "?q=%C3%A9&q=2";
        assertEq(p.getAll("q"), ["é", "2"]);
        u.href = "https://example.org/?k=v";
        assertEq(p.get("k"), "v");
        assertThrows(() => { u.href = "not a url"; }, "TypeError");

        assertEq(new URL("../x?y#z", "https://a.test/b/c/d").href, "https://a.test/b/x?y#z");
        assertEq(new URL("/p", new URL("https://a.test/q")).href, "https://a.test/p");
        assertThrows(() => new URL("/relative"), "TypeError", "Invalid URL");
        assertThrows(() => new URL(), "TypeError");
        assertEq(URL.canParse("https://x.test"), true);
        assertEq(URL.canParse("nope"), false);
        assertEq(URL.canParse("b", "https://a.test/"), true);
        assertEq(URL.parse("nope"), null);
        assertEq(URL.parse("https://x.test/p").pathname, "/p");
        assertEq(new URL("HTTPS://EXAMPLE.com/%7e?a b").href, "https://example.com/%7e?a%20b");
        assertEq(new URL("https://münchen.de/").hostname, "xn--mnchen-3ya.de");
        "##,
    );
}

#[test]
fn url_search_params_semantics() {
    let h = Harness::new();
    h.check(
        r#"
        const p = new URLSearchParams("?a=1&b=2+3&c=%20x%zz&a=4&&=empty&novalue");
        assertEq([...p], [["a", "1"], ["b", "2 3"], ["c", " x%zz"], ["a", "4"], ["", "empty"], ["novalue", ""]]);
        assertEq(p.size, 6);
        assertEq(p.get("a"), "1");
        assertEq(p.getAll("a"), ["1", "4"]);
        assertEq(p.get("missing"), null);
        assert(p.has("a") && p.has("a", "4") && !p.has("a", "5"));
        p.set("a", "x");
        assertEq(p.getAll("a"), ["x"]);
        p.delete("b", "nope");
        assert(p.has("b"));
        p.delete("b", "2 3");
        assert(!p.has("b"));
        assertEq(p.toString(), "a=x&c=+x%25zz&=empty&novalue=");

        const s = new URLSearchParams([["z", "1"], ["a", "2"], ["z", "0"], ["é", "3"]]);
        s.sort();
        assertEq([...s.keys()], ["a", "z", "z", "é"]);
        assertEq([...s.values()], ["2", "1", "0", "3"]);
        assertEq(Array.from(s.entries()).length, 4);
        const seen = [];
        s.forEach((v, k, obj) => { seen.push(k + "=" + v); assert(obj === s); });
        assertEq(seen, ["a=2", "z=1", "z=0", "é=3"]);

        assertEq(new URLSearchParams({ q: "a b&c=d/é*-._~", n: 1 }).toString(), "q=a+b%26c%3Dd%2F%C3%A9*-._%7E&n=1");
        assertEq(new URLSearchParams({ s: "\ud800" }).toString(), "s=%EF%BF%BD");
        assertEq(new URLSearchParams(new URLSearchParams("x=1")).get("x"), "1");
        assertEq(new URLSearchParams(new Map([["m", "v"]])).toString(), "m=v");
        assertThrows(() => new URLSearchParams([["only-one"]]), "TypeError");
        assertThrows(() => new URLSearchParams([1]), "TypeError");
        assertThrows(() => p.append("x"), "TypeError");
        assertEq(Object.prototype.toString.call(s.entries()), "[object URLSearchParams Iterator]");

        // Live iteration: appending during iteration is seen.
        const live = new URLSearchParams("a=1");
        const it = live.keys();
        assertEq(it.next().value, "a");
        live.append("b", "2");
        assertEq(it.next(), { value: "b", done: false });
        assertEq(it.next().done, true);
        "#,
    );
}
