//! Timers, microtasks, events and `AbortController`.

use crate::harness::Harness;

// ---------------------------------------------------------------------------
// Timers

#[test]
fn timers_schedule_fire_and_cancel() {
    let h = Harness::new();
    h.check(
        r#"
        globalThis.fired = [];
        globalThis.t1 = setTimeout((a, b) => fired.push("t1:" + a + b), 50, "x", "y");
        globalThis.t2 = setTimeout(() => fired.push("t2"), -5);
        globalThis.iv = setInterval(() => { fired.push("iv"); if (fired.filter(f => f === "iv").length === 3) clearInterval(iv); }, 10);
        globalThis.bad = setTimeout(() => { throw new Error("timer boom"); });
        assert(Number.isInteger(t1) && t1 > 0 && t2 > t1, "ids are increasing positive integers");
        clearTimeout(t2);
        clearTimeout(12345);
        clearTimeout(undefined);
        assertThrows(() => setTimeout("code()", 1), "TypeError");
        "#,
    );
    let (t1, t2, iv, bad): (i64, i64, i64, i64) = (
        h.eval("t1").unwrap().parse().unwrap(),
        h.eval("t2").unwrap().parse().unwrap(),
        h.eval("iv").unwrap().parse().unwrap(),
        h.eval("bad").unwrap().parse().unwrap(),
    );
    {
        let st = h.state.borrow();
        assert_eq!(
            st.scheduled,
            vec![(t1, 50.0), (t2, 0.0), (iv, 10.0), (bad, 0.0)]
        );
        assert_eq!(st.cancelled, vec![t2]);
    }
    h.fire_timer(t2); // cleared: nothing happens
    h.fire_timer(t1);
    h.fire_timer(t1); // one-shot: the second fire is ignored
    assert_eq!(h.eval("fired.join()").unwrap(), "t1:xy");
    for _ in 0..3 {
        h.fire_timer(iv);
    }
    assert_eq!(h.eval("fired.join()").unwrap(), "t1:xy,iv,iv,iv");
    {
        let st = h.state.borrow();
        let rearms = st.scheduled.iter().filter(|(id, _)| *id == iv).count();
        assert_eq!(
            rearms, 3,
            "an interval re-arms after each fire until cleared (initial + 2)"
        );
    }
    h.fire_timer(iv);
    assert_eq!(h.eval("fired.length").unwrap(), "4");
    h.take_logs();
    h.fire_timer(bad);
    let (level, msg) = h.last_log();
    assert_eq!(level, "error");
    assert!(msg.starts_with("Uncaught Error: timer boom"), "{msg}");
    assert_eq!(h.call_internal("pendingTimers", |_| vec![]).unwrap(), "0");
}

#[test]
fn microtasks_run_in_order_and_errors_are_reported() {
    let h = Harness::new();
    h.check(
        r#"
        globalThis.order = [];
        queueMicrotask(() => order.push(1));
        Promise.resolve().then(() => order.push(2));
        queueMicrotask(() => { throw new Error("micro boom"); });
        queueMicrotask(() => order.push(3));
        order.push(0);
        assertThrows(() => queueMicrotask(1), "TypeError");
        "#,
    );
    assert_eq!(h.eval("order.join()").unwrap(), "0,1,2,3");
    assert!(
        h.take_logs()
            .iter()
            .any(|(l, m)| l == "error" && m.starts_with("Uncaught Error: micro boom"))
    );
}

// ---------------------------------------------------------------------------
// Events / AbortController

#[test]
fn abort_controller_and_events() {
    let h = Harness::new();
    h.check(
        r#"
        const ac = new AbortController();
        const s = ac.signal;
        assert(s instanceof AbortSignal && s instanceof EventTarget);
        assertEq([s.aborted, s.reason], [false, undefined]);
        s.throwIfAborted();
        const calls = [];
        s.addEventListener("abort", (ev) => calls.push("listener:" + ev.type + ":" + (ev.target === s)));
        s.addEventListener("abort", () => calls.push("once"), { once: true });
        s.onabort = () => calls.push("onabort");
        ac.abort();
        ac.abort();
        assertEq(calls, ["listener:abort:true", "once", "onabort"]);
        assert(s.aborted);
        assert(s.reason instanceof DOMException && s.reason.name === "AbortError");
        assertThrows(() => s.throwIfAborted(), "AbortError");

        const ac2 = new AbortController();
        ac2.abort("why");
        assertEq(ac2.signal.reason, "why");
        assertEq(AbortSignal.abort().reason.name, "AbortError");
        assertEq(AbortSignal.abort(42).reason, 42);
        assertThrows(() => new AbortSignal(), "TypeError");

        const src = new AbortController();
        const any = AbortSignal.any([src.signal, new AbortController().signal]);
        assert(!any.aborted);
        src.abort("first");
        assertEq([any.aborted, any.reason], [true, "first"]);

        const t = new EventTarget();
        const got = [];
        const l = (e) => got.push(e.type);
        t.addEventListener("ping", l);
        t.addEventListener("ping", l);
        t.addEventListener("ping", { handleEvent(e) { got.push("obj:" + e.type); } });
        assertEq(t.dispatchEvent(new Event("ping")), true);
        t.removeEventListener("ping", l);
        t.dispatchEvent(new Event("ping"));
        assertEq(got, ["ping", "obj:ping", "obj:ping"]);
        const ev = new Event("c", { cancelable: true });
        t.addEventListener("c", (e) => e.preventDefault());
        assertEq(t.dispatchEvent(ev), false);
        assert(ev.defaultPrevented);
        assertEq(new CustomEvent("x", { detail: { a: 1 } }).detail, { a: 1 });
        const ctl = new AbortController();
        t.addEventListener("sig", () => got.push("sig"), { signal: ctl.signal });
        ctl.abort();
        t.dispatchEvent(new Event("sig"));
        assertEq(got.includes("sig"), false);
        t.addEventListener("err", () => { throw new Error("listener boom"); });
        t.dispatchEvent(new Event("err"));
        globalThis.timeoutSignal = AbortSignal.timeout(25);
        "#,
    );
    assert!(
        h.take_logs()
            .iter()
            .any(|(l, m)| l == "error" && m.starts_with("Uncaught Error: listener boom"))
    );
    let (id, delay) = *h.state.borrow().scheduled.last().unwrap();
    assert_eq!(delay, 25.0);
    h.check("assert(!timeoutSignal.aborted)");
    h.fire_timer(id);
    h.check("assert(timeoutSignal.aborted && timeoutSignal.reason.name === 'TimeoutError')");
}
