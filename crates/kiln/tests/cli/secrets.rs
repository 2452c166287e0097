//! `kiln secrets set|list|rm` and `kiln deploy --var` with the real binary against a real
//! server: the value goes in through standard input and comes back only in the script's
//! `ctx.env`; `config check` names a bad `KILN_MASTER_KEY` without printing it.

use std::io::Write as _;
use std::process::{Command, Stdio};

use super::{KILN, Server, config_check, http_get, stdout};

/// Runs `kiln secrets set SCRIPT KEY` with `input` on standard input.
fn set_secret(server: &Server, script: &str, key: &str, input: &str) -> std::process::Output {
    let mut child = Command::new(KILN)
        .args(["secrets", "set", script, key, "--server", &server.base])
        .env("KILN_TOKEN", &server.token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

#[test]
fn secrets_commands_and_deploy_vars_with_the_real_binary() {
    let work = tempfile::tempdir().expect("tmp");
    let server = Server::start(work.path());
    let app = work.path().join("envapp");
    std::fs::create_dir_all(&app).expect("mkdir");
    std::fs::write(
        app.join("main.js"),
        "export function init() {\n  registerWebHandler('GET', '/envapp', (req, ctx) => ({ ...ctx.env }));\n}\n",
    )
    .expect("write");
    std::fs::write(
        app.join("kiln.toml"),
        "[vars]\nMODE = \"staging\"\nREGION = \"eu\"\n",
    )
    .expect("write");
    let dir = app.to_str().expect("path");
    stdout(&server.kiln(&["deploy", dir, "--var", "MODE=prod"]));
    let env = |server: &Server| {
        let (status, body) = http_get(&format!("{}/envapp", server.base)).expect("answer");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).expect("json")
    };
    assert_eq!(
        env(&server),
        serde_json::json!({"MODE": "prod", "REGION": "eu"})
    );

    let out = stdout(&set_secret(
        &server,
        "envapp",
        "API_TOKEN",
        "tok-from-stdin-42\n",
    ));
    assert!(out.contains("API_TOKEN"), "{out}");
    assert_eq!(
        env(&server)["API_TOKEN"],
        "tok-from-stdin-42",
        "one trailing newline trimmed"
    );

    let listed = stdout(&server.kiln(&["secrets", "list", "envapp"]));
    assert!(
        listed.contains("NAME") && listed.contains("API_TOKEN"),
        "{listed}"
    );
    assert!(!listed.contains("tok-from-stdin"), "{listed}");

    let bad = set_secret(&server, "envapp", "lower-case", "x");
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("INVALID_SECRET_NAME"), "{stderr}");

    stdout(&server.kiln(&["secrets", "rm", "envapp", "API_TOKEN"]));
    assert!(env(&server).get("API_TOKEN").is_none());
    let listed = stdout(&server.kiln(&["secrets", "list", "envapp"]));
    assert!(listed.contains("has no secrets"), "{listed}");
    let again = server.kiln(&["secrets", "rm", "envapp", "API_TOKEN"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("SECRET_NOT_FOUND"));

    // The master key was generated next to the database, private to its owner.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let key = work.path().join("kiln-data/master.key");
        let mode = std::fs::metadata(key)
            .expect("master.key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn config_check_names_a_bad_master_key_without_printing_it() {
    let (ok, text) = config_check("", &[("KILN_MASTER_KEY", "c2hvcnQta2V5")]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("master_key") && text.contains("decodes to 9 bytes"),
        "{text}"
    );
    assert!(!text.contains("c2hvcnQta2V5"), "{text}");
    let good = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let (ok, text) = config_check("", &[("KILN_MASTER_KEY", good)]);
    assert!(ok, "{text}");
    assert!(!text.contains(good), "the key is redacted: {text}");
}
