//! `db` over HTTP: statements with parameters and every value type, transactions (commit,
//! rollback on throw, rollback when the request ends), atomic batches, isolation between
//! scripts and from Kiln's tables, the statement time limit, the result caps and the size
//! quota, migrations at deploy, the export endpoint and its access rules, and the script log.

use http::Method;
use serde_json::{Value, json};

use crate::common::{TestServer, expect_error, forbidden};

/// Generic SQL endpoints plus handlers that need JavaScript values (bytes, BigInt, closures).
const SQL: &str = r#"
async function attempt(run) {
  try { return await run(); } catch (e) { return { error: { name: e.name, code: e.code, message: e.message, isDbError: e instanceof DbError } }; }
}
export function init() {
  registerWebHandler("POST", "/sql/query", async (req) => {
    const { sql, params } = await req.json();
    return attempt(() => db.query(sql, params));
  });
  registerWebHandler("POST", "/sql/execute", async (req) => {
    const { sql, params } = await req.json();
    return attempt(() => db.execute(sql, params));
  });
  registerWebHandler("POST", "/sql/batch", async (req) => {
    const statements = await req.json();
    return attempt(() => db.batch(statements));
  });
  registerWebHandler("GET", "/types", async () => attempt(async () => {
    await db.execute("CREATE TABLE IF NOT EXISTS t (i, f, s, b, e, n, flag, big)");
    await db.execute("DELETE FROM t");
    const done = await db.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      [42, 1.5, "héllo ✓", new Uint8Array([0, 1, 255]), new ArrayBuffer(0), null, true, 9007199254740993n]);
    const rows = await db.query(
      "SELECT *, typeof(i) ti, typeof(f) tf, typeof(b) tb, typeof(e) te, typeof(big) tbig FROM t WHERE b = ?",
      [new Uint8Array([0, 1, 255])]);
    const row = rows[0];
    return { ...row, b: Array.from(row.b), e: Array.from(row.e), bytes: row.b instanceof Uint8Array,
      count: rows.length, rowsAffected: done.rowsAffected, lastInsertId: done.lastInsertId,
      undef: await attempt(() => db.query("SELECT ?", [undefined])),
      object: await attempt(() => db.query("SELECT ?", [{ a: 1 }])),
      arity: await attempt(() => db.query("SELECT ?, ?", [1])) };
  }));
  registerWebHandler("POST", "/tx/:mode", async (req, ctx) => attempt(async () => {
    const name = ctx.params.mode;
    await db.execute("CREATE TABLE IF NOT EXISTS acct (name TEXT PRIMARY KEY, bal INTEGER)");
    let kept;
    const result = await attempt(() => db.transaction(async (tx) => {
      kept = tx;
      await tx.execute("INSERT INTO acct VALUES (?, ?)", [name, 10]);
      const inside = await tx.query("SELECT count(*) AS n FROM acct WHERE name = ?", [name]);
      if (name.startsWith("throw")) throw new Error(`boom after ${inside[0].n}`);
      return inside[0].n;
    }));
    const after = await db.query("SELECT count(*) AS n FROM acct WHERE name = ?", [name]);
    const late = await attempt(() => kept.execute("INSERT INTO acct VALUES ('late', 1)"));
    const nested = await attempt(() => db.transaction(async () => db.transaction(async () => 1)));
    return { result, after: after[0].n, late, nested };
  }));
  registerWebHandler("POST", "/tx-left-open", async () => {
    await db.execute("CREATE TABLE IF NOT EXISTS acct (name TEXT PRIMARY KEY, bal INTEGER)");
    let inserted;
    const ready = new Promise((resolve) => { inserted = resolve; });
    db.transaction(async (tx) => {
      await tx.execute("INSERT INTO acct VALUES ('left-open', 1)");
      inserted();
      await new Promise(() => {});
    }).catch(() => {});
    await ready;
    return { holding: true };
  });
}"#;

async fn start(tweak: impl FnOnce(&mut kiln::config::Config)) -> TestServer {
    let server = TestServer::start_with(|config| {
        // Statements get at most the request's CPU budget: keep it roomy so that slow
        // machines never turn a quick statement into a timeout.
        config.limits.cpu_ms = 5_000;
        tweak(config);
    })
    .await;
    server.deploy_js("alpha", SQL).await;
    server
}

