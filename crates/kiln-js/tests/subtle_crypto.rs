//! `crypto.subtle` in a real isolate (its digests and HMACs are native host functions):
//! FIPS 180 and RFC 4231 / RFC 2202 test vectors, key import/export/generation, usages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use kiln_js::{
    BundleFile, BundleLimits, Engine, EngineConfig, HttpRequest, Limits, LogSink, ScriptLog,
};

struct Discard;

impl LogSink for Discard {
    fn log(&self, _entry: ScriptLog) {}
}

const SCRIPT: &str = r#"
function assert(ok, what = "assertion failed") { if (!ok) throw new Error(what); }
function assertEq(a, b) {
  const [x, y] = [JSON.stringify(a), JSON.stringify(b)];
  if (x !== y) throw new Error(`expected ${y}, got ${x}`);
}
function assertThrows(run, name) {
  try { run(); } catch (e) { if (e.name === name) return; throw new Error(`expected ${name}, got ${e.name}: ${e.message}`); }
  throw new Error(`expected ${name}, nothing thrown`);
}
async function assertRejects(promise, name) {
  try { await promise; } catch (e) { if (e.name === name) return; throw new Error(`expected ${name}, got ${e.name}: ${e.message}`); }
  throw new Error(`expected ${name}, it resolved`);
}
export function init() {
  registerWebHandler("GET", "/", async () => {
    try {

        const enc = new TextEncoder();
        const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
        const abc = enc.encode("abc");
        // FIPS 180 test vectors
        assertEq(hex(await crypto.subtle.digest("SHA-1", abc)), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assertEq(hex(await crypto.subtle.digest("SHA-256", abc)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assertEq(hex(await crypto.subtle.digest({ name: "sha-384" }, abc)),
          "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7");
        assertEq(hex(await crypto.subtle.digest("SHA-512", abc.buffer)),
          "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
        assertEq(hex(await crypto.subtle.digest("SHA-256", new Uint8Array(0))),
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        await assertRejects(crypto.subtle.digest("MD5", abc), "NotSupportedError");
        await assertRejects(crypto.subtle.digest("SHA-256", "text"), "TypeError");

        // RFC 4231 test case 2: key "Jefe"
        const key = await crypto.subtle.importKey("raw", enc.encode("Jefe"), { name: "HMAC", hash: "SHA-256" }, true, ["sign", "verify"]);
        assertEq(key.type, "secret");
        assertEq(key.algorithm, { name: "HMAC", hash: { name: "SHA-256" }, length: 32 });
        assertEq(Object.prototype.toString.call(key), "[object CryptoKey]");
        const data = enc.encode("what do ya want for nothing?");
        const sig = await crypto.subtle.sign("HMAC", key, data);
        assertEq(hex(sig), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert(await crypto.subtle.verify("HMAC", key, sig, data));
        const bad = new Uint8Array(sig.slice(0)); bad[0] ^= 1;
        assert(!(await crypto.subtle.verify({ name: "HMAC" }, key, bad, data)));
        assert(!(await crypto.subtle.verify("HMAC", key, sig.slice(0, 16), data)));

        // SHA-1 / SHA-512 HMACs (RFC 2202 / RFC 4231 case 2)
        const k1 = await crypto.subtle.importKey("raw", enc.encode("Jefe"), { name: "HMAC", hash: { name: "SHA-1" } }, false, ["sign"]);
        assertEq(hex(await crypto.subtle.sign("HMAC", k1, data)), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
        const k512 = await crypto.subtle.importKey("raw", enc.encode("Jefe"), { name: "HMAC", hash: "SHA-512" }, false, ["sign"]);
        assertEq(hex(await crypto.subtle.sign("HMAC", k512, data)),
          "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737");

        // JWK round trip, generateKey, usages and extractability
        const jwk = await crypto.subtle.exportKey("jwk", key);
        assertEq([jwk.kty, jwk.k, jwk.alg], ["oct", "SmVmZQ", "HS256"]);
        const again = await crypto.subtle.importKey("jwk", jwk, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
        assert(await crypto.subtle.verify("HMAC", again, sig, data));
        await assertRejects(crypto.subtle.sign("HMAC", again, data), "InvalidAccessError");
        await assertRejects(crypto.subtle.exportKey("raw", again), "InvalidAccessError");
        const generated = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-384" }, true, ["sign"]);
        assertEq(generated.algorithm.length, 1024);
        assertEq((await crypto.subtle.exportKey("raw", generated)).byteLength, 128);
        await assertRejects(crypto.subtle.importKey("raw", enc.encode("k"), { name: "HMAC", hash: "SHA-256" }, false, []), "SyntaxError");
        await assertRejects(crypto.subtle.importKey("raw", enc.encode("k"), { name: "AES-GCM" }, false, ["encrypt"]), "NotSupportedError");
        await assertRejects(crypto.subtle.importKey("raw", enc.encode("k"), { name: "HMAC" }, false, ["sign"]), "TypeError");
        assertThrows(() => new CryptoKey(), "TypeError");
        assertThrows(() => new SubtleCrypto(), "TypeError");
        
      return "ok";
    } catch (e) {
      return `FAIL: ${e.name}: ${e.message}\n${e.stack}`;
    }
  });
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digests_and_hmacs_match_the_standard_test_vectors() {
    let engine = Engine::start(
        EngineConfig {
            workers: 1,
            ..EngineConfig::default()
        },
        Arc::new(Discard),
    )
    .expect("engine");
    let files = vec![BundleFile {
        path: "main.js".into(),
        content: SCRIPT.as_bytes().to_vec(),
    }];
    let limits = Limits {
        cpu: std::time::Duration::from_secs(2),
        ..Limits::default()
    };
    let script = engine
        .prepare(
            "subtle",
            files,
            limits,
            BTreeMap::new(),
            BundleLimits::default(),
        )
        .await
        .expect("prepare");
    let script = Arc::new(script.committed(1));
    let request = HttpRequest {
        method: "GET".into(),
        url: "http://kiln.test/".into(),
        ..HttpRequest::default()
    };
    let answer = engine
        .invoke(&script, 0, vec![], request, "req-1")
        .await
        .expect("invoke");
    assert_eq!(String::from_utf8_lossy(&answer.body), "ok");
}
