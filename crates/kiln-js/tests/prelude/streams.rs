//! `ReadableStream` and stream bodies of `Request` / `Response`.

use crate::harness::{Body, Harness, Outcome};

#[test]
fn readable_streams_pull_queue_close_and_error() {
    let h = Harness::new();
    h.check_async(
        r#"
        // start + enqueue + close, read with a reader.
        const s = new ReadableStream({ start(c) { c.enqueue("a"); c.enqueue("b"); c.close(); } });
        assert(!s.locked);
        const r = s.getReader();
        assert(s.locked);
        assertThrows(() => s.getReader(), "TypeError");
        assertEq(await r.read(), { value: "a", done: false });
        assertEq(await r.read(), { value: "b", done: false });
        assertEq(await r.read(), { value: undefined, done: true });
        await r.closed;
        r.releaseLock();
        assert(!s.locked);

        // pull on demand, one chunk per read with the default high-water mark of one.
        let pulls = 0;
        const counted = new ReadableStream({
          pull(c) { pulls++; if (pulls > 3) c.close(); else c.enqueue(pulls); },
        });
        const got = [];
        for await (const n of counted) got.push(n);
        assertEq(got, [1, 2, 3]);
        assertEq(pulls, 4);

        // an async pull and an error
        const failing = new ReadableStream({
          async pull(c) { await null; c.error(new RangeError("broken source")); },
        });
        await assertRejects(failing.getReader().read(), "RangeError");

        // a throwing start throws from the constructor; a rejected one errors the stream
        assertThrows(() => new ReadableStream({ start() { throw new TypeError("no start"); } }), "TypeError");
        const bad = new ReadableStream({ async start() { throw new SyntaxError("late"); } });
        await assertRejects(bad.getReader().read(), "SyntaxError");

        // cancel reaches the source with the reason; reads then report done
        let reason = null;
        const cancellable = new ReadableStream({ pull(c) { c.enqueue(1); }, cancel(why) { reason = why; } });
        const cr = cancellable.getReader();
        assertEq((await cr.read()).value, 1);
        await cr.cancel("enough");
        assertEq(reason, "enough");
        assertEq(await cr.read(), { value: undefined, done: true });

        // breaking out of for-await cancels the stream
        let stopped = false;
        const endless = new ReadableStream({ pull(c) { c.enqueue("x"); }, cancel() { stopped = true; } });
        for await (const x of endless) break;
        assert(stopped);

        // from(): sync and async iterables
        const fromArray = [];
        for await (const v of ReadableStream.from([1, Promise.resolve(2), 3])) fromArray.push(v);
        assertEq(fromArray, [1, 2, 3]);
        async function* gen() { yield "p"; yield "q"; }
        const fromGen = [];
        for await (const v of ReadableStream.from(gen())) fromGen.push(v);
        assertEq(fromGen, ["p", "q"]);

        // tee(): both branches see every chunk
        const [t1, t2] = ReadableStream.from(["x", "y"]).tee();
        const a = [], b = [];
        for await (const v of t1) a.push(v);
        for await (const v of t2) b.push(v);
        assertEq([a, b], [["x", "y"], ["x", "y"]]);

        // clear refusals
        assertThrows(() => new ReadableStream({ pull: 1 }), "TypeError");
        assertThrows(() => new ReadableStream({}, { highWaterMark: -1 }), "RangeError");
        assertThrows(() => new ReadableStream().getReader({ mode: "byob" }), "TypeError");
        await assertRejects(new ReadableStream().pipeTo({}), "TypeError");
        assertEq(Object.prototype.toString.call(new ReadableStream()), "[object ReadableStream]");
        "#,
    );
}

#[test]
fn bodies_can_be_streams() {
    let h = Harness::new();
    h.check_async(
        r#"
        const enc = new TextEncoder();
        // A stream body is read whole by text()/json()/bytes()/arrayBuffer().
        const chunks = () => ReadableStream.from([enc.encode('{"a":'), enc.encode("[1,2]}")]);
        assertEq(await new Response(chunks()).json(), { a: [1, 2] });
        assertEq(await new Response(chunks()).text(), '{"a":[1,2]}');
        assertEq((await new Response(chunks()).bytes()).length, 11);
        assertEq((await new Response(chunks()).arrayBuffer()).byteLength, 11);

        // used once
        const once = new Response(chunks());
        assert(!once.bodyUsed);
        await once.text();
        assert(once.bodyUsed);
        await assertRejects(once.text(), "TypeError");

        // .body of a buffered body is a stream of its bytes; reading it uses the body
        const buffered = new Response("héllo");
        const reader = buffered.body.getReader();
        assert(buffered.bodyUsed);
        const { value } = await reader.read();
        assertEq(new TextDecoder().decode(value), "héllo");
        assertEq((await reader.read()).done, true);
        assertEq(new Response(null).body, null);

        // clone() tees a stream body
        const original = new Response(chunks());
        const copy = original.clone();
        assertEq(await original.text(), await copy.text());

        // a locked or read stream cannot become a body; non-byte chunks fail the read
        const locked = ReadableStream.from(["x"]);
        locked.getReader();
        assertThrows(() => new Response(locked), "TypeError");
        await assertRejects(new Response(ReadableStream.from(["text chunk"])).text(), "TypeError");

        // Request bodies too
        const req = new Request("http://x.test/", { method: "POST", body: chunks() });
        assertEq(await req.json(), { a: [1, 2] });
        "#,
    );
}

#[test]
fn a_handler_may_answer_with_a_stream() {
    let h = Harness::new();
    h.init(
        r#"
        registerWebHandler("GET", "/stream", () => {
          const enc = new TextEncoder();
          let n = 0;
          return new Response(new ReadableStream({
            async pull(c) { await null; n++; if (n > 3) c.close(); else c.enqueue(enc.encode(`part${n};`)); },
          }), { headers: { "content-type": "text/plain" } });
        });
        registerWebHandler("GET", "/broken", () =>
          new Response(new ReadableStream({ pull(c) { c.error(new Error("source failed")); } })));
        "#,
    );
    let answer = h.dispatch(0, "GET", "http://x.test/stream");
    match &answer {
        Outcome::Complete { status, body, .. } => {
            assert_eq!(*status, 200);
            assert_eq!(body, &Body::Bytes(b"part1;part2;part3;".to_vec()));
        }
        other => panic!("expected an answer, got {other:?}"),
    }
    assert_eq!(answer.header("content-type").as_deref(), Some("text/plain"));
    let (status, code, _, detail) = h.dispatch(1, "GET", "http://x.test/broken").fail_parts();
    assert_eq!((status, code.as_str()), (500, "SCRIPT_ERROR"));
    assert!(detail.unwrap_or_default().contains("source failed"));
}
