//! Tests of [`Bundle`] as a whole: entry detection, limits, transpilation, import validation,
//! error messages and stack remapping (against a real QuickJS).

use super::*;

fn file(path: &str, content: &str) -> BundleFile {
    BundleFile {
        path: path.to_string(),
        content: content.as_bytes().to_vec(),
    }
}

fn build(files: &[(&str, &str)]) -> Result<Bundle, BundleError> {
    Bundle::build(
        files.iter().map(|(p, c)| file(p, c)).collect(),
        &BundleLimits::default(),
    )
}

fn built(files: &[(&str, &str)]) -> Bundle {
    match build(files) {
        Ok(b) => b,
        Err(e) => panic!("build failed:\n{e}"),
    }
}

fn failed(files: &[(&str, &str)]) -> BundleError {
    match build(files) {
        Ok(b) => panic!("build succeeded: {b:?}"),
        Err(e) => e,
    }
}

fn import_problem(e: &BundleError) -> Option<ImportProblem> {
    match e {
        BundleError::Import { problem, .. } => Some(*problem),
        _ => None,
    }
}

// ---- entry, paths, limits ----

#[test]
fn detects_each_entry_name() {
    for name in ENTRY_NAMES {
        let b = built(&[(name, "export function init() {}\n"), ("README.md", "# hi")]);
        assert_eq!(b.entry(), name);
        assert!(b.module_code(name).is_some());
        assert_eq!(b.module_code("README.md"), None, "assets are not modules");
        assert_eq!(b.file("README.md"), Some(&b"# hi"[..]));
    }
}

#[test]
fn missing_entry_lists_accepted_names() {
    let e = failed(&[("lib/main.ts", ""), ("index.js", "")]);
    assert!(matches!(e, BundleError::NoEntry));
    let msg = e.to_string();
    for name in ENTRY_NAMES {
        assert!(msg.contains(name), "{msg}");
    }
}

#[test]
fn several_entries_are_named() {
    let e = failed(&[("main.ts", ""), ("main.js", "")]);
    let msg = e.to_string();
    assert!(msg.contains("main.js") && msg.contains("main.ts"), "{msg}");
    assert!(matches!(e, BundleError::MultipleEntries { ref paths } if paths.len() == 2));
}

#[test]
fn rejects_bad_paths_naming_them() {
    for bad in [
        "../evil.js",
        "/abs.js",
        "a/../../b.js",
        "a//b.js",
        "x\0.js",
        "a\\b.js",
    ] {
        let e = failed(&[("main.js", ""), (bad, "")]);
        assert!(matches!(e, BundleError::InvalidPath { .. }), "{bad:?}: {e}");
        assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
    }
    let e = failed(&[("main.js", ""), ("a.js", ""), ("a.js", "")]);
    assert!(matches!(e, BundleError::DuplicatePath { .. }), "{e}");
}

#[test]
fn enforces_limits_with_the_limit_in_the_message() {
    let files = vec![file("main.js", "// x\n"), file("a.txt", "123456")];
    let few = BundleLimits {
        max_files: 1,
        ..BundleLimits::default()
    };
    let e = Bundle::build(files.clone(), &few).err();
    assert!(
        matches!(e, Some(BundleError::TooManyFiles { count: 2, limit: 1 })),
        "{e:?}"
    );
    assert!(
        e.map(|e| e.to_string())
            .unwrap_or_default()
            .contains("limit is 1")
    );

    let small = BundleLimits {
        max_total_bytes: 10,
        ..BundleLimits::default()
    };
    let e = Bundle::build(files.clone(), &small).err();
    assert!(
        matches!(
            e,
            Some(BundleError::TooLarge {
                total: 11,
                limit: 10
            })
        ),
        "{e:?}"
    );
    assert!(
        e.map(|e| e.to_string())
            .unwrap_or_default()
            .contains("limit is 10 bytes")
    );

    let exact = BundleLimits {
        max_total_bytes: 11,
        max_files: 2,
    };
    let b = Bundle::build(files, &exact);
    assert_eq!(b.map(|b| b.total_bytes()).ok(), Some(11));
}

#[test]
fn non_utf8_module_is_named_but_binary_assets_are_fine() {
    let files = vec![
        file("main.js", "export {};\n"),
        BundleFile {
            path: "logo.png".into(),
            content: vec![0x89, 0x50, 0xff, 0xfe],
        },
        BundleFile {
            path: "lib/bad.ts".into(),
            content: b"// ok\nconst a = '\xff';\n".to_vec(),
        },
    ];
    let e = Bundle::build(files, &BundleLimits::default()).err();
    assert!(
        matches!(e, Some(BundleError::NotUtf8 { ref path, line: 2 }) if path == "lib/bad.ts"),
        "{e:?}"
    );
    assert!(
        e.map(|e| e.to_string())
            .unwrap_or_default()
            .starts_with("lib/bad.ts:2:")
    );

    let files = vec![
        file("main.js", "export {};\n"),
        BundleFile {
            path: "logo.png".into(),
            content: vec![0x89, 0x50, 0xff, 0xfe],
        },
    ];
    let b = Bundle::build(files, &BundleLimits::default());
    assert_eq!(
        b.ok().and_then(|b| b.file("logo.png").map(<[u8]>::len)),
        Some(4)
    );
}

