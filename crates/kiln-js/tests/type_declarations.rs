//! `types/kiln.d.ts` stays true to the prelude: it parses as a TypeScript declaration file,
//! and every Kiln-specific global the prelude defines is declared in it (Web-standard globals
//! are typed by TypeScript's own `webworker` library and are listed here instead).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use oxc::allocator::Allocator;
use oxc::parser::Parser;
use oxc::span::SourceType;

/// Globals typed by TypeScript's `es2022` + `webworker` libraries.
const WEB_STANDARD: &[&str] = &[
    "AbortController",
    "AbortSignal",
    "Blob",
    "Crypto",
    "CryptoKey",
    "CustomEvent",
    "DOMException",
    "Event",
    "EventTarget",
    "File",
    "FormData",
    "Headers",
    "ReadableStream",
    "ReadableStreamDefaultController",
    "ReadableStreamDefaultReader",
    "Request",
    "Response",
    "SubtleCrypto",
    "TextDecoder",
    "TextEncoder",
    "URL",
    "URLSearchParams",
    "atob",
    "btoa",
    "clearInterval",
    "clearTimeout",
    "console",
    "crypto",
    "fetch",
    "queueMicrotask",
    "setInterval",
    "setTimeout",
    "structuredClone",
];

fn declarations() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../types/kiln.d.ts");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Names passed to `defineGlobal("…", …)` across the prelude's sources.
fn prelude_globals() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/js");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for piece in source.split("defineGlobal(\"").skip(1) {
            let name: String = piece.chars().take_while(|c| *c != '"').collect();
            names.push(name);
        }
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn the_declarations_parse_as_typescript() {
    let source = declarations();
    let allocator = Allocator::default();
    let source_type = SourceType::from_path("kiln.d.ts").unwrap();
    let parsed = Parser::new(&allocator, &source, source_type).parse();
    assert!(
        parsed.diagnostics.is_empty() && !parsed.panicked,
        "types/kiln.d.ts does not parse: {:?}",
        parsed.diagnostics
    );
}

#[test]
fn every_kiln_global_is_declared() {
    let source = declarations();
    let globals = prelude_globals();
    assert!(globals.len() > 20, "found only {globals:?}");
    let missing: Vec<&String> = globals
        .iter()
        .filter(|name| !WEB_STANDARD.contains(&name.as_str()))
        .filter(|name| {
            !["function", "const", "class"]
                .iter()
                .any(|kind| declares(&source, kind, name))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "globals of the prelude missing from types/kiln.d.ts: {missing:?}"
    );
}

/// Whether `source` has `<kind> <name>` followed by a non-identifier character.
fn declares(source: &str, kind: &str, name: &str) -> bool {
    let needle = format!("{kind} {name}");
    source.match_indices(&needle).any(|(at, _)| {
        source[at + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| !(c.is_alphanumeric() || c == '_' || c == '$'))
    })
}
