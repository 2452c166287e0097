//! Per-module compilation with oxc: parse (and semantic early-error checks) every module file,
//! transform TypeScript/TSX/JSX (types stripped, JSX to classic `h(...)`/`Fragment` calls) and
//! print it with a source map, and collect the imports that will reach QuickJS.

use oxc::allocator::Allocator;
use oxc::ast::ast::{
    Decorator, ExportAllDeclaration, ExportFromDeclaration, Expression, ImportDeclaration,
    ImportExpression, Program, Statement, TSModuleReference, WithClause,
};
use oxc::ast_visit::{Visit, walk};
use oxc::codegen::{Codegen, CodegenOptions};
use oxc::diagnostics::{OxcDiagnostic, Severity};
use oxc::parser::Parser;
use oxc::semantic::SemanticBuilder;
use oxc::span::{GetSpan, SourceType, Span};
use oxc::transformer::{JsxOptions, JsxRuntime, TransformOptions, Transformer};

use super::diagnostics::{Diagnostic, ImportProblem};
use super::sourcemap::SourceMapping;

/// The JSX factory Kiln provides as a global.
pub(crate) const JSX_PRAGMA: &str = "h";
/// The JSX fragment Kiln provides as a global.
pub(crate) const JSX_PRAGMA_FRAG: &str = "Fragment";

/// How a module file is compiled, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    /// `.js`, `.mjs`: validated, kept verbatim.
    Js,
    /// `.jsx`
    Jsx,
    /// `.ts`, `.mts`
    Ts,
    /// `.tsx`
    Tsx,
    /// `.d.ts`, `.d.mts`: type declarations only.
    Dts,
}

impl Lang {
    pub(crate) fn of(path: &str) -> Option<Lang> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let (stem, ext) = name.rsplit_once('.')?;
        if stem.is_empty() {
            return None;
        }
        Some(match ext {
            "js" | "mjs" => Lang::Js,
            "jsx" => Lang::Jsx,
            "ts" | "mts" if stem.ends_with(".d") => Lang::Dts,
            "ts" | "mts" => Lang::Ts,
            "tsx" => Lang::Tsx,
            _ => return None,
        })
    }

    fn source_type(self) -> SourceType {
        match self {
            Lang::Js => SourceType::mjs(),
            Lang::Jsx => SourceType::jsx(),
            Lang::Ts => SourceType::ts(),
            Lang::Tsx => SourceType::tsx(),
            Lang::Dts => SourceType::d_ts(),
        }
        .with_module(true)
    }
}

/// An import found in a module.
#[derive(Debug, Clone)]
pub(crate) struct ImportRef {
    /// The specifier, `None` for a dynamic `import()` of a non-literal expression.
    pub specifier: Option<String>,
    /// Byte span of the specifier (or of the whole `import()` when not literal).
    pub span: (u32, u32),
    /// A construct that must be rejected whatever the specifier, and where it is.
    pub unsupported: Option<(ImportProblem, (u32, u32))>,
}

/// The result of compiling one module file.
#[derive(Debug)]
pub(crate) struct Compiled {
    /// Generated JavaScript; `None` means the original text is used as is.
    pub code: Option<String>,
    /// Source map of `code` back to the original text.
    pub map: Option<SourceMapping>,
    /// Imports of the code that QuickJS will see.
    pub imports: Vec<ImportRef>,
}

