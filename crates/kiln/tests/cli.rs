//! The real `kiln` binary: `serve` with zero configuration, the printed admin token,
//! `deploy`, `rollback`, `scripts`, `logs`, `config check`, and graceful shutdown on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const KILN: &str = env!("CARGO_BIN_EXE_kiln");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Server {
    child: Child,
    base: String,
    token: String,
}

impl Server {
    /// Starts `kiln serve` in `dir` without any configuration except the port; reads the
    /// generated admin token from its stderr.
    fn start(dir: &Path) -> Server {
        let port = free_port();
        let mut child = Command::new(KILN)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--log-format",
                "json",
            ])
            .current_dir(dir)
            .env_remove("KILN_ADMIN_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kiln serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(token) = line
                    .split_whitespace()
                    .find(|w| w.starts_with("kiln_admin_"))
                {
                    let _ = tx.send(token.to_owned());
                }
            }
        });
        let token = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the admin token was printed");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            token,
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if http_get(&format!("{}/health/ready", server.base))
                .is_some_and(|(status, _)| status == 200)
            {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("kiln serve did not become ready");
    }

    fn kiln(&self, args: &[&str]) -> Output {
        Command::new(KILN)
            .args(args)
            .args(["--server", &self.base])
            .env("KILN_TOKEN", &self.token)
            .output()
            .expect("run kiln")
    }

    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "kiln did not shut down on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    /// A failing test must not leave a server running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A tiny blocking HTTP/1.0 GET (keeps the test free of async plumbing).
fn http_get(url: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "kiln failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn serve_deploy_rollback_logs_and_shutdown_with_the_real_binary() {
    let work = tempfile::tempdir().expect("tmp");
    let server = Server::start(work.path());
    // Zero configuration: everything lives in ./kiln-data.
    assert!(work.path().join("kiln-data/kiln.db").exists());

    let app = work.path().join("app");
    std::fs::create_dir_all(app.join("lib")).expect("mkdir");
    std::fs::write(
        app.join("main.ts"),
        "import { shout } from './lib/shout';\nexport function init(): void {\n  registerWebHandler('GET', '/cli/:word', (req: Request, ctx: any) => {\n    console.log('shouting', ctx.params.word);\n    return shout(ctx.params.word);\n  });\n}\n",
    )
    .expect("write");
    std::fs::write(
        app.join("lib/shout.ts"),
        "export const shout = (s: string): string => s.toUpperCase() + '!';\n",
    )
    .expect("write");
    let out = stdout(&server.kiln(&["deploy", app.to_str().expect("path"), "--name", "cli-app"]));
    assert!(out.contains("v1"), "{out}");
    assert_eq!(
        http_get(&format!("{}/cli/hey", server.base)),
        Some((200, "HEY!".into()))
    );

    std::fs::write(
        app.join("lib/shout.ts"),
        "export const shout = (s: string): string => s + '?';\n",
    )
    .expect("write");
    let out = stdout(&server.kiln(&["deploy", app.to_str().expect("path"), "--name", "cli-app"]));
    assert!(out.contains("v2"), "{out}");
    assert_eq!(
        http_get(&format!("{}/cli/hey", server.base)),
        Some((200, "hey?".into()))
    );

    stdout(&server.kiln(&["rollback", "cli-app", "1"]));
    assert_eq!(
        http_get(&format!("{}/cli/hey", server.base)),
        Some((200, "HEY!".into()))
    );

    let out = stdout(&server.kiln(&["scripts"]));
    assert!(out.contains("cli-app"), "{out}");

    let mut logs = String::new();
    for _ in 0..50 {
        logs = stdout(&server.kiln(&["logs", "cli-app"]));
        if logs.contains("shouting hey") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(logs.contains("shouting hey"), "{logs}");

    // A bad deploy is refused with the file and line, and the CLI exits non-zero.
    std::fs::write(app.join("main.ts"), "export function init( {\n").expect("write");
    let out = server.kiln(&["deploy", app.to_str().expect("path"), "--name", "cli-app"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("main.ts:"), "{stderr}");

    // A wrong token is refused.
    let out = Command::new(KILN)
        .args(["scripts", "--server", &server.base])
        .env("KILN_TOKEN", "not-the-token-at-all")
        .output()
        .expect("run");
    assert!(!out.status.success());

    let status = server.stop();
    assert!(status.success(), "kiln exited with {status} after SIGTERM");

    // Restart: the token is not printed again, the scripts are back.
    let port = free_port();
    let mut child = Command::new(KILN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(work.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    let mut answer = None;
    while started.elapsed() < Duration::from_secs(30) {
        answer = http_get(&format!("http://127.0.0.1:{port}/cli/hey"));
        if answer.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(answer, Some((200, "HEY!".into())));
}

/// Runs `kiln config check` on a file with `contents` (and extra environment); returns
/// whether it succeeded and everything it printed.
fn config_check(contents: &str, env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("kiln.toml");
    std::fs::write(&config, contents).expect("write");
    let out = Command::new(KILN)
        .args([
            "config",
            "check",
            "--config",
            config.to_str().expect("path"),
        ])
        .envs(env.iter().copied())
        .output()
        .expect("run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn config_check_names_the_bad_key() {
    let (ok, text) = config_check("[limits]\ncpu_ms = 0\n", &[]);
    assert!(!ok && text.contains("limits.cpu_ms"), "{text}");

    let (ok, text) = config_check("listen = \"127.0.0.1:9999\"\nunknown_key = 1\n", &[]);
    assert!(!ok && text.contains("unknown_key"), "{text}");

    let (ok, text) = config_check(
        "listen = \"127.0.0.1:9999\"\n[limits]\ncpu_ms = 20\n",
        &[("KILN_LIMITS__WALL_MS", "1234")],
    );
    assert!(ok, "{text}");
    assert!(
        text.contains("cpu_ms = 20") && text.contains("wall_ms = 1234"),
        "{text}"
    );
}