// ---- transpilation ----

#[test]
fn plain_js_is_kept_verbatim() {
    let src = "// comment\nexport   const  x = 1 ;\n";
    let b = built(&[("main.js", src)]);
    assert_eq!(b.module_code("main.js"), Some(src));
    assert!(!b.is_transpiled("main.js"));
    assert!(b.source_map("main.js").is_none());
}

#[test]
fn typescript_types_are_stripped_and_enums_compiled() {
    let src = "interface User { name: string }\n\
               type Id = string;\n\
               export enum Color { Red, Green = 5 }\n\
               export function greet(u: User, id: Id): string {\n  return `${u.name}:${id}` as string;\n}\n\
               const n = <number>(1 as unknown);\n\
               export class A { private x!: number; constructor(public y: number) {} }\n";
    let b = built(&[("main.ts", src)]);
    let code = b.module_code("main.ts").unwrap_or_default();
    assert!(b.is_transpiled("main.ts"));
    for gone in [
        "interface",
        "type Id",
        ": string",
        ": User",
        "as string",
        "<number>",
        "private",
        "public",
    ] {
        assert!(!code.contains(gone), "{gone:?} left in:\n{code}");
    }
    assert!(!code.contains("enum"), "{code}");
    assert!(
        code.contains("Color[Color[\"Red\"] = 0] = \"Red\""),
        "{code}"
    );
    assert!(code.contains("= 5] = \"Green\""), "{code}");
    assert!(
        code.contains("this.y = y"),
        "parameter property compiled:\n{code}"
    );
    assert!(
        b.source_map("main.ts")
            .is_some_and(|m| m.contains("\"mappings\""))
    );
}

#[test]
fn tsx_and_jsx_use_h_and_fragment() {
    let tsx = "type P = { name: string };\n\
               export const Card = (p: P) => <div class=\"card\"><b>{p.name}</b></div>;\n\
               export const List = () => <><Card name=\"a\" /></>;\n";
    let b = built(&[
        ("main.tsx", tsx),
        ("lib/x.jsx", "export default () => <p id=\"x\">hi</p>;\n"),
    ]);
    let code = b.module_code("main.tsx").unwrap_or_default();
    assert!(
        code.contains("h(\"div\", { class: \"card\" }, h(\"b\", null, p.name))"),
        "{code}"
    );
    assert!(
        code.contains("h(Fragment, null, h(Card, { name: \"a\" }))"),
        "{code}"
    );
    assert!(!code.contains("React"), "{code}");
    assert!(
        !code.contains("import"),
        "classic runtime imports nothing:\n{code}"
    );
    let jsx = b.module_code("lib/x.jsx").unwrap_or_default();
    assert!(jsx.contains("h(\"p\", { id: \"x\" }, \"hi\")"), "{jsx}");
}

// ---- imports ----

#[test]
fn resolves_imports_like_at_build_time() {
    let b = built(&[
        (
            "main.ts",
            "import { a } from './lib/a.js';\nimport u from './util';\nimport * as c from './comp';\nexport default [a, u, c];\n",
        ),
        ("lib/a.ts", "export { b as a } from '../shared/b';\n"),
        ("util.js", "export default 1;\n"),
        ("comp/index.tsx", "export const C = () => <i/>;\n"),
        (
            "shared/b.mjs",
            "export const b = 2; export const lazy = () => import('../util.js');\n",
        ),
    ]);
    assert_eq!(
        b.resolve("main.ts", "./lib/a.js").as_deref(),
        Some("lib/a.ts")
    );
    assert_eq!(b.resolve("main.ts", "./util").as_deref(), Some("util.js"));
    assert_eq!(
        b.resolve("main.ts", "./comp").as_deref(),
        Some("comp/index.tsx")
    );
    assert_eq!(
        b.resolve("lib/a.ts", "../shared/b").as_deref(),
        Some("shared/b.mjs")
    );
    assert_eq!(
        b.resolve("shared/b.mjs", "../util.js").as_deref(),
        Some("util.js")
    );
    assert_eq!(b.resolve("main.ts", "lodash"), None);
    assert_eq!(b.resolve("main.ts", "./main"), None, "self import");
    assert_eq!(b.resolve("main.ts", "../x.js"), None);
    assert_eq!(b.resolve("main.ts", "./nope"), None);
    let mut modules: Vec<&str> = b.module_paths().collect();
    modules.sort_unstable();
    assert_eq!(
        modules,
        [
            "comp/index.tsx",
            "lib/a.ts",
            "main.ts",
            "shared/b.mjs",
            "util.js"
        ]
    );
}

