//! `Blob`, `File`, `FormData`, and form/Blob bodies of `Request` / `Response`.

use crate::harness::Harness;

#[test]
fn blob_parts_types_and_slices() {
    let h = Harness::new();
    h.check_async(
        r#"
        const b = new Blob(["héllo ", new Uint8Array([0xff, 0x00]), new Blob(["!"])], { type: "Text/Plain" });
        assertEq(b.size, 6 + 1 + 2 + 1);
        assertEq(b.type, "text/plain");
        assertEq(Object.prototype.toString.call(b), "[object Blob]");
        assertEq(Array.from(await b.slice(7, 9).bytes()), [0xff, 0x00]);
        assertEq(await b.slice(-1).text(), "!");
        assertEq(await b.slice(0, 6).text(), "héllo");
        assertEq(b.slice(0, 6).type, "");
        assertEq(b.slice(1, 2, "A/B").type, "a/b");
        assertEq(b.slice(5, 2).size, 0);
        assertEq(new Blob([], { type: "bad\u00e9" }).type, "");
        assertEq(new Blob().size, 0);

        // Reads hand out copies: changing one changes nothing else.
        const buf = await b.arrayBuffer();
        assert(buf instanceof ArrayBuffer);
        new Uint8Array(buf)[0] = 0x41;
        assertEq(await b.slice(0, 1).text(), "h");
        const src = new Uint8Array([1, 2, 3]);
        const copy = new Blob([src]);
        src[0] = 9;
        assertEq(Array.from(await copy.bytes()), [1, 2, 3]);
        assertEq(await new Blob([new Uint16Array([0x4142]).buffer]).text(), "BA");

        assertEq(await new Blob(["a\r\nb\rc"], { endings: "native" }).text(), "a\nb\nc");
        assertEq(await new Blob(["a\r\nb"]).text(), "a\r\nb");
        assertThrows(() => new Blob("not a sequence"), "TypeError", "sequence");
        assertThrows(() => new Blob([], { endings: "dos" }), "TypeError", "endings");
        const streamed = [];
        for await (const chunk of new Blob(["str", "eam"]).stream()) streamed.push(new TextDecoder().decode(chunk));
        assertEq(streamed.join(""), "stream");
        "#,
    );
}

#[test]
fn files_have_a_name_and_a_modification_time() {
    let h = Harness::new();
    h.check_async(
        r#"
        const before = Date.now();
        const f = new File(["data"], "notes.txt", { type: "text/plain", lastModified: 42 });
        assert(f instanceof Blob && f instanceof File);
        assertEq([f.name, f.size, f.type, f.lastModified], ["notes.txt", 4, "text/plain", 42]);
        assertEq(Object.prototype.toString.call(f), "[object File]");
        const g = new File([f], "copy.bin");
        assertEq([g.name, g.type, await g.text()], ["copy.bin", "", "data"]);
        assert(g.lastModified >= before);
        assertEq(f.slice(1).constructor, Blob);
        assertThrows(() => new File(["x"]), "TypeError", "2 arguments");
        assertThrows(() => structuredClone(f), "DataCloneError");
        "#,
    );
}

#[test]
fn form_data_follows_the_xhr_standard() {
    let h = Harness::new();
    h.check(
        r#"
        const fd = new FormData();
        fd.append("a", "1");
        fd.append("a", 2);
        fd.append("blob", new Blob(["x"], { type: "text/x" }));
        fd.append("named", new Blob(["y"]), "y.txt");
        const f = new File(["z"], "z.txt");
        fd.append("file", f);
        fd.append("renamed", f, "other.txt");

        assertEq(fd.get("a"), "1");
        assertEq(fd.getAll("a"), ["1", "2"]);
        assertEq(fd.get("missing"), null);
        assertEq(fd.getAll("missing"), []);
        assert(fd.has("a") && !fd.has("b"));
        const blob = fd.get("blob");
        assert(blob instanceof File);
        assertEq([blob.name, blob.type, blob.size], ["blob", "text/x", 1]);
        assertEq(fd.get("named").name, "y.txt");
        assert(fd.get("file") === f, "a File without a filename is kept as is");
        assertEq(fd.get("renamed").name, "other.txt");

        fd.set("a", "3");
        assertEq(fd.getAll("a"), ["3"]);
        assertEq([...fd.keys()], ["a", "blob", "named", "file", "renamed"]);
        fd.set("new", "n");
        assertEq([...fd.keys()].at(-1), "new");
        fd.delete("blob");
        assertEq(fd.has("blob"), false);
        const seen = [];
        fd.forEach((value, key, self) => { assert(self === fd); seen.push(key); });
        assertEq(seen, ["a", "named", "file", "renamed", "new"]);
        assertEq([...fd].length, 5);
        assertEq([...fd.entries()][0], ["a", "3"]);
        assertEq([...fd.values()][0], "3");
        assertEq(Object.prototype.toString.call(fd.entries()), "[object FormData Iterator]");

        assertThrows(() => fd.append("x", "text", "name.txt"), "TypeError", "only allowed with a Blob");
        assertThrows(() => fd.append("x"), "TypeError", "2 arguments");
        assertThrows(() => new FormData({}), "TypeError", "no HTML forms");
        assertThrows(() => structuredClone(fd), "DataCloneError");
        "#,
    );
}

