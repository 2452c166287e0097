//! TypeScript, TSX/JSX and imports between the files of one bundle.

use crate::common::{TestServer, expect_error};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_tsx_and_imports() {
    let server = TestServer::start().await;
    let main = r#"
import { greet, Greeting } from "./lib/greet";
import { Page } from "./page.tsx";
enum Color { Red = "red", Blue = "blue" }
interface Params { name: string }
export function init(): void {
  registerWebHandler("GET", "/greet/:name", (req: Request, ctx: { params: Params }) => {
    const g: Greeting = greet(ctx.params.name);
    return { ...g, color: Color.Blue };
  });
  registerWebHandler("GET", "/page", () => <Page title="Kiln & co" items={["a", "<b>"]} />);
  registerWebHandler("GET", "/boom", () => { throwIt(); });
}
type Unused = { a: number };
function throwIt(): never {
  throw new Error("typed failure");
}
"#;
    let greet = r#"
export type Greeting = { message: string; length: number };
export function greet(name: string): Greeting {
  return { message: `hello ${name}`, length: name.length };
}
"#;
    let page = r#"
export function Page(props: { title: string; items: string[] }) {
  return (
    <>
      <h1 class="title">{props.title}</h1>
      <ul>{props.items.map((i) => <li>{i}</li>)}</ul>
      <br />
    </>
  );
}
"#;
    server
        .deploy_ok(
            "ts",
            &[
                ("main.tsx", main),
                ("lib/greet.ts", greet),
                ("page.tsx", page),
            ],
        )
        .await;
    assert_eq!(
        server.get_json("/greet/ada").await,
        serde_json::json!({"message": "hello ada", "length": 3, "color": "blue"})
    );
    let response = server.get("/page").await;
    assert_eq!(
        response.headers()["content-type"],
        "text/html;charset=UTF-8"
    );
    assert_eq!(
        response.text().await.expect("text"),
        r#"<h1 class="title">Kiln &amp; co</h1><ul><li>a</li><li>&lt;b&gt;</li></ul><br>"#
    );
    // Errors point at the original TypeScript line (the throw is on line 16 of main.tsx).
    expect_error(server.get("/boom").await, 500, "SCRIPT_ERROR").await;
    let lines = server.wait_for_log("ts", "typed failure").await;
    let message = lines[0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("main.tsx:16:"), "{message}");
    assert!(
        !message.contains("kiln:prelude"),
        "prelude frames leak into the log: {message}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_imports_and_syntax_errors_name_file_and_line() {
    let server = TestServer::start().await;
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[(
                "main.ts",
                "import x from 'lodash';\nexport function init() { x(); }",
            )],
            "main.ts:1:",
        ),
        (
            &[(
                "main.ts",
                "import { y } from './missing';\nexport function init() { y(); }",
            )],
            "./missing",
        ),
        (
            &[(
                "main.js",
                "import v from './main.js' with { type: 'text' };\nexport function init() { v; }",
            )],
            "main.js:1:",
        ),
        (
            &[(
                "main.ts",
                "export function init() {\n  let a: number = ;\n}",
            )],
            "main.ts:2:",
        ),
    ];
    for (files, needle) in cases {
        let response = server.deploy("bad", files).await;
        let error = expect_error(response, 400, "DEPLOY_REJECTED").await;
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "expected {needle:?} in {message}");
    }
    server.stop().await;
}
