//! `TextEncoder`/`TextDecoder`, `atob`/`btoa` and `DOMException`.

use crate::harness::Harness;

// ---------------------------------------------------------------------------
// Encoding

#[test]
fn text_encoder_and_decoder() {
    let h = Harness::new();
    h.check(
        r#"
        const enc = new TextEncoder();
        assertEq(enc.encoding, "utf-8");
        assertEq(Array.from(enc.encode("hé😀")), [104, 195, 169, 240, 159, 152, 128]);
        assertEq(enc.encode().length, 0);
        assertEq(Array.from(enc.encode("\ud800")), [0xef, 0xbf, 0xbd]);
        assert(enc.encode("x") instanceof Uint8Array);

        const dest = new Uint8Array(5);
        assertEq(enc.encodeInto("aé😀", dest), { read: 2, written: 3 });
        assertEq(Array.from(dest), [97, 195, 169, 0, 0]);
        assertEq(enc.encodeInto("😀", new Uint8Array(4)), { read: 2, written: 4 });
        assertThrows(() => enc.encodeInto("a", []), "TypeError");

        const dec = new TextDecoder();
        assertEq(dec.encoding, "utf-8");
        assertEq(dec.fatal, false);
        assertEq(dec.decode(new Uint8Array([0xef, 0xbb, 0xbf, 104, 105])), "hi");
        assertEq(new TextDecoder("utf-8", { ignoreBOM: true }).decode(new Uint8Array([0xef, 0xbb, 0xbf, 104])), "\ufeffh");
        assertEq(dec.decode(new Uint8Array([104, 0xff, 105])), "h\ufffdi");
        assertThrows(() => new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([0xff])), "TypeError");
        assertEq(dec.decode(), "");
        assertEq(dec.decode(new Uint8Array([104, 105]).buffer), "hi");
        assertEq(dec.decode(new DataView(new Uint8Array([0, 104, 105]).buffer, 1)), "hi");
        assertEq(dec.decode(new Uint16Array([0x6968])), "hi");
        assertEq(new TextDecoder(" UTF8 ").encoding, "utf-8");
        assertThrows(() => new TextDecoder("latin1"), "RangeError");
        assertThrows(() => dec.decode("str"), "TypeError");

        // Streaming keeps partial sequences (and the BOM check) across chunks.
        const s = new TextDecoder();
        const bytes = new TextEncoder().encode("\ufeffa😀é");
        let out = "";
        for (const b of bytes) out += s.decode(new Uint8Array([b]), { stream: true });
        out += s.decode();
        assertEq(out, "a😀é");
        assertEq(s.decode(new Uint8Array([0xf0, 0x9f]), { stream: true }), "");
        assertEq(s.decode(), "\ufffd");
        "#,
    );
}

#[test]
fn atob_btoa_and_dom_exception() {
    let h = Harness::new();
    h.check(
        r#"
        assertEq(btoa("hello"), "aGVsbG8=");
        assertEq(atob("aGVsbG8="), "hello");
        assertEq(atob(" aGVs\nbG8 "), "hello");
        assertEq(btoa("\xff\xfe"), "//4=");
        const e = assertThrows(() => btoa("€"), "InvalidCharacterError");
        assert(e instanceof DOMException && e instanceof Error);
        assertThrows(() => atob("a"), "InvalidCharacterError");
        const d = new DOMException("msg", "DataCloneError");
        assertEq([d.name, d.message, d.code], ["DataCloneError", "msg", 25]);
        "#,
    );
}

#[test]
fn base64_matches_the_forgiving_algorithm() {
    let h = Harness::new();
    h.check(
        r#"
        const all = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join("");
        assertEq(atob(btoa(all)), all);
        for (const [input, output] of [["", ""], ["YQ", "a"], ["YR==", "a"], ["YWI=", "ab"], ["YWJj", "abc"],
                                       ["\tY W\nJ\fj\r", "abc"], ["YWJjZA", "abcd"]]) {
          assertEq(atob(input), output, input);
        }
        for (const bad of ["a", "YQ=", "Y===", "YQ==YQ==", "Y!==", "YWJj=", "€", "=YWJ", "YQ===", undefined]) {
          assertThrows(() => atob(bad), "InvalidCharacterError", undefined);
        }
        assertEq(atob(null), "\x9e\xe9e");
        assertEq(btoa(""), "");
        assertEq(btoa(123), "MTIz");
        assertThrows(() => btoa("\u0100"), "InvalidCharacterError");
        assertThrows(() => atob(), "TypeError");
        const big = "x".repeat(100000);
        assertEq(atob(btoa(big)), big);
        "#,
    );
}