#[test]
fn form_data_bodies_round_trip_through_multipart() {
    let h = Harness::new();
    h.check_async(
        r#"
        const fd = new FormData();
        fd.append("title", "hé \"quoted\"");
        fd.append("we\"ird\nname", "v");
        fd.append("doc", new File([new Uint8Array([0, 0xff, 0x80, 10])], "a\"b.bin", { type: "application/x-thing" }));
        fd.append("plain", new Blob(["p"]));
        const r = new Response(fd);
        const ct = r.headers.get("content-type");
        assert(ct.startsWith("multipart/form-data; boundary="), ct);
        const again = await r.clone().formData();
        assertEq(again.get("title"), "hé \"quoted\"");
        assertEq(again.get("we%22ird%0Aname"), "v");
        const doc = again.get("doc");
        assert(doc instanceof File);
        assertEq([doc.name, doc.type, doc.size], ["a%22b.bin", "application/x-thing", 4]);
        assertEq(Array.from(await doc.bytes()), [0, 0xff, 0x80, 10]);
        const plain = again.get("plain");
        assertEq([plain.name, plain.type, await plain.text()], ["blob", "application/octet-stream", "p"]);
        const text = await r.text();
        assert(text.includes('name="we%22ird%0Aname"'), text);

        // Each body gets its own boundary.
        const other = new Request("https://x.test", { method: "POST", body: fd });
        assert(other.headers.get("content-type") !== ct);
        assertEq((await other.formData()).getAll("title").length, 1);

        // An explicit content-type is kept.
        const explicit = new Response(fd, { headers: { "content-type": "application/octet-stream" } });
        assertEq(explicit.headers.get("content-type"), "application/octet-stream");
        "#,
    );
}

#[test]
fn urlencoded_and_blob_bodies() {
    let h = Harness::new();
    h.check_async(
        r#"
        const req = new Request("https://x.test", { method: "POST", body: new URLSearchParams("a=1&b=x+y&a=%E2%82%AC") });
        const fd = await req.formData();
        assertEq(fd.getAll("a"), ["1", "€"]);
        assertEq(fd.get("b"), "x y");
        assert(req.bodyUsed);
        await assertRejects(req.formData(), "TypeError", "already been used");

        const blob = await new Response("abc", { headers: { "content-type": "text/csv" } }).blob();
        assertEq([blob.type, blob.size, await blob.text()], ["text/csv", 3, "abc"]);
        assertEq((await new Response(new Uint8Array([1])).blob()).type, "");

        const typed = new Response(new Blob(["<b>"], { type: "text/html" }));
        assertEq(typed.headers.get("content-type"), "text/html");
        assertEq(await typed.text(), "<b>");
        const untyped = new Response(new Blob(["x"]));
        assertEq(untyped.headers.get("content-type"), null);
        const sliced = new Request("https://x.test", { method: "PUT", body: new Blob(["0123456789"]).slice(2, 5) });
        assertEq(await sliced.text(), "234");
        "#,
    );
}

#[test]
fn unreadable_forms_throw_type_errors_that_say_why() {
    let h = Harness::new();
    h.check_async(
        r#"
        const post = (body, type) => new Request("https://x.test", { method: "POST", body, headers: type ? { "content-type": type } : {} });
        await assertRejects(post(new Uint8Array([1])).formData(), "TypeError", "no Content-Type");
        await assertRejects(post("{}", "application/json").formData(), "TypeError", "got 'application/json'");
        await assertRejects(post("x", "multipart/form-data").formData(), "TypeError", "no boundary");
        await assertRejects(post("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx", "multipart/form-data; boundary=b").formData(),
          "TypeError", "Request.formData: the multipart/form-data body is malformed: the part 'a' is not followed");
        await assertRejects(new Response("x=1").formData(), "TypeError", "Response.formData: expected a Content-Type");
        "#,
    );
}

#[test]
fn a_malformed_incoming_form_answers_400_invalid_form_data() {
    let h = Harness::new();
    h.init(
        r#"
        registerWebHandler("POST", "/upload", async (req) => {
          const form = await req.formData();
          return { fields: [...form.keys()], size: form.get("f").size };
        });
        registerWebHandler("POST", "/caught", async (req) => {
          try { await req.formData(); } catch (e) { return `${e.name}`; }
        });
        registerWebHandler("GET", "/blob", () => new Blob(["<p>"], { type: "text/html" }));
        "#,
    );
    let body = b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\n\x00\xff\r\n--b--\r\n";
    let ct = [("content-type", "multipart/form-data; boundary=b")];
    let ok = h.dispatch_full(0, "POST", "https://x.test/upload", &ct, Some(body), &[]);
    assert_eq!(ok.text(), r#"{"fields":["f"],"size":2}"#);

    let bad = h.dispatch_full(0, "POST", "https://x.test/upload", &ct, Some(b"junk"), &[]);
    let (status, code, message, _) = bad.fail_parts();
    assert_eq!((status, code.as_str()), (400, "INVALID_FORM_DATA"));
    assert!(message.starts_with("Request.formData: "), "{message}");

    let json = [("content-type", "application/json")];
    let caught = h.dispatch_full(1, "POST", "https://x.test/caught", &json, Some(b"{}"), &[]);
    assert_eq!(caught.text(), "TypeError");

    let blob = h.dispatch(2, "GET", "https://x.test/blob");
    assert_eq!(blob.header("content-type").as_deref(), Some("text/html"));
    assert_eq!(blob.text(), "<p>");
}