async fn post(server: &TestServer, path: &str, body: Value) -> Value {
    let response = server
        .client
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "POST {path}: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn query(server: &TestServer, sql: &str, params: Value) -> Value {
    post(
        server,
        "/sql/query",
        json!({ "sql": sql, "params": params }),
    )
    .await
}

async fn execute(server: &TestServer, sql: &str, params: Value) -> Value {
    post(
        server,
        "/sql/execute",
        json!({ "sql": sql, "params": params }),
    )
    .await
}

/// Asserts a script-side `DbError` with `code`; returns its message.
fn db_error(value: &Value, code: &str) -> String {
    let error = &value["error"];
    assert_eq!(error["code"], code, "{value}");
    assert_eq!(error["name"], "DbError", "{value}");
    assert_eq!(error["isDbError"], true, "{value}");
    error["message"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_round_trip_with_parameters() {
    let server = start(|_| {}).await;
    let created = execute(
        &server,
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE)",
        json!([]),
    )
    .await;
    assert_eq!(created, json!({ "rowsAffected": 0, "lastInsertId": 0 }));
    for (i, text) in ["first", "second; DROP TABLE notes; --", "it's"]
        .iter()
        .enumerate()
    {
        let done = execute(
            &server,
            "INSERT INTO notes (text) VALUES (?)",
            json!([text]),
        )
        .await;
        assert_eq!(done, json!({ "rowsAffected": 1, "lastInsertId": i + 1 }));
    }
    let rows = query(
        &server,
        "SELECT id, text FROM notes WHERE id >= ?1 ORDER BY id",
        json!([2]),
    )
    .await;
    assert_eq!(
        rows,
        json!([{ "id": 2, "text": "second; DROP TABLE notes; --" }, { "id": 3, "text": "it's" }])
    );
    let updated = execute(
        &server,
        "UPDATE notes SET text = upper(text) WHERE id < ?",
        json!([3]),
    )
    .await;
    assert_eq!(updated["rowsAffected"], 2);
    let dup = execute(
        &server,
        "INSERT INTO notes (text) VALUES (?)",
        json!(["it's"]),
    )
    .await;
    assert!(db_error(&dup, "DB_CONSTRAINT").contains("UNIQUE"));
    let bad = query(&server, "SELEC 1", json!([])).await;
    assert!(db_error(&bad, "DB_SQL_ERROR").contains("syntax error"));
    let two = query(&server, "SELECT 1; SELECT 2", json!([])).await;
    assert!(db_error(&two, "DB_INVALID_ARGUMENT").contains("db.batch"));
    let deleted = execute(&server, "DELETE FROM notes", json!([])).await;
    assert_eq!(deleted["rowsAffected"], 3);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_value_type_round_trips() {
    let server = start(|_| {}).await;
    let row = server.get_json("/types").await;
    assert_eq!(row["i"], 42);
    assert_eq!(row["f"], 1.5);
    assert_eq!(row["s"], "héllo ✓");
    assert_eq!(row["b"], json!([0, 1, 255]));
    assert_eq!(row["bytes"], true);
    assert_eq!(row["e"], json!([]));
    assert_eq!(row["n"], Value::Null);
    assert_eq!(row["flag"], 1, "booleans are stored as 1/0");
    assert_eq!(
        row["big"], "9007199254740993",
        "beyond 2^53: a decimal string"
    );
    assert_eq!(
        (&row["ti"], &row["tf"], &row["tb"], &row["te"], &row["tbig"]),
        (
            &json!("integer"),
            &json!("real"),
            &json!("blob"),
            &json!("blob"),
            &json!("integer")
        )
    );
    assert_eq!(
        (&row["count"], &row["rowsAffected"]),
        (&json!(1), &json!(1))
    );
    assert_eq!(row["undef"]["error"]["name"], "TypeError");
    assert_eq!(row["object"]["error"]["name"], "TypeError");
    assert!(db_error(&row["arity"], "DB_INVALID_ARGUMENT").contains("2 parameter"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_commit_roll_back_on_throw_and_end_with_the_request() {
    let server = start(|_| {}).await;
    let committed = post(&server, "/tx/commit", json!(null)).await;
    assert_eq!(committed["result"], 1);
    assert_eq!(committed["after"], 1);
    assert!(db_error(&committed["late"], "DB_TRANSACTION_CLOSED").contains("over"));
    assert!(db_error(&committed["nested"], "DB_BUSY").contains("do not nest"));

    let thrown = post(&server, "/tx/throw", json!(null)).await;
    assert_eq!(thrown["result"]["error"]["message"], "boom after 1");
    assert_eq!(thrown["after"], 0, "the insert was rolled back");

    // A transaction the request left open is rolled back when the request ends: its row is
    // gone and the write lock is free for the next writer.
    let held = post(&server, "/tx-left-open", json!(null)).await;
    assert_eq!(held["holding"], true);
    let next = execute(&server, "INSERT INTO acct VALUES ('next', 1)", json!([])).await;
    assert_eq!(next["rowsAffected"], 1, "{next}");
    let left = query(&server, "SELECT name FROM acct ORDER BY name", json!([])).await;
    assert_eq!(left, json!([{ "name": "commit" }, { "name": "next" }]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_atomic() {
    let server = start(|_| {}).await;
    let failed = post(
        &server,
        "/sql/batch",
        json!([
            { "sql": "CREATE TABLE b (x UNIQUE)" },
            { "sql": "INSERT INTO b VALUES (?)", "params": [1] },
            { "sql": "INSERT INTO b VALUES (?)", "params": [1] },
        ]),
    )
    .await;
    assert!(db_error(&failed, "DB_CONSTRAINT").starts_with("statement 3:"));
    let gone = query(&server, "SELECT * FROM b", json!([])).await;
    assert!(db_error(&gone, "DB_SQL_ERROR").contains("no such table"));

    let done = post(
        &server,
        "/sql/batch",
        json!([
            { "sql": "CREATE TABLE b (x UNIQUE)" },
            { "sql": "INSERT INTO b VALUES (?), (?)", "params": [1, 2] },
            { "sql": "SELECT sum(x) AS total FROM b" },
        ]),
    )
    .await;
    assert_eq!(done[1]["rowsAffected"], 2);
    assert_eq!(done[2]["rows"], json!([{ "total": 3 }]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_cannot_reach_each_other_or_kiln() {
    let server = start(|_| {}).await;
    let beta = server
        .deploy_ok(
            "beta",
            &[
                ("main.js", &SQL.replace("\"/", "\"/beta/")),
                (
                    "migrations/001.sql",
                    "CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('beta');",
                ),
            ],
        )
        .await;
    assert_eq!(beta["version"], 1);
    execute(&server, "CREATE TABLE notes (text TEXT)", json!([])).await;
    execute(&server, "INSERT INTO notes VALUES (?)", json!(["alpha"])).await;
    assert_eq!(
        query(&server, "SELECT text FROM notes", json!([])).await,
        json!([{ "text": "alpha" }])
    );
    let theirs = post(
        &server,
        "/beta/sql/query",
        json!({ "sql": "SELECT text FROM notes" }),
    )
    .await;
    assert_eq!(theirs, json!([{ "text": "beta" }]));

    let beta_file = server.data_dir.join("script-db/beta.sqlite");
    assert!(beta_file.exists());
    let path = beta_file.to_string_lossy().into_owned();
    let attach = execute(&server, "ATTACH DATABASE ? AS other", json!([path])).await;
    assert!(db_error(&attach, "DB_DENIED").contains("ATTACH"));
    let kiln = server
        .data_dir
        .join("kiln.db")
        .to_string_lossy()
        .into_owned();
    let attach = execute(&server, "ATTACH DATABASE ? AS k", json!([kiln])).await;
    db_error(&attach, "DB_DENIED");
    for sql in [
        "SELECT * FROM _kiln_migrations",
        "DELETE FROM _kiln_migrations",
        "CREATE TABLE _kiln_mine (x)",
    ] {
        let denied = post(&server, "/beta/sql/query", json!({ "sql": sql })).await;
        assert!(db_error(&denied, "DB_DENIED").contains("reserved"), "{sql}");
    }
    for (sql, needle) in [
        ("PRAGMA max_page_count = 1000000000", "PRAGMA"),
        ("PRAGMA journal_mode = DELETE", "PRAGMA"),
        ("BEGIN", "db.transaction"),
        ("SELECT load_extension('x')", "load_extension"),
    ] {
        let denied = execute(&server, sql, json!([])).await;
        assert!(db_error(&denied, "DB_DENIED").contains(needle), "{sql}");
    }
    // Schema reads are fine.
    let columns = query(&server, "PRAGMA table_info(notes)", json!([])).await;
    assert_eq!(columns[0]["name"], "text");
    let tables = query(
        &server,
        "SELECT name FROM sqlite_schema WHERE type = 'table'",
        json!([]),
    )
    .await;
    assert_eq!(tables, json!([{ "name": "notes" }]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_statements_are_stopped_and_the_server_keeps_serving() {
    let server = start(|config| config.db.statement_timeout_ms = 200).await;
    let endless =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    let stopped = query(&server, endless, json!([])).await;
    assert!(db_error(&stopped, "DB_TIMEOUT").contains("200 ms"));
    // Inside a batch too; and the database is usable right after.
    let batch = post(
        &server,
        "/sql/batch",
        json!([{ "sql": "CREATE TABLE z (x)" }, { "sql": endless }]),
    )
    .await;
    db_error(&batch, "DB_TIMEOUT");
    assert_eq!(
        query(&server, "SELECT 1 AS one", json!([])).await,
        json!([{ "one": 1 }])
    );
    assert!(
        db_error(
            &query(&server, "SELECT * FROM z", json!([])).await,
            "DB_SQL_ERROR"
        )
        .contains("no such table")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_capped_in_rows_and_bytes() {
    let server = start(|config| {
        config.db.max_result_rows = 5;
        config.db.max_result_bytes = 1000;
    })
    .await;
    let rows = |n: u32| {
        format!(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) SELECT x FROM c"
        )
    };
    assert_eq!(
        query(&server, &rows(5), json!([]))
            .await
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let many = query(&server, &rows(6), json!([])).await;
    assert!(db_error(&many, "DB_RESULT_TOO_LARGE").contains("5 rows"));
    let big = query(&server, "SELECT zeroblob(2000) AS b", json!([])).await;
    assert!(db_error(&big, "DB_RESULT_TOO_LARGE").contains("1000 bytes"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_size_quota_refuses_writes_that_would_exceed_it() {
    let server = start(|config| config.db.max_size_bytes = 64 * 1024).await;
    execute(&server, "CREATE TABLE big (b BLOB)", json!([])).await;
    let fill = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100) \
                INSERT INTO big SELECT randomblob(4000) FROM c";
    let full = execute(&server, fill, json!([])).await;
    assert!(db_error(&full, "DB_QUOTA_EXCEEDED").contains("max_size_bytes"));
    // The failed statement left nothing behind; small writes and reads still work.
    assert_eq!(
        query(&server, "SELECT count(*) AS n FROM big", json!([])).await,
        json!([{ "n": 0 }])
    );
    let small = execute(&server, "INSERT INTO big VALUES (?)", json!(["small"])).await;
    assert_eq!(small["rowsAffected"], 1);
    server.stop().await;
}

const MIGRATED: &str = r#"
export function init() {
  registerWebHandler("GET", "/m/notes", async () => db.query("SELECT * FROM notes ORDER BY id"));
  registerWebHandler("GET", "/m/version", () => "VERSION");
  registerWebHandler("GET", "/m/tables", async () =>
    db.query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"));
}"#;

const INIT: &str = "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);\n\
                    INSERT INTO notes (text) VALUES ('seeded');";
const ADD_TAG: &str = "ALTER TABLE notes ADD COLUMN tag TEXT DEFAULT 'none';";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_at_deploy_and_a_failing_one_rejects_it() {
    let server = TestServer::start().await;
    let v1 = MIGRATED.replace("VERSION", "v1");
    server
        .deploy_ok("m", &[("main.js", &v1), ("migrations/001_init.sql", INIT)])
        .await;
    assert_eq!(
        server.get_json("/m/notes").await,
        json!([{ "id": 1, "text": "seeded" }])
    );

    let v2 = MIGRATED.replace("VERSION", "v2");
    let v2_files = [
        ("main.js", v2.as_str()),
        ("migrations/001_init.sql", INIT),
        ("migrations/002_tag.sql", ADD_TAG),
    ];
    server.deploy_ok("m", &v2_files).await;
    // Deploying the same migrations again applies nothing (the seed row is not repeated).
    server.deploy_ok("m", &v2_files).await;
    assert_eq!(
        server.get_json("/m/notes").await,
        json!([{ "id": 1, "text": "seeded", "tag": "none" }])
    );

    // A failing migration: the deploy is rejected naming the file and SQLite's message, the
    // database is unchanged (its first statement is undone too), the previous version serves.
    let v3 = MIGRATED.replace("VERSION", "v3");
    let response = server
        .deploy(
            "m",
            &[
                ("main.js", &v3),
                ("migrations/001_init.sql", INIT),
                ("migrations/002_tag.sql", ADD_TAG),
                (
                    "migrations/003_bad.sql",
                    "CREATE TABLE extra (x);\nINSERT INTO missing VALUES (1);",
                ),
            ],
        )
        .await;
    let error = expect_error(response, 400, "DEPLOY_REJECTED").await;
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("003_bad.sql") && message.contains("no such table: missing"),
        "{message}"
    );
    assert_eq!(server.get_text("/m/version").await, "v2");
    // (Kiln's bookkeeping table is listed in the schema, but scripts cannot read it.)
    assert_eq!(
        server.get_json("/m/tables").await,
        json!([{ "name": "_kiln_migrations" }, { "name": "notes" }])
    );

    // An applied migration that changed is refused.
    let response = server
        .deploy(
            "m",
            &[
                ("main.js", &v3),
                ("migrations/001_init.sql", "CREATE TABLE notes (id);"),
            ],
        )
        .await;
    let error = expect_error(response, 400, "DEPLOY_REJECTED").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("001_init.sql was changed"),
        "{error}"
    );
    // So is one that touches Kiln's bookkeeping or manages the transaction itself.
    for sql in ["DELETE FROM _kiln_migrations;", "COMMIT;"] {
        let response = server
            .deploy("m", &[("main.js", &v3), ("migrations/009.sql", sql)])
            .await;
        expect_error(response, 400, "DEPLOY_REJECTED").await;
    }
    assert_eq!(server.get_text("/m/version").await, "v2");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_returns_a_sqlite_file_and_deleting_the_script_deletes_it() {
    let server = start(|_| {}).await;
    server.deploy_js("nodb", "export function init() {}").await;
    execute(
        &server,
        "CREATE TABLE notes (text TEXT, data BLOB)",
        json!([]),
    )
    .await;
    execute(
        &server,
        "INSERT INTO notes VALUES ('kept', x'00ff')",
        json!([]),
    )
    .await;

    let response = server.api_get("/scripts/alpha/db/export").await;
    assert_eq!(response.status(), 200);
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "application/vnd.sqlite3");
    assert_eq!(
        header("content-disposition"),
        "attachment; filename=\"alpha.sqlite\""
    );
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.starts_with(b"SQLite format 3\0"));
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("alpha.sqlite");
    std::fs::write(&copy, &bytes).unwrap();
    let conn = rusqlite::Connection::open(&copy).unwrap();
    let row: (String, Vec<u8>) = conn
        .query_row("SELECT text, data FROM notes", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(row, ("kept".to_owned(), vec![0, 255]));

    expect_error(
        server.api_get("/scripts/nodb/db/export").await,
        404,
        "DB_NOT_FOUND",
    )
    .await;
    expect_error(
        server.api_get("/scripts/ghost/db/export").await,
        404,
        "SCRIPT_NOT_FOUND",
    )
    .await;

    let file = server.data_dir.join("script-db/alpha.sqlite");
    assert!(file.exists());
    let deleted = server
        .client
        .delete(server.url("/engine/api/scripts/alpha"))
        .bearer_auth(crate::common::TOKEN)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    assert!(!file.exists(), "the database goes with the script");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_is_for_admins_and_the_scripts_owners() {
    let server = start(|_| {}).await;
    execute(&server, "CREATE TABLE t (x)", json!([])).await;
    let admin_user = server.create_first_admin().await;
    assert_eq!(admin_user["email"], "admin@example.com");
    let admin = server.login("admin@example.com").await;
    let editor = server
        .new_account(&admin, "ed@example.com", &["editor"])
        .await;
    let path = "/engine/api/scripts/alpha/db/export";
    forbidden(server.with_session(Method::GET, path, &editor)).await;
    let anonymous = server.client.get(server.url(path)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let response = server
        .with_session(Method::GET, path, &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_logged_with_the_request_id() {
    let server = start(|_| {}).await;
    let response = server
        .client
        .post(server.url("/sql/query"))
        .header("x-request-id", "db-failure-42")
        .json(&json!({ "sql": "SELECT * FROM nowhere" }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    db_error(&body, "DB_SQL_ERROR");
    let lines = server
        .wait_for_log("alpha", "db.query failed: DB_SQL_ERROR")
        .await;
    assert_eq!(lines[0]["request_id"], "db-failure-42");
    assert!(
        lines[0]["message"]
            .as_str()
            .unwrap()
            .contains("no such table: nowhere")
    );
    server.stop().await;
}
