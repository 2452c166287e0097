//! The `kiln` command line: argument definitions (clap derive) and dispatch to one submodule
//! per command. `serve` runs the server in this process; `config check` validates the
//! configuration; the remote commands (`deploy`, `rollback`, `scripts`, `logs`) talk to a
//! running server through its management API with [`remote::ApiClient`]. `main.rs` only parses,
//! calls [`run`], prints the error chain and exits with [`exit_code`].

mod config_check;
mod deploy;
mod logs;
mod remote;
mod scripts;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use reqwest::Url;

use crate::config::ConfigError;

pub use config_check::CheckArgs;
pub use deploy::DeployArgs;
pub use logs::LogsArgs;
pub use scripts::RollbackArgs;
pub use serve::ServeArgs;

/// Exit code for a configuration that does not load or validate (clap uses the same code for
/// usage errors).
pub const EXIT_CONFIG: u8 = 2;
/// Exit code for every other failure.
pub const EXIT_FAILURE: u8 = 1;

/// Server the remote commands talk to when neither `--server` nor `KILN_SERVER` is given.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// Kiln: serve JavaScript and TypeScript scripts, and manage them on a running server.
#[derive(Debug, Parser)]
#[command(name = "kiln", version)]
pub struct Cli {
    /// Where remote commands send their requests.
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options of the remote commands (accepted anywhere on the command line).
#[derive(Clone, Debug, Args)]
pub struct RemoteArgs {
    /// URL of the Kiln server that remote commands talk to.
    #[arg(long, global = true, env = "KILN_SERVER", value_name = "URL",
          default_value = DEFAULT_SERVER, value_parser = parse_server_url)]
    pub server: Url,
    /// Token sent to the server as `Authorization: Bearer <TOKEN>`.
    #[arg(
        long,
        global = true,
        env = "KILN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
}

/// The `kiln` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Deploy a directory as a new version of a script.
    Deploy(DeployArgs),
    /// Make an earlier version of a script the active one.
    Rollback(RollbackArgs),
    /// List the scripts on the server.
    Scripts,
    /// Show a script's log lines.
    Logs(LogsArgs),
}

/// `kiln config …` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate the configuration; print the effective values or every problem.
    Check(CheckArgs),
}

/// Runs the parsed command line; returns the process exit code for outcomes that are not errors
/// of this process (an invalid configuration reported by `config check`).
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Config(ConfigCommand::Check(args)) => return Ok(config_check::run(&args)),
        Command::Serve(args) => serve::run(args).await?,
        Command::Deploy(args) => deploy::run(&cli.remote, args).await?,
        Command::Rollback(args) => scripts::rollback(&cli.remote, args).await?,
        Command::Scripts => scripts::list(&cli.remote).await?,
        Command::Logs(args) => logs::run(&cli.remote, args).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The exit code for an error returned by [`run`]: [`EXIT_CONFIG`] for configuration errors,
/// [`EXIT_FAILURE`] otherwise.
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    if err.chain().any(|cause| cause.is::<ConfigError>()) {
        ExitCode::from(EXIT_CONFIG)
    } else {
        ExitCode::from(EXIT_FAILURE)
    }
}

/// Parses `--server`: an absolute `http` or `https` URL.
fn parse_server_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|err| format!("not a URL: {err}"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("unsupported scheme `{other}` (use http or https)")),
    }
}

/// Option shared by `serve` and `config check`.
#[derive(Clone, Debug, Args)]
pub struct ConfigFileArg {
    /// Configuration file to read instead of `./kiln.toml` (which is optional).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::LogFormat;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kiln").chain(args.iter().copied()))
    }

    #[test]
    fn command_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_flags() {
        let cli = parse(&[
            "serve",
            "--listen",
            "0.0.0.0:9000",
            "--data-dir",
            "/var/kiln",
            "--config",
            "k.toml",
            "--log-format",
            "json",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve: {cli:?}")
        };
        let overrides = args.overrides();
        assert_eq!(overrides.listen.unwrap().to_string(), "0.0.0.0:9000");
        assert_eq!(overrides.data_dir.unwrap(), PathBuf::from("/var/kiln"));
        assert_eq!(overrides.config.unwrap(), PathBuf::from("k.toml"));
        assert_eq!(overrides.log_format, Some(LogFormat::Json));
        assert!(parse(&["serve"]).is_ok());
        assert!(
            parse(&["serve", "--listen", "localhost"]).is_err(),
            "needs ip:port"
        );
        assert!(parse(&["serve", "--log-format", "xml"]).is_err());
    }

    #[test]
    fn config_check_takes_a_file() {
        let cli = parse(&["config", "check", "--config", "x.toml"]).unwrap();
        let Command::Config(ConfigCommand::Check(args)) = cli.command else {
            panic!()
        };
        assert_eq!(args.file.config, Some(PathBuf::from("x.toml")));
    }

    #[test]
    fn deploy_and_global_remote_options() {
        let cli = parse(&[
            "deploy",
            "./hello",
            "--name",
            "greeter",
            "--no-activate",
            "--server",
            "https://kiln.example.com/base/",
            "--token",
            "t0k",
        ])
        .unwrap();
        assert_eq!(cli.remote.server.as_str(), "https://kiln.example.com/base/");
        assert_eq!(cli.remote.token.as_deref(), Some("t0k"));
        let Command::Deploy(args) = cli.command else {
            panic!()
        };
        assert_eq!(args.dir, PathBuf::from("./hello"));
        assert_eq!(args.name.as_deref(), Some("greeter"));
        assert!(args.no_activate);
        let cli = parse(&["--server", "http://10.0.0.1:1", "deploy", "d"]).unwrap();
        assert_eq!(cli.remote.server.as_str(), "http://10.0.0.1:1/");
        assert!(parse(&["deploy"]).is_err(), "DIR is required");
        assert!(parse(&["deploy", "d", "--server", "ftp://x"]).is_err());
    }

    #[test]
    fn rollback_scripts_and_logs() {
        let cli = parse(&["rollback", "hello", "2"]).unwrap();
        let Command::Rollback(args) = cli.command else {
            panic!()
        };
        assert_eq!((args.name.as_str(), args.version), ("hello", 2));
        assert!(parse(&["rollback", "hello", "two"]).is_err());
        assert!(matches!(
            parse(&["scripts"]).unwrap().command,
            Command::Scripts
        ));

        let cli = parse(&[
            "logs",
            "hello",
            "--level",
            "warn",
            "--request-id",
            "r1",
            "--since",
            "2026-01-02T03:04:05Z",
            "--limit",
            "20",
            "--follow",
        ])
        .unwrap();
        let Command::Logs(args) = cli.command else {
            panic!()
        };
        assert_eq!(args.level.map(|l| l.as_str()), Some("warn"));
        assert_eq!(args.request_id.as_deref(), Some("r1"));
        assert_eq!(args.since.as_deref(), Some("2026-01-02T03:04:05Z"));
        assert_eq!((args.limit, args.follow), (Some(20), true));
        assert!(parse(&["logs", "hello", "--since", "yesterday"]).is_err());
        assert!(parse(&["logs", "hello", "--limit", "0"]).is_err());
    }

    #[test]
    fn config_errors_exit_with_2() {
        let err = anyhow::Error::new(ConfigError::MissingFile { path: "x".into() });
        assert_eq!(exit_code(&err), ExitCode::from(EXIT_CONFIG));
        let err = anyhow::anyhow!("boom");
        assert_eq!(exit_code(&err), ExitCode::from(EXIT_FAILURE));
    }
}
