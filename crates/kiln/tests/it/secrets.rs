//! Scripts' secrets and variables: `ctx.env` from `kiln.toml`, deploy vars and secrets; the
//! secrets API (values never listed), isolation between scripts, ownership, redaction from
//! script logs, encryption at rest, the master key file and restarts with the right and the
//! wrong key.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

/// A handler answering with its whole `ctx.env` (and whether it is frozen).
const ENV_SCRIPT: &str = r#"
export function init() {
  registerWebHandler("GET", "/env", (req, ctx) => ({ env: { ...ctx.env }, frozen: Object.isFrozen(ctx.env) }));
}"#;

fn env_script_at(path: &str) -> String {
    ENV_SCRIPT.replace("\"/env\"", &format!("\"{path}\""))
}

impl TestServer {
    /// `PUT` of a secret with the admin token (not checked).
    async fn put_secret(&self, script: &str, key: &str, value: &str) -> reqwest::Response {
        self.client
            .put(self.url(&format!("/engine/api/scripts/{script}/secrets/{key}")))
            .bearer_auth(TOKEN)
            .json(&json!({ "value": value }))
            .send()
            .await
            .expect("request")
    }

    /// `DELETE` of a secret with the admin token (not checked).
    async fn delete_secret(&self, script: &str, key: &str) -> reqwest::Response {
        self.client
            .delete(self.url(&format!("/engine/api/scripts/{script}/secrets/{key}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request")
    }
}

#[tokio::test]
async fn secrets_and_variables_reach_ctx_env_and_changes_apply_without_redeploy() {
    let server = TestServer::start().await;
    let deployed = server
        .api_post(
            "/scripts/shop/versions",
            &json!({
                "files": [
                    {"path": "main.js", "content": env_script_at("/shop/env")},
                    {"path": "kiln.toml", "content": "[vars]\nMODE = \"staging\"\nREGION = \"eu\"\nAPI_TOKEN = \"placeholder\"\n"},
                ],
                "vars": {"MODE": "prod"},
            }),
        )
        .await;
    assert_eq!(deployed.status(), 201);
    let vars = json!({"MODE": "prod", "REGION": "eu", "API_TOKEN": "placeholder"});
    let seen = server.get_json("/shop/env").await;
    assert_eq!(seen, json!({"env": vars, "frozen": true}));

    assert_eq!(
        server
            .put_secret("shop", "API_TOKEN", "sk_live_first")
            .await
            .status(),
        201
    );
    assert_eq!(
        server
            .put_secret("shop", "DB_PASSWORD", "hunter2hunter2")
            .await
            .status(),
        201
    );
    let seen = server.get_json("/shop/env").await;
    assert_eq!(
        seen["env"],
        json!({"MODE": "prod", "REGION": "eu", "API_TOKEN": "sk_live_first", "DB_PASSWORD": "hunter2hunter2"}),
        "secrets win over variables of the same name"
    );
    assert_eq!(seen["frozen"], true);

    // Listed by name, never with a value.
    let listed = server.api_json("/scripts/shop/secrets").await;
    assert_eq!(
        strings(&listed["secrets"], "name"),
        ["API_TOKEN", "DB_PASSWORD"]
    );
    let text = listed.to_string();
    assert!(
        !text.contains("sk_live_first") && !text.contains("hunter2"),
        "{text}"
    );
    assert!(listed["secrets"][0]["created_at"].is_string(), "{listed}");

    // Replaced and deleted: the next request sees it, without a redeploy.
    assert_eq!(
        server
            .put_secret("shop", "API_TOKEN", "sk_live_second")
            .await
            .status(),
        204
    );
    assert_eq!(
        server.get_json("/shop/env").await["env"]["API_TOKEN"],
        "sk_live_second"
    );
    assert_eq!(
        server.delete_secret("shop", "API_TOKEN").await.status(),
        204
    );
    assert_eq!(
        server.get_json("/shop/env").await["env"]["API_TOKEN"],
        "placeholder"
    );
    expect_error(
        server.delete_secret("shop", "API_TOKEN").await,
        404,
        "SECRET_NOT_FOUND",
    )
    .await;

    // Variables belong to their version: a rollback brings them back.
    server
        .api_post(
            "/scripts/shop/versions",
            &json!({"files": [{"path": "main.js", "content": env_script_at("/shop/env")}], "vars": {"MODE": "v2"}}),
        )
        .await;
    let seen = server.get_json("/shop/env").await;
    assert_eq!(
        seen["env"],
        json!({"MODE": "v2", "DB_PASSWORD": "hunter2hunter2"})
    );
    let versions = server.api_json("/scripts/shop/versions").await;
    assert_eq!(versions["versions"][0]["vars"], vars);
    server
        .api_post("/scripts/shop/rollback", &json!({"version": 1}))
        .await;
    assert_eq!(server.get_json("/shop/env").await["env"]["REGION"], "eu");

    // A script without secrets or variables still gets a (frozen, empty) ctx.env.
    server
        .deploy_js("plain", &env_script_at("/plain/env"))
        .await;
    assert_eq!(
        server.get_json("/plain/env").await,
        json!({"env": {}, "frozen": true})
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_names_values_and_manifests_are_refused() {
    let server = TestServer::start().await;
    let response = server
        .deploy(
            "bad",
            &[
                ("main.js", ENV_SCRIPT),
                ("kiln.toml", "[vars]\nlower = \"x\"\n"),
            ],
        )
        .await;
    let error = expect_error(response, 400, "DEPLOY_REJECTED").await;
    assert_mentions(&error, "kiln.toml [vars]: invalid name \"lower\"");
    let response = server
        .deploy(
            "bad",
            &[("main.js", ENV_SCRIPT), ("kiln.toml", "[vars]\nN = 3\n")],
        )
        .await;
    assert_mentions(
        &expect_error(response, 400, "DEPLOY_REJECTED").await,
        "kiln.toml",
    );
    let response = server
        .api_post(
            "/scripts/bad/versions",
            &json!({"files": [{"path": "main.js", "content": ENV_SCRIPT}], "vars": {"a-b": "x"}}),
        )
        .await;
    assert_mentions(
        &expect_error(response, 400, "DEPLOY_REJECTED").await,
        "deploy vars",
    );

    expect_error(
        server.put_secret("nope", "KEY", "value").await,
        404,
        "SCRIPT_NOT_FOUND",
    )
    .await;
    server.deploy_js("good", ENV_SCRIPT).await;
    let error = expect_error(
        server.put_secret("good", "lower", "v").await,
        400,
        "INVALID_SECRET_NAME",
    )
    .await;
    assert_mentions(&error, "upper-case");
    let big = "x".repeat(64 * 1024 + 1);
    expect_error(
        server.put_secret("good", "BIG", &big).await,
        413,
        "SECRET_TOO_LARGE",
    )
    .await;
    let no_value = server
        .client
        .put(server.url("/engine/api/scripts/good/secrets/KEY"))
        .bearer_auth(TOKEN)
        .json(&json!({"val": "x"}))
        .send()
        .await
        .expect("request");
    expect_error(no_value, 400, "BAD_REQUEST").await;
    server.stop().await;
}

#[tokio::test]
async fn scripts_never_see_each_others_secrets() {
    let server = TestServer::start().await;
    server
        .deploy_js("alpha", &env_script_at("/alpha/env"))
        .await;
    server.deploy_js("beta", &env_script_at("/beta/env")).await;
    assert_eq!(
        server
            .put_secret("alpha", "TOKEN", "alpha-only-value")
            .await
            .status(),
        201
    );
    assert_eq!(
        server
            .put_secret("beta", "OTHER", "beta-only-value")
            .await
            .status(),
        201
    );
    for _ in 0..4 {
        // Both workers, several times: no isolate ever mixes the two.
        assert_eq!(
            server.get_json("/alpha/env").await["env"],
            json!({"TOKEN": "alpha-only-value"})
        );
        assert_eq!(
            server.get_json("/beta/env").await["env"],
            json!({"OTHER": "beta-only-value"})
        );
    }
    let listed = server.api_json("/scripts/beta/secrets").await;
    assert_eq!(strings(&listed["secrets"], "name"), ["OTHER"]);
    // Deleting a script deletes its secrets: a new script of that name starts without them.
    let deleted = server
        .client
        .delete(server.url("/engine/api/scripts/alpha"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(deleted.status(), 204);
    server
        .deploy_js("alpha", &env_script_at("/alpha/env"))
        .await;
    assert_eq!(server.get_json("/alpha/env").await["env"], json!({}));
    server.stop().await;
}

#[tokio::test]
async fn only_owners_and_admins_manage_a_scripts_secrets() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let (a, b) = server.two_editors(&admin).await;
    server
        .deploy_ok_as(&a, "mine", &env_script_at("/mine/env"))
        .await;
    let path = "/engine/api/scripts/mine/secrets";
    let key_path = "/engine/api/scripts/mine/secrets/TOKEN";
    let set = |session| {
        server
            .with_session(Method::PUT, key_path, session)
            .json(&json!({"value": "owner-set-value"}))
    };
    forbidden(server.with_session(Method::GET, path, &b)).await;
    forbidden(set(&b)).await;
    forbidden(server.with_session(Method::DELETE, key_path, &b)).await;
    expect_status(set(&a), 201).await;
    let listed = server.get_as(&a, path).await;
    assert_eq!(strings(&listed["secrets"], "name"), ["TOKEN"]);
    let listed = server.get_as(&admin, path).await;
    assert_eq!(strings(&listed["secrets"], "name"), ["TOKEN"]);
    assert_eq!(
        server.get_json("/mine/env").await["env"]["TOKEN"],
        "owner-set-value"
    );

    // Audited by name, without the value.
    let events = server.audit(&admin, "secret_set").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["target"], "mine");
    assert_eq!(events[0]["detail"]["secret"], "TOKEN");
    assert!(!Value::Array(events).to_string().contains("owner-set-value"));
    expect_status(server.with_session(Method::DELETE, key_path, &admin), 204).await;
    assert_eq!(server.audit(&admin, "secret_deleted").await.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn secret_values_are_redacted_from_script_logs() {
    let server = TestServer::start().await;
    server
        .deploy_js(
            "chatty",
            r#"
export function init() {
  registerWebHandler("GET", "/chatty/log", (req, ctx) => {
    console.log("token is", ctx.env.TOKEN, "and pin is", ctx.env.PIN, "marker-1");
    console.error(`embedded:${ctx.env.TOKEN}:${ctx.env.LONGER_TOKEN} marker-2`);
    return "logged";
  });
  registerWebHandler("GET", "/chatty/throw", (req, ctx) => {
    throw new Error("failed with " + ctx.env.TOKEN + " marker-3");
  });
}"#,
        )
        .await;
    assert_eq!(
        server
            .put_secret("chatty", "TOKEN", "tok_9f8e7d6c")
            .await
            .status(),
        201
    );
    assert_eq!(
        server
            .put_secret("chatty", "LONGER_TOKEN", "tok_9f8e7d6c_and_more")
            .await
            .status(),
        201
    );
    assert_eq!(
        server.put_secret("chatty", "PIN", "123").await.status(),
        201
    );
    assert_eq!(server.get_text("/chatty/log").await, "logged");
    let thrown = server.get("/chatty/throw").await;
    assert_eq!(thrown.status(), 500);

    let first = server.wait_for_log("chatty", "marker-1").await;
    assert_eq!(
        first[0]["message"], "token is [REDACTED] and pin is 123 marker-1",
        "values shorter than 4 bytes are not redacted"
    );
    let second = server.wait_for_log("chatty", "marker-2").await;
    assert_eq!(
        second[0]["message"],
        "embedded:[REDACTED]:[REDACTED] marker-2"
    );
    let third = server.wait_for_log("chatty", "marker-3").await;
    let message = third[0]["message"].as_str().expect("message");
    assert!(
        message.contains("failed with [REDACTED] marker-3"),
        "{message}"
    );
    let all = server
        .api_json("/scripts/chatty/logs?limit=1000")
        .await
        .to_string();
    assert!(
        !all.contains("9f8e7d6c"),
        "a secret value reached the log: {all}"
    );
    server.stop().await;
}

/// Every byte of the database files (the main file and, if left, its WAL).
fn database_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["kiln.db", "kiln.db-wal"] {
        if let Ok(content) = std::fs::read(dir.join(name)) {
            bytes.extend(content);
        }
    }
    bytes
}

#[tokio::test]
async fn secrets_are_encrypted_at_rest_and_need_their_master_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let value = "plaintext-secret-7c1e4b";
    {
        let server = TestServer::start_in(dir, |_| {}).await;
        server
            .deploy_js("vault", &env_script_at("/vault/env"))
            .await;
        assert_eq!(
            server.put_secret("vault", "VALUE", value).await.status(),
            201
        );
        assert_eq!(server.get_json("/vault/env").await["env"]["VALUE"], value);
        server.stop().await;
    }
    let bytes = database_bytes(dir);
    assert!(bytes.len() > 1000);
    assert!(
        !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
        "the plaintext is in the database"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.join("master.key"))
            .expect("master.key was generated")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The same data directory (and so the same key file) still decrypts after a restart.
    let server = TestServer::start_in(dir, |_| {}).await;
    assert_eq!(server.get_json("/vault/env").await["env"]["VALUE"], value);
    server.stop().await;

    // Another master key: a clear error, never garbage.
    let other = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let server = TestServer::start_in(dir, |config| config.master_key = Some(other.into())).await;
    let error = expect_error(server.get("/vault/env").await, 500, "SECRETS_UNAVAILABLE").await;
    assert_mentions(&error, "another master key");
    assert_mentions(&error, "VALUE");
    assert!(!error.to_string().contains(value));
    // Setting it again under the new key repairs it.
    assert_eq!(
        server.put_secret("vault", "VALUE", "re-set").await.status(),
        204
    );
    assert_eq!(
        server.get_json("/vault/env").await["env"]["VALUE"],
        "re-set"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_master_key_file_open_to_others_stops_the_server() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("master.key");
    std::fs::write(&path, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let config = kiln::config::Config {
        data_dir: tmp.path().to_path_buf(),
        ..kiln::config::Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let error = kiln::server::run(config, listener, std::future::pending())
        .await
        .expect_err("the server must refuse to start");
    let message = format!("{error:#}");
    assert!(message.contains("chmod 600"), "{message}");
}