#[test]
fn non_literal_dynamic_imports_are_allowed() {
    let b = built(&[(
        "main.js",
        "export const load = (name) => import('./pages/' + name + '.js');\n",
    )]);
    assert_eq!(b.entry(), "main.js");
}

fn expect_import_error(files: &[(&str, &str)], problem: ImportProblem, at: &str, needles: &[&str]) {
    let e = failed(files);
    assert_eq!(import_problem(&e), Some(problem), "{e}");
    let msg = e.to_string();
    assert!(
        msg.starts_with(at),
        "expected {at:?} at the start of:\n{msg}"
    );
    for needle in needles {
        assert!(msg.contains(needle), "expected {needle:?} in:\n{msg}");
    }
    assert!(msg.contains('^'), "code frame missing:\n{msg}");
}

#[test]
fn rejects_package_imports() {
    expect_import_error(
        &[(
            "main.ts",
            "// deps\nimport _ from 'lodash';\nexport default _;\n",
        )],
        ImportProblem::Package,
        "main.ts:2:15: ",
        &[
            "\"lodash\"",
            "package imports are not supported",
            "script directory",
        ],
    );
    expect_import_error(
        &[("main.js", "import fs from 'node:fs';\n")],
        ImportProblem::Package,
        "main.js:1:16: ",
        &["node:fs", "built-in"],
    );
    expect_import_error(
        &[("main.js", "const m = await import(\"fs\");\n")],
        ImportProblem::Package,
        "main.js:1:24: ",
        &["\"fs\""],
    );
}

#[test]
fn rejects_missing_and_self_imports() {
    expect_import_error(
        &[(
            "main.ts",
            "import { x } from './missing';\nconsole.log(x);\n",
        )],
        ImportProblem::NotFound,
        "main.ts:1:19: ",
        &["\"./missing\""],
    );
    expect_import_error(
        &[("main.js", ""), ("lib/a.js", "export * from './a.js';\n")],
        ImportProblem::SelfImport,
        "lib/a.js:1:15: ",
        &["imports itself"],
    );
    expect_import_error(
        &[
            ("main.js", "import d from './data.json';\n"),
            ("data.json", "{}"),
        ],
        ImportProblem::NotAModule,
        "main.js:1:15: ",
        &["data.json", "files"],
    );
}

#[test]
fn rejects_import_attributes_and_dynamic_import_options() {
    // The self-import-with-attributes case that makes quickjs-ng spin forever.
    expect_import_error(
        &[(
            "main.js",
            "import v from './main.js' with { type: 'text' };\n",
        )],
        ImportProblem::Attributes,
        "main.js:1:",
        &["import attributes", "\"./main.js\""],
    );
    expect_import_error(
        &[
            ("main.js", ""),
            (
                "a.js",
                "export { default } from './d.js' with { type: 'json' };\n",
            ),
            ("d.js", ""),
        ],
        ImportProblem::Attributes,
        "a.js:1:",
        &["import attributes"],
    );
    expect_import_error(
        &[
            (
                "main.js",
                "import d from './d.js' assert { type: 'json' };\n",
            ),
            ("d.js", ""),
        ],
        ImportProblem::Attributes,
        "main.js:1:",
        &["assert"],
    );
    expect_import_error(
        &[
            (
                "main.ts",
                "const d = await import('./d.js', { with: { type: 'json' } });\nexport default d;\n",
            ),
            ("d.js", ""),
        ],
        ImportProblem::DynamicImportOptions,
        "main.ts:1:34: ",
        &["second argument of import()"],
    );
    expect_import_error(
        &[("main.js", "export const f = (p) => import(p, {});\n")],
        ImportProblem::DynamicImportOptions,
        "main.js:1:35: import(…, …): ",
        &["second argument"],
    );
}

#[test]
fn rejects_imports_leaving_the_bundle() {
    expect_import_error(
        &[
            ("main.js", ""),
            ("lib/a.js", "import '../../etc/passwd.js';\n"),
        ],
        ImportProblem::EscapesRoot,
        "lib/a.js:1:8: ",
        &["outside the script directory"],
    );
}

// ---- syntax errors ----