/// Parses, checks and (for TypeScript/JSX) transforms `source`; errors come back as
/// diagnostics positioned in `source`.
pub(crate) fn compile(path: &str, source: &str, lang: Lang) -> Result<Compiled, Vec<Diagnostic>> {
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, source, lang.source_type()).parse();
    let errors = to_diagnostics(path, source, parsed.diagnostics.into_vec());
    if !errors.is_empty() || parsed.panicked {
        return Err(non_empty(
            errors,
            path,
            "the parser could not read this file",
        ));
    }
    let mut program = parsed.program;

    let transform = lang != Lang::Js;
    let semantic = SemanticBuilder::new()
        .with_check_syntax_error(true)
        .with_enum_eval(transform)
        .build(&program);
    let errors = to_diagnostics(path, source, semantic.diagnostics.into_vec());
    if !errors.is_empty() {
        return Err(errors);
    }
    if !transform {
        let imports = collect_imports(path, source, &program)?;
        return Ok(Compiled {
            code: None,
            map: None,
            imports,
        });
    }

    let errors = commonjs_constructs(path, source, &program);
    if !errors.is_empty() {
        return Err(errors);
    }
    let scoping = semantic.semantic.into_scoping();
    let options = transform_options();
    let transformed = Transformer::new(&allocator, std::path::Path::new(path), &options)
        .build_with_scoping(scoping, &mut program);
    let errors = to_diagnostics(path, source, transformed.diagnostics.into_vec());
    if !errors.is_empty() {
        return Err(errors);
    }
    let imports = collect_imports(path, source, &program)?;

    let codegen_options = CodegenOptions {
        source_map_path: Some(path.into()),
        ..CodegenOptions::default()
    };
    let printed = Codegen::new().with_options(codegen_options).build(&program);
    let map = printed.map.map(|map| {
        let tokens = map.get_tokens().map(|t| {
            (
                t.get_dst_line(),
                t.get_dst_col(),
                t.get_src_line(),
                t.get_src_col(),
            )
        });
        SourceMapping::new(tokens, map.to_json_string())
    });
    Ok(Compiled {
        code: Some(printed.code),
        map,
        imports,
    })
}

fn transform_options() -> TransformOptions {
    let mut options = TransformOptions::default();
    // Keep imports of `h`/`Fragment` that JSX uses (TypeScript import elision).
    options.typescript.jsx_pragma = JSX_PRAGMA.into();
    options.typescript.jsx_pragma_frag = JSX_PRAGMA_FRAG.into();
    options.jsx = JsxOptions {
        runtime: JsxRuntime::Classic,
        pragma: Some(JSX_PRAGMA.to_string()),
        pragma_frag: Some(JSX_PRAGMA_FRAG.to_string()),
        display_name_plugin: false,
        development: false,
        pure: false,
        ..JsxOptions::enable()
    };
    options
}

fn to_diagnostics(path: &str, source: &str, found: Vec<OxcDiagnostic>) -> Vec<Diagnostic> {
    found
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| {
            // The primary label, else the last one in the text: where a conflict is detected
            // ("cannot be redeclared here") comes after what it conflicts with.
            let label = d
                .labels
                .iter()
                .find(|l| l.primary())
                .or_else(|| d.labels.iter().max_by_key(|l| l.span().start));
            let (start, end) = label.map_or((0, 0), |l| (l.span().start, l.span().end));
            let mut diagnostic = Diagnostic::at(path, source, start, end, d.message.to_string())
                .with_help(d.help.as_ref().map(ToString::to_string));
            for other in d.labels.iter().filter(|l| Some(*l) != label) {
                if let Some(text) = other.label() {
                    diagnostic.add_note(source, other.span().start, text);
                }
            }
            diagnostic
        })
        .collect()
}

fn non_empty(mut errors: Vec<Diagnostic>, path: &str, fallback: &str) -> Vec<Diagnostic> {
    if errors.is_empty() {
        errors.push(Diagnostic::at(path, "", 0, 0, fallback.to_string()));
    }
    errors
}

/// TypeScript's CommonJS forms, which oxc would turn into `require`/`module.exports`.
fn commonjs_constructs(path: &str, source: &str, program: &Program<'_>) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    for statement in &program.body {
        let (span, message, help) = match statement {
            Statement::TSImportEqualsDeclaration(d)
                if matches!(
                    d.module_reference,
                    TSModuleReference::ExternalModuleReference(_)
                ) =>
            {
                (
                    d.span,
                    "`import … = require(…)` is CommonJS, which Kiln does not support",
                    "use an ES import: `import name from \"./file.ts\"`",
                )
            }
            Statement::TSExportAssignment(e) => (
                e.span,
                "`export = …` is CommonJS, which Kiln does not support",
                "use `export default …`",
            ),
            _ => continue,
        };
        errors.push(
            Diagnostic::at(path, source, span.start, span.end, message.to_string())
                .with_help(Some(help.to_string())),
        );
    }
    errors
}

