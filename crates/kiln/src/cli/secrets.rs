//! `kiln secrets set|list|rm SCRIPT [KEY]`: a script's secrets through the management API.
//! `set` reads the value from standard input (one trailing newline removed), or prompts for
//! it without echo on a terminal, so the value never appears in the shell history or the
//! process list; `list` prints names and timestamps (the server never returns values).

use std::io::{IsTerminal as _, Read as _};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde::Deserialize;

use super::RemoteArgs;
use super::remote::ApiClient;
use super::table::render_table;

/// `kiln secrets …` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Set a secret (the value is read from standard input).
    Set(SecretKeyArgs),
    /// List a script's secrets (names and dates, never values).
    List(SecretScriptArg),
    /// Delete a secret.
    Rm(SecretKeyArgs),
}

/// The script whose secrets to list.
#[derive(Clone, Debug, Args)]
pub struct SecretScriptArg {
    /// The script.
    #[arg(value_name = "SCRIPT")]
    pub script: String,
}

/// A script and one of its secrets.
#[derive(Clone, Debug, Args)]
pub struct SecretKeyArgs {
    /// The script.
    #[arg(value_name = "SCRIPT")]
    pub script: String,
    /// The secret's name, as the script sees it in `ctx.env` (e.g. `API_TOKEN`).
    #[arg(value_name = "KEY")]
    pub key: String,
}

#[derive(Deserialize)]
struct SecretList {
    secrets: Vec<SecretRow>,
}

#[derive(Deserialize)]
struct SecretRow {
    name: String,
    created_at: String,
    updated_at: String,
}

/// Runs a `kiln secrets` subcommand.
pub(super) async fn run(remote: &RemoteArgs, command: SecretsCommand) -> anyhow::Result<()> {
    let client = ApiClient::new(remote)?;
    match command {
        SecretsCommand::Set(args) => {
            let key = args.key.clone();
            let value = tokio::task::spawn_blocking(move || read_value(&key)).await??;
            let request = client
                .request_at(Method::PUT, &path(&args.script, Some(&args.key)))
                .json(&serde_json::json!({ "value": value }));
            client.send_empty(request).await?;
            println!("set secret {} of {}", args.key, args.script);
        }
        SecretsCommand::List(args) => {
            let list: SecretList = client
                .get(&["scripts", &args.script, "secrets"], &[])
                .await?;
            if list.secrets.is_empty() {
                println!("{} has no secrets", args.script);
            } else {
                let rows: Vec<[String; 3]> = list
                    .secrets
                    .into_iter()
                    .map(|s| [s.name, s.created_at, s.updated_at])
                    .collect();
                print!("{}", render_table(&["NAME", "CREATED", "UPDATED"], &rows));
            }
        }
        SecretsCommand::Rm(args) => {
            let request = client.request_at(Method::DELETE, &path(&args.script, Some(&args.key)));
            client.send_empty(request).await?;
            println!("deleted secret {} of {}", args.key, args.script);
        }
    }
    Ok(())
}

/// `engine/api/scripts/{script}/secrets[/{key}]` as URL segments.
fn path<'a>(script: &'a str, key: Option<&'a str>) -> Vec<&'a str> {
    let mut segments = vec!["engine", "api", "scripts", script, "secrets"];
    segments.extend(key);
    segments
}

/// The value: prompted for without echo on a terminal, else all of standard input.
fn read_value(key: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return rpassword::prompt_password(format!("value of {key}: "))
            .context("reading the value from the terminal");
    }
    let mut value = String::new();
    stdin
        .lock()
        .read_to_string(&mut value)
        .context("reading the value from standard input (it must be UTF-8 text)")?;
    Ok(trim_newline(value))
}

/// Removes one trailing `\n` or `\r\n` (what `echo` and editors add), nothing else.
fn trim_newline(mut value: String) -> String {
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_newline_is_removed() {
        assert_eq!(trim_newline("v\n".into()), "v");
        assert_eq!(trim_newline("v\r\n".into()), "v");
        assert_eq!(trim_newline("v\n\n".into()), "v\n");
        assert_eq!(trim_newline(" v ".into()), " v ");
    }
}
