//! The `kiln` command line: argument definitions (clap derive) and dispatch to one submodule
//! per command. `serve` runs the server in this process; `config check` validates the
//! configuration; `users create-admin` writes the first admin account into the database
//! directly; `exec` runs a WebAssembly module locally; the remote commands (`deploy`,
//! `rollback`, `scripts`, `logs`, `secrets`, `users`, `keys`, `usage`, `tiers`, and `modules` through the
//! customer API `/api/modules`) talk to a running server with [`remote::ApiClient`]. `main.rs`
//! only parses, calls [`run`], prints the error chain and exits with [`exit_code`].

mod config_check;
mod create_admin;
mod deploy;
mod exec;
mod keys;
mod logs;
mod modules;
mod remote;
mod scripts;
mod secrets;
mod serve;
mod table;
mod usage;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use reqwest::Url;

use crate::config::ConfigError;

pub use config_check::CheckArgs;
pub use create_admin::{CreateAdminArgs, PASSWORD_ENV};
pub use deploy::DeployArgs;
pub use keys::{CreateKeyArgs, KeyIdArg, KeysCommand, ListKeysArgs, SetTierArgs};
pub use logs::LogsArgs;
pub use modules::ModulesCommand;
pub use scripts::RollbackArgs;
pub use secrets::{SecretKeyArgs, SecretScriptArg, SecretsCommand};
pub use serve::ServeArgs;
pub use usage::{Period, UsageArgs};
pub use users::{AllowTiersArgs, CreateUserArgs, RoleArgs, UserArg, UserRef, UsersCommand};

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
    /// Set, list and delete a script's secrets (its `ctx.env`, encrypted at rest).
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Manage user accounts and roles (`create-admin` works locally, without a server).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Show request usage per hour or day (by key, user or script).
    Usage(UsageArgs),
    /// List the tiers and their limits.
    Tiers,
    /// Run a WebAssembly module locally in the sandbox; exits with the guest's exit code.
    Exec(exec::ExecArgs),
    /// Store, list, delete and execute your WebAssembly modules on the server (API key).
    #[command(subcommand)]
    Modules(ModulesCommand),
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
        Command::Secrets(command) => secrets::run(&cli.remote, command).await?,
        Command::Users(command) => users::run(&cli.remote, command).await?,
        Command::Keys(command) => keys::run(&cli.remote, command).await?,
        Command::Usage(args) => usage::usage(&cli.remote, args).await?,
        Command::Tiers => usage::tiers(&cli.remote).await?,
        Command::Exec(args) => {
            return tokio::task::spawn_blocking(move || exec::run(args)).await?;
        }
        Command::Modules(command) => return modules::run(&cli.remote, command).await,
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
        let cli = parse(&["deploy", "d", "--var", "MODE=prod", "--var", "Q=a=b"]).unwrap();
        let Command::Deploy(args) = cli.command else {
            panic!()
        };
        assert_eq!(
            args.vars,
            [("MODE".into(), "prod".into()), ("Q".into(), "a=b".into())]
        );
        assert!(parse(&["deploy", "d", "--var", "NOEQUALS"]).is_err());
        let cli = parse(&["secrets", "set", "shop", "API_TOKEN"]).unwrap();
        let Command::Secrets(SecretsCommand::Set(args)) = cli.command else {
            panic!()
        };
        assert_eq!(
            (args.script.as_str(), args.key.as_str()),
            ("shop", "API_TOKEN")
        );
        assert!(parse(&["secrets", "list", "shop"]).is_ok());
        assert!(
            parse(&["secrets", "rm", "shop"]).is_err(),
            "KEY is required"
        );
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
    fn users_keys_usage_and_tiers() {
        let cli = parse(&[
            "users",
            "create-admin",
            "root@example.com",
            "--name",
            "Root",
            "--data-dir",
            "/var/kiln",
            "--config",
            "k.toml",
        ])
        .unwrap();
        let Command::Users(UsersCommand::CreateAdmin(args)) = cli.command else {
            panic!()
        };
        assert_eq!(args.email, "root@example.com");
        assert_eq!(args.name.as_deref(), Some("Root"));
        assert_eq!(args.data_dir, Some(PathBuf::from("/var/kiln")));
        assert_eq!(args.file.config, Some(PathBuf::from("k.toml")));

        let cli = parse(&[
            "users",
            "create",
            "bob@example.com",
            "--role",
            "editor",
            "--role",
            "user",
            "--password-env",
            "BOB_PW",
        ])
        .unwrap();
        let Command::Users(UsersCommand::Create(args)) = cli.command else {
            panic!()
        };
        assert_eq!(args.roles, ["editor", "user"]);
        assert_eq!(args.password_env.as_deref(), Some("BOB_PW"));
        let cli = parse(&["users", "grant", "bob@example.com", "admin"]).unwrap();
        let Command::Users(UsersCommand::Grant(args)) = cli.command else {
            panic!()
        };
        assert_eq!(args.user, UserRef::Email("bob@example.com".into()));
        let cli = parse(&["users", "allow-tiers", "7", "free", "pro"]).unwrap();
        let Command::Users(UsersCommand::AllowTiers(args)) = cli.command else {
            panic!()
        };
        assert_eq!(
            (args.user, args.tiers),
            (UserRef::Id(7), vec!["free".into(), "pro".into()])
        );
        assert!(
            parse(&["users", "allow-tiers", "7"]).is_err(),
            "TIER is required"
        );
        assert!(
            parse(&["users", "disable", "bob"]).is_err(),
            "not an id or email"
        );
        assert!(parse(&["users", "enable", "3"]).is_ok());
        assert!(parse(&["users", "revoke", "3", "editor"]).is_ok());
        assert!(matches!(
            parse(&["users", "list"]).unwrap().command,
            Command::Users(UsersCommand::List)
        ));

        let cli = parse(&[
            "keys",
            "create",
            "--name",
            "ci",
            "--tier",
            "pro",
            "--scope",
            "manage",
            "--scope",
            "invoke",
            "--expires-in",
            "30d",
            "--user",
            "bob@example.com",
        ])
        .unwrap();
        let Command::Keys(KeysCommand::Create(args)) = cli.command else {
            panic!()
        };
        assert_eq!(args.scopes, ["manage", "invoke"]);
        assert_eq!(args.expires_in, Some(30 * 86_400));
        assert_eq!(args.tier.as_deref(), Some("pro"));
        assert!(parse(&["keys", "create"]).is_err(), "--name is required");
        assert!(parse(&["keys", "create", "--name", "x", "--scope", "root"]).is_err());
        assert!(parse(&["keys", "create", "--name", "x", "--expires-in", "30"]).is_err());
        assert!(parse(&["keys", "list", "--all", "--user", "3"]).is_err());
        let cli = parse(&["keys", "set-tier", "4", "basic"]).unwrap();
        let Command::Keys(KeysCommand::SetTier(args)) = cli.command else {
            panic!()
        };
        assert_eq!((args.id, args.tier.as_str()), (4, "basic"));
        assert!(parse(&["keys", "revoke", "four"]).is_err());

        let cli = parse(&[
            "usage",
            "--key",
            "4",
            "--script",
            "hello",
            "--period",
            "day",
            "--since",
            "2026-01-01T00:00:00Z",
            "--json",
        ])
        .unwrap();
        let Command::Usage(args) = cli.command else {
            panic!()
        };
        assert_eq!(
            (args.key, args.period, args.json),
            (Some(4), Some(Period::Day), true)
        );
        assert!(parse(&["usage", "--period", "week"]).is_err());
        assert!(parse(&["usage", "--since", "yesterday"]).is_err());
        assert!(matches!(parse(&["tiers"]).unwrap().command, Command::Tiers));
    }

    #[test]
    fn modules_subcommands() {
        let cli = parse(&[
            "modules",
            "put",
            "calc",
            "calc.wasm",
            "--description",
            "adds",
        ])
        .unwrap();
        let Command::Modules(ModulesCommand::Put(args)) = cli.command else {
            panic!()
        };
        assert_eq!(
            (args.name.as_str(), args.file, args.description.as_deref()),
            ("calc", PathBuf::from("calc.wasm"), Some("adds"))
        );
        assert!(
            parse(&["modules", "put", "calc"]).is_err(),
            "FILE is required"
        );
        let cli = parse(&["modules", "list", "--json"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Modules(ModulesCommand::List(modules::ListArgs { json: true }))
        ));
        assert!(parse(&["modules", "rm", "calc"]).is_ok());
        let cli = parse(&[
            "modules", "exec", "calc", "--input", "-", "--arg", "a", "--arg", "b", "--env", "K=V",
        ])
        .unwrap();
        let Command::Modules(ModulesCommand::Exec(args)) = cli.command else {
            panic!()
        };
        assert_eq!(args.guest.args, ["a", "b"]);
        assert_eq!(args.guest.env, [("K".to_owned(), "V".to_owned())]);
        assert_eq!(args.guest.input, Some(PathBuf::from("-")));
        assert!(parse(&["modules", "exec", "calc", "--env", "novalue"]).is_err());
    }

    #[test]
    fn config_errors_exit_with_2() {
        let err = anyhow::Error::new(ConfigError::MissingFile { path: "x".into() });
        assert_eq!(exit_code(&err), ExitCode::from(EXIT_CONFIG));
        let err = anyhow::anyhow!("boom");
        assert_eq!(exit_code(&err), ExitCode::from(EXIT_FAILURE));
    }
}
