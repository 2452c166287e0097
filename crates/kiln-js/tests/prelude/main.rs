//! Integration tests for the JavaScript prelude (`crates/kiln-js/src/js/*.js`), run in a
//! bare QuickJS context with a Rust stub host: globals and `console`, encoding, `URL`,
//! `Headers`/`Request`/`Response`, timers and events, `structuredClone` and `crypto`, JSX,
//! handler registration, dispatch, and resilience to globals rewritten by scripts.
//!
//! The prelude files are concatenated in name order inside
//! `(function (host, global) { "use strict"; ...; return internal; })`, exactly as the
//! engine does, and evaluated in a bare rquickjs context. The `host` object is
//! implemented in `harness.rs` with Rust closures (URL parsing with the `url` crate,
//! randomness from `getrandom`/`uuid`), and records what the prelude reports (logs, timers,
//! responses).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: panicking on failure is the point

mod harness;

mod blob_form_data;
mod clone_crypto;
mod dispatch;
mod encoding;
mod globals;
mod hardening;
mod headers_body;
mod html;
mod registration;
mod streams;
mod timers_events;
mod url;
