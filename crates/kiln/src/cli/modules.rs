//! `kiln modules put|list|rm|exec`: the caller's stored WebAssembly modules through the
//! customer API (`/api/modules`), authenticated with an API key (`KILN_TOKEN`; `execute` scope,
//! or `manage` for everything but `exec`). `exec` prints the guest's stdout, its stderr to
//! stderr, and exits with the guest's exit code, like `kiln exec` does locally.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use base64::Engine as _;
use clap::{Args, Subcommand};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;

use super::RemoteArgs;
use super::exec::GuestArgs;
use super::remote::{ApiClient, decode};
use super::table::{or_dash, render_table};

/// `kiln modules …` subcommands.
#[derive(Debug, Subcommand)]
pub enum ModulesCommand {
    /// Upload a module under a name (replacing your module of that name, if any).
    Put(PutArgs),
    /// List your modules.
    List(ListArgs),
    /// Delete one of your modules.
    Rm(NameArg),
    /// Execute one of your modules on the server; exits with the guest's exit code.
    Exec(ExecArgs),
}

/// Arguments of `kiln modules put`.
#[derive(Clone, Debug, Args)]
pub struct PutArgs {
    /// The module's name: 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The module (`.wasm`).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// A description (a replace without it keeps the old one; `""` clears it).
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
}

/// Options of `kiln modules list`.
#[derive(Clone, Debug, Args)]
pub struct ListArgs {
    /// Print the modules as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// An argument naming a module.
#[derive(Clone, Debug, Args)]
pub struct NameArg {
    /// The module's name.
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// Arguments of `kiln modules exec`.
#[derive(Clone, Debug, Args)]
pub struct ExecArgs {
    /// The module's name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Stdin, arguments, environment, entry point.
    #[command(flatten)]
    pub guest: GuestArgs,
}

/// A module as the API shows it.
#[derive(Debug, Deserialize, serde::Serialize)]
struct Module {
    name: String,
    #[serde(default)]
    description: Option<String>,
    hash: String,
    size_bytes: i64,
    created_at: String,
    updated_at: String,
    execution_count: i64,
    #[serde(default)]
    last_executed_at: Option<String>,
}

/// A page of `GET /api/modules`.
#[derive(Deserialize)]
struct ModulePage {
    modules: Vec<Module>,
    #[serde(default)]
    next_cursor: Option<String>,
}

/// The execution answer (WasmWiz's fields plus Kiln's).
#[derive(Deserialize)]
struct ExecAnswer {
    output: String,
    #[serde(default)]
    output_base64: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    exit_code: Option<i32>,
    #[serde(default)]
    stderr: String,
    #[serde(default)]
    result: Option<serde_json::Value>,
}

/// Runs a `kiln modules` subcommand; `exec` returns the guest's exit code.
pub(super) async fn run(remote: &RemoteArgs, command: ModulesCommand) -> anyhow::Result<ExitCode> {
    let client = ApiClient::new(remote)?;
    match command {
        ModulesCommand::Put(args) => put(&client, args).await?,
        ModulesCommand::List(args) => list(&client, args).await?,
        ModulesCommand::Rm(args) => {
            let request = client.request_at(Method::DELETE, &["api", "modules", &args.name]);
            client.send_empty(request).await?;
            println!("deleted module {}", args.name);
        }
        ModulesCommand::Exec(args) => return exec(&client, args).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn put(client: &ApiClient, args: PutArgs) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let mut form = Form::new()
        .text("name", args.name.clone())
        .part("wasm", Part::bytes(bytes).file_name("module.wasm"));
    if let Some(description) = args.description {
        form = form.text("description", description);
    }
    let request = client
        .request_at(Method::POST, &["api", "modules"])
        .multipart(form);
    let module: Module = client.send(request).await?;
    println!(
        "stored module {} ({} bytes, sha256 {})",
        module.name, module.size_bytes, module.hash
    );
    Ok(())
}

async fn list(client: &ApiClient, args: ListArgs) -> anyhow::Result<()> {
    let mut modules = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = client.request_at(Method::GET, &["api", "modules"]);
        if let Some(cursor) = &cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        let page: ModulePage = client.send(request).await?;
        modules.extend(page.modules);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&modules)?);
    } else if modules.is_empty() {
        println!("no modules");
    } else {
        print!("{}", module_table(&modules));
    }
    Ok(())
}

fn module_table(modules: &[Module]) -> String {
    let rows: Vec<[String; 6]> = modules
        .iter()
        .map(|m| {
            [
                m.name.clone(),
                m.size_bytes.to_string(),
                m.execution_count.to_string(),
                or_dash(m.last_executed_at.as_deref()),
                m.updated_at.clone(),
                or_dash(m.description.as_deref()),
            ]
        })
        .collect();
    render_table(
        &[
            "NAME",
            "SIZE",
            "EXECUTIONS",
            "LAST EXECUTED",
            "UPDATED",
            "DESCRIPTION",
        ],
        &rows,
    )
}

async fn exec(client: &ApiClient, args: ExecArgs) -> anyhow::Result<ExitCode> {
    let stdin = args.guest.read_stdin()?;
    let env: serde_json::Map<String, serde_json::Value> = args
        .guest
        .env
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let mut form = Form::new()
        .part("input", Part::bytes(stdin))
        .text("env", serde_json::Value::Object(env).to_string());
    match &args.guest.function {
        Some(function) => {
            form = form
                .text("function", function.clone())
                .text("args", serde_json::to_string(&args.guest.numbers()?)?);
        }
        None => form = form.text("args", serde_json::to_string(&args.guest.args)?),
    }
    let request = client
        .request_at(Method::POST, &["api", "modules", &args.name, "execute"])
        .multipart(form);
    let (status, url, body) = client.send_raw(request).await?;
    // 200 and 422 carry the execution answer; anything else is an API error.
    let answer = match serde_json::from_slice::<ExecAnswer>(&body) {
        Ok(answer) if status.is_success() || status.as_u16() == 422 => answer,
        _ => {
            decode::<serde_json::Value>(url, status, &body)?;
            anyhow::bail!("the server answered {status} without an execution result");
        }
    };
    print_outcome(&answer)
}

/// Prints the guest's output like `kiln exec`; the exit code mirrors the guest's.
fn print_outcome(answer: &ExecAnswer) -> anyhow::Result<ExitCode> {
    let stdout = match &answer.output_base64 {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .context("decoding output_base64")?,
        None => answer.output.clone().into_bytes(),
    };
    std::io::stdout().write_all(&stdout)?;
    if let Some(result) = &answer.result {
        println!("{result}");
    }
    std::io::stderr().write_all(answer.stderr.as_bytes())?;
    let Some(error) = &answer.error else {
        return Ok(ExitCode::SUCCESS);
    };
    if let Some(code) = answer.exit_code.filter(|c| *c != 0) {
        return Ok(ExitCode::from(
            u8::try_from(code.clamp(1, 255)).unwrap_or(1),
        ));
    }
    eprintln!(
        "error: {error} ({})",
        answer.error_code.as_deref().unwrap_or("EXECUTION_FAILED")
    );
    Ok(ExitCode::FAILURE)
}
