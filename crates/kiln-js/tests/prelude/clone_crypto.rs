//! `crypto` randomness and `structuredClone`.

use crate::harness::Harness;

// ---------------------------------------------------------------------------
// crypto

#[test]
fn crypto_random() {
    let h = Harness::new();
    h.check(
        r#"
        const id = crypto.randomUUID();
        assert(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id), id);
        assert(crypto.randomUUID() !== id);
        const a = new Uint8Array(64);
        assert(crypto.getRandomValues(a) === a);
        assert(a.some(b => b !== 0));
        const w = new Uint32Array(8);
        crypto.getRandomValues(w);
        assert(w.some(x => x !== 0));
        const big = new BigUint64Array(2);
        crypto.getRandomValues(big);
        const sub = new Uint8Array(8).subarray(2, 4);
        crypto.getRandomValues(sub);
        crypto.getRandomValues(new Uint8Array(65536));
        assertThrows(() => crypto.getRandomValues(new Uint8Array(65537)), "QuotaExceededError");
        assertThrows(() => crypto.getRandomValues(new Float64Array(2)), "TypeMismatchError");
        assertThrows(() => crypto.getRandomValues(new DataView(new ArrayBuffer(2))), "TypeMismatchError");
        assertThrows(() => crypto.getRandomValues([1, 2]), "TypeMismatchError");
        assertThrows(() => new Crypto(), "TypeError");
        const { randomUUID } = crypto;
        assertThrows(() => randomUUID(), "TypeError");
        "#,
    );
}

// ---------------------------------------------------------------------------
// structuredClone

#[test]
fn structured_clone() {
    let h = Harness::new();
    h.check(
        r#"
        const shared = { s: 1 };
        const src = {
          n: 1, s: "x", b: true, u: undefined, nul: null, big: 10n, arr: [1, [2, { three: 3 }]],
          date: new Date(5), re: /a+/gi, map: new Map([[shared, "k"]]), set: new Set([shared, 2]),
          a: shared, b2: shared, nested: { deep: { deeper: [shared] } },
          boxed: new String("boxed"),
        };
        src.self = src;
        const c = structuredClone(src);
        assert(c !== src && c.arr !== src.arr && c.arr[1][1] !== src.arr[1][1]);
        assertEq(c.arr, [1, [2, { three: 3 }]]);
        assert(c.self === c, "cycles preserved");
        assert(c.a === c.b2 && c.a !== shared, "shared references preserved");
        assert(c.nested.deep.deeper[0] === c.a);
        assert(c.map.keys().next().value === c.a && c.set.has(c.a));
        assert(c.date instanceof Date && c.date.getTime() === 5 && c.date !== src.date);
        assert(c.re instanceof RegExp && c.re.source === "a+" && c.re.flags === "gi");
        assertEq([c.n, c.s, c.b, c.nul, typeof c.big], [1, "x", true, null, "bigint"]);
        assert("u" in c && c.u === undefined);
        assert(c.boxed instanceof String && String(c.boxed) === "boxed");

        const buf = new Uint8Array([1, 2, 3, 4]).buffer;
        const views = { whole: new Uint8Array(buf), part: new Uint16Array(buf, 2, 1), dv: new DataView(buf, 1, 2), buf };
        const vc = structuredClone(views);
        assert(vc.buf !== buf && vc.whole.buffer === vc.buf && vc.part.buffer === vc.buf && vc.dv.buffer === vc.buf);
        assertEq([vc.part.byteOffset, vc.part.length, vc.dv.byteOffset, vc.dv.byteLength], [2, 1, 1, 2]);
        vc.whole[0] = 9;
        assertEq(new Uint8Array(buf)[0], 1);

        const e = structuredClone(new TypeError("bad", { cause: { why: 1 } }));
        assert(e instanceof TypeError && e.message === "bad" && e.cause.why === 1);
        class Custom extends Error { constructor() { super("custom"); this.name = "Custom"; } }
        const ce = structuredClone(new Custom());
        assert(ce.constructor === Error && ce.message === "custom");
        const dex = structuredClone(new DOMException("d", "AbortError"));
        assert(dex instanceof DOMException && dex.name === "AbortError");

        class Point { constructor() { this.x = 1; } get y() { return 2; } }
        const p = structuredClone(new Point());
        assert(Object.getPrototypeOf(p) === Object.prototype && p.x === 1 && !("y" in p));
        const withProto = structuredClone(JSON.parse('{"__proto__": {"polluted": 1}}'));
        assert(Object.getPrototypeOf(withProto) === Object.prototype && withProto.polluted === undefined);
        assertEq(Object.keys(withProto), ["__proto__"]);

        assertThrows(() => structuredClone(() => 1), "DataCloneError");
        assertThrows(() => structuredClone({ f() {} }), "DataCloneError");
        assertThrows(() => structuredClone(Symbol("s")), "DataCloneError");
        assertThrows(() => structuredClone(new Headers()), "DataCloneError");
        assertThrows(() => structuredClone(new WeakMap()), "DataCloneError");
        assertThrows(() => structuredClone(Promise.resolve()), "DataCloneError");
        assertThrows(() => structuredClone(), "TypeError");
        assertEq(structuredClone(5), 5);

        const tb = new Uint8Array([7, 8]).buffer;
        const moved = structuredClone({ tb }, { transfer: [tb] });
        assertEq(tb.byteLength, 0);
        assertEq(Array.from(new Uint8Array(moved.tb)), [7, 8]);
        assertThrows(() => structuredClone(1, { transfer: [{}] }), "DataCloneError");
        "#,
    );
}