#[test]
fn syntax_error_has_position_message_and_frame() {
    let src = "export function init() {\n  const a = 1;\n  let b = a a;\n}\n";
    let e = failed(&[("main.ts", src)]);
    let msg = e.to_string();
    assert!(matches!(e, BundleError::Syntax { .. }), "{msg}");
    assert!(
        msg.starts_with("main.ts:3:12: Expected a semicolon or an implicit semicolon after a statement, but found none"),
        "{msg}"
    );
    assert!(
        msg.contains("\n3 |   let b = a a;\n  |            ^"),
        "{msg}"
    );
    let d = &e.diagnostics()[0];
    assert_eq!((d.path.as_str(), d.line, d.column), ("main.ts", 3, 12));
}

#[test]
fn all_parse_errors_of_a_file_are_reported() {
    let e = failed(&[
        ("main.js", ""),
        ("lib/bad.js", "let x = ;\nfunction ( {}\n"),
    ]);
    let diagnostics = e.diagnostics();
    assert!(!diagnostics.is_empty(), "{e}");
    assert!(e.to_string().starts_with("lib/bad.js:1:9: "), "{e}");
}

#[test]
fn entry_errors_are_reported_first() {
    let e = failed(&[("main.ts", "let = 1;\n"), ("a/b.js", "let = 2;\n")]);
    assert!(e.to_string().starts_with("main.ts:1:"), "{e}");
}

// ---- stack remapping ----

const TS_WITH_TYPES: &str = "\
interface Req { path: string }
type Handler = (r: Req) => string;
type Unused = {
  a: number;
  b: string;
};
export function fail(r: Req): string {
  const p: string = r.path;
  throw new Error(\"boom \" + p);
}
export const run: Handler = (r) => fail(r);
";

#[test]
fn remap_stack_maps_to_original_ts_lines() {
    let b = built(&[
        ("main.ts", TS_WITH_TYPES),
        ("lib.js", "export const x = 1;\n"),
    ]);
    let code = b.module_code("main.ts").unwrap_or_default();
    // Find the generated position of `throw` (1-based line, byte column).
    let (gen_line, gen_col) = code
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find("throw").map(|c| (i + 1, c + 1)))
        .unwrap_or((0, 0));
    assert!(
        gen_line < 9,
        "types were stripped, so `throw` moved up:\n{code}"
    );
    let text = format!(
        "Error: boom\n    at fail (main.ts:{gen_line}:{gen_col})\n    at lib.js:1:1\n    at other.ts:3:3\n"
    );
    let out = b.remap_stack(&text);
    assert_eq!(
        out,
        "Error: boom\n    at fail (main.ts:9:3)\n    at lib.js:1:1\n    at other.ts:3:3\n"
    );
    assert_eq!(b.remap_stack(&format!("main.ts:{gen_line}")), "main.ts:9");
}

/// Runs the entry in QuickJS and returns the stack of the exception it throws.
fn quickjs_stack(b: &Bundle) -> String {
    let run = || -> rquickjs::Result<String> {
        let rt = rquickjs::Runtime::new()?;
        let ctx = rquickjs::Context::full(&rt)?;
        ctx.with(|ctx| {
            let code = b.module_code(b.entry()).unwrap_or_default().to_string();
            let promise = rquickjs::Module::evaluate(ctx.clone(), b.entry(), code)?;
            let result = promise.finish::<()>();
            assert!(result.is_err(), "the module should throw");
            let caught = ctx.catch();
            let exception = caught.as_exception().and_then(rquickjs::Exception::stack);
            Ok(exception.unwrap_or_default())
        })
    };
    run().unwrap_or_else(|e| panic!("quickjs: {e}"))
}

#[test]
fn remap_stack_on_a_real_quickjs_trace() {
    let src = format!("{TS_WITH_TYPES}run({{ path: \"/x\" }} as Req);\n");
    let b = built(&[("main.ts", &src)]);
    let stack = quickjs_stack(&b);
    assert!(stack.contains("main.ts:"), "{stack}");
    let remapped = b.remap_stack(&stack);
    assert!(
        remapped.contains("at fail (main.ts:9:"),
        "stack:\n{stack}\nremapped:\n{remapped}"
    );
    assert!(
        remapped.contains("main.ts:11:"),
        "run() is on line 11:\n{remapped}"
    );
    assert!(
        remapped.contains("main.ts:12:"),
        "the call is on line 12:\n{remapped}"
    );
}

#[test]
fn plain_js_positions_are_exact_in_quickjs() {
    let src = "// line 1\n\nfunction f() {\n  throw new Error('x');\n}\nf();\n";
    let b = built(&[("main.js", src)]);
    let stack = quickjs_stack(&b);
    assert!(stack.contains("main.js:4:"), "{stack}");
    assert_eq!(b.remap_stack(&stack), stack, "plain JS is left untouched");
}