/// The imports of `program`, or diagnostics for syntax QuickJS cannot run (decorators).
fn collect_imports(
    path: &str,
    source: &str,
    program: &Program<'_>,
) -> Result<Vec<ImportRef>, Vec<Diagnostic>> {
    let mut collector = ImportCollector {
        imports: Vec::new(),
        decorators: Vec::new(),
    };
    collector.visit_program(program);
    if collector.decorators.is_empty() {
        return Ok(collector.imports);
    }
    Err(collector
        .decorators
        .into_iter()
        .map(|span| {
            Diagnostic::at(
                path,
                source,
                span.start,
                span.end,
                "decorators are not supported by Kiln's JavaScript engine".to_string(),
            )
            .with_help(Some(
                "call the decorator function on the class or method directly".into(),
            ))
        })
        .collect())
}

struct ImportCollector {
    imports: Vec<ImportRef>,
    decorators: Vec<Span>,
}

fn pair(span: Span) -> (u32, u32) {
    (span.start, span.end)
}

fn with_clause_problem(clause: Option<&WithClause<'_>>) -> Option<(ImportProblem, (u32, u32))> {
    clause.map(|c| (ImportProblem::Attributes, pair(c.span)))
}

impl ImportCollector {
    fn push_static(&mut self, source: &str, span: Span, clause: Option<&WithClause<'_>>) {
        self.imports.push(ImportRef {
            specifier: Some(source.to_string()),
            span: pair(span),
            unsupported: with_clause_problem(clause),
        });
    }
}

impl<'a> Visit<'a> for ImportCollector {
    fn visit_import_declaration(&mut self, it: &ImportDeclaration<'a>) {
        self.push_static(&it.source.value, it.source.span, it.with_clause.as_deref());
        if it.phase.is_some()
            && let Some(last) = self.imports.last_mut()
        {
            last.unsupported
                .get_or_insert((ImportProblem::Phase, pair(it.span)));
        }
    }

    fn visit_export_all_declaration(&mut self, it: &ExportAllDeclaration<'a>) {
        self.push_static(&it.source.value, it.source.span, it.with_clause.as_deref());
    }

    fn visit_export_from_declaration(&mut self, it: &ExportFromDeclaration<'a>) {
        self.push_static(&it.source.value, it.source.span, it.with_clause.as_deref());
    }

    fn visit_decorator(&mut self, it: &Decorator<'a>) {
        self.decorators.push(it.span);
        walk::walk_decorator(self, it);
    }

    fn visit_import_expression(&mut self, it: &ImportExpression<'a>) {
        let literal = match &it.source {
            Expression::StringLiteral(s) => Some((s.value.to_string(), s.span)),
            Expression::TemplateLiteral(t) if t.expressions.is_empty() => t
                .quasis
                .first()
                .and_then(|q| q.value.cooked.as_ref())
                .map(|cooked| (cooked.to_string(), t.span)),
            _ => None,
        };
        let unsupported = if let Some(options) = &it.options {
            Some((ImportProblem::DynamicImportOptions, pair(options.span())))
        } else {
            it.phase.map(|_| (ImportProblem::Phase, pair(it.span)))
        };
        let (specifier, span) = match literal {
            Some((s, span)) => (Some(s), span),
            None => (None, it.span),
        };
        self.imports.push(ImportRef {
            specifier,
            span: pair(span),
            unsupported,
        });
        walk::walk_import_expression(self, it);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(path: &str, src: &str) -> Compiled {
        match compile(path, src, Lang::of(path).unwrap_or(Lang::Js)) {
            Ok(c) => c,
            Err(e) => panic!(
                "{}",
                e.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }
    }

    #[test]
    fn languages_by_extension() {
        assert_eq!(Lang::of("a/b.js"), Some(Lang::Js));
        assert_eq!(Lang::of("b.mjs"), Some(Lang::Js));
        assert_eq!(Lang::of("b.jsx"), Some(Lang::Jsx));
        assert_eq!(Lang::of("b.mts"), Some(Lang::Ts));
        assert_eq!(Lang::of("types.d.ts"), Some(Lang::Dts));
        assert_eq!(Lang::of("b.tsx"), Some(Lang::Tsx));
        assert_eq!(Lang::of("b.json"), None);
        assert_eq!(Lang::of(".ts"), None);
    }

    #[test]
    fn plain_js_is_kept_verbatim() {
        let c = ok("a.js", "export const x = 1;\nimport('./b.js');\n");
        assert!(c.code.is_none());
        assert_eq!(c.imports.len(), 1);
        assert_eq!(c.imports[0].specifier.as_deref(), Some("./b.js"));
    }

    #[test]
    fn jsx_in_plain_js_is_a_syntax_error() {
        assert!(compile("a.js", "export default <div/>;", Lang::Js).is_err());
    }

    #[test]
    fn type_only_imports_are_not_collected() {
        let src = "import type { A } from 'pkg';\nimport { B } from './b';\nimport { C } from './c';\n\
                   export type { D } from './d';\nexport const x: A = C;\nexport { e } from './e';\n";
        let c = ok("main.ts", src);
        let specs: Vec<_> = c
            .imports
            .iter()
            .filter_map(|i| i.specifier.clone())
            .collect();
        assert_eq!(
            specs,
            ["./c", "./e"],
            "type-only and unused imports are elided"
        );
    }

    #[test]
    fn imports_inside_exports_and_functions_are_collected() {
        let src = "export const f = async () => import(`./lazy.js`);\nconst g = (n) => import(n);\n\
                   export * from './all.js';\n";
        let c = ok("a.js", src);
        let specs: Vec<_> = c.imports.iter().map(|i| i.specifier.clone()).collect();
        assert_eq!(
            specs,
            [
                Some("./lazy.js".to_string()),
                None,
                Some("./all.js".to_string())
            ]
        );
    }

    #[test]
    fn attributes_and_options_are_flagged() {
        let src = "import a from './a.js' with { type: 'json' };\nexport * from './b.js' with { type: 'json' };\n\
                   import('./c.js', { with: { type: 'json' } });\n";
        let c = ok("x.js", src);
        let problems: Vec<_> = c
            .imports
            .iter()
            .map(|i| i.unsupported.map(|u| u.0))
            .collect();
        assert_eq!(
            problems,
            [
                Some(ImportProblem::Attributes),
                Some(ImportProblem::Attributes),
                Some(ImportProblem::DynamicImportOptions)
            ]
        );
    }

    #[test]
    fn semantic_early_errors_are_reported() {
        let Err(errors) = compile("a.js", "let x = 1;\nlet x = 2;\n", Lang::Js) else {
            panic!("redeclaration accepted");
        };
        assert_eq!((errors[0].line, errors[0].column), (2, 5), "{}", errors[0]);
        assert_eq!(errors[0].notes, ["1:5: `x` has already been declared here"]);
        assert!(
            errors[0]
                .to_string()
                .contains("\n  note: 1:5: `x` has already been declared here")
        );
    }

    #[test]
    fn commonjs_typescript_forms_are_rejected() {
        let Err(errors) = compile(
            "a.ts",
            "import x = require('./y');\nexport = x;\n",
            Lang::Ts,
        ) else {
            panic!("CommonJS accepted");
        };
        assert_eq!(errors.len(), 2);
        assert!(errors[0].message.contains("require"), "{}", errors[0]);
        assert_eq!((errors[1].line, errors[1].column), (2, 1));
        // A namespace alias is not CommonJS.
        let ok = compile(
            "b.ts",
            "namespace N { export const v = 1 }\nimport V = N.v;\nexport default V;\n",
            Lang::Ts,
        );
        assert!(ok.is_ok());
    }

    #[test]
    fn decorators_are_rejected() {
        for (path, lang) in [("a.ts", Lang::Ts), ("a.js", Lang::Js)] {
            let Err(errors) = compile(path, "function d(x) { return x }\n@d class A {}\n", lang)
            else {
                panic!("decorator accepted in {path}");
            };
            assert_eq!((errors[0].line, errors[0].column), (2, 1), "{}", errors[0]);
            assert!(errors[0].message.contains("decorators"));
        }
    }

    #[test]
    fn declaration_files_compile_to_nothing() {
        let c = ok(
            "types.d.ts",
            "export interface A { x: number }\ndeclare const y: string;\n",
        );
        assert_eq!(c.code.as_deref().map(str::trim), Some(""));
    }
}
