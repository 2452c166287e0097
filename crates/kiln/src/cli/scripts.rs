//! `kiln scripts` (list the scripts on a server as a table) and `kiln rollback NAME VERSION`
//! (make an earlier version active), both through the management API.

use clap::Args;
use serde::{Deserialize, Serialize};

use super::RemoteArgs;
use super::remote::ApiClient;
use super::table::render_table;

/// Options of `kiln rollback`.
#[derive(Clone, Debug, Args)]
pub struct RollbackArgs {
    /// The script.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The version to make active.
    #[arg(value_name = "VERSION", value_parser = clap::value_parser!(i64).range(1..))]
    pub version: i64,
}

/// The rollback request body.
#[derive(Serialize)]
struct RollbackRequest {
    version: i64,
}

/// The server's answer to a rollback.
#[derive(Deserialize)]
struct RolledBack {
    script: String,
    active_version: i64,
}

/// The server's script list.
#[derive(Deserialize)]
struct ScriptList {
    scripts: Vec<ScriptSummary>,
}

/// One row of the script list.
#[derive(Deserialize)]
struct ScriptSummary {
    name: String,
    active_version: Option<i64>,
    latest_version: Option<i64>,
    created_at: String,
    updated_at: String,
}

/// Makes `args.version` the active version of `args.name`.
pub(super) async fn rollback(remote: &RemoteArgs, args: RollbackArgs) -> anyhow::Result<()> {
    let client = ApiClient::new(remote)?;
    let body = RollbackRequest {
        version: args.version,
    };
    let done: RolledBack = client
        .post(&["scripts", &args.name, "rollback"], &body)
        .await?;
    println!("{} now serves v{}", done.script, done.active_version);
    Ok(())
}

/// Prints the server's scripts as a table.
pub(super) async fn list(remote: &RemoteArgs) -> anyhow::Result<()> {
    let client = ApiClient::new(remote)?;
    let list: ScriptList = client.get(&["scripts"], &[]).await?;
    if list.scripts.is_empty() {
        println!("no scripts deployed");
        return Ok(());
    }
    print!("{}", script_table(&list.scripts));
    Ok(())
}

/// The script list as aligned columns; versions that do not exist show as `-`.
fn script_table(scripts: &[ScriptSummary]) -> String {
    let version = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let rows: Vec<[String; 5]> = scripts
        .iter()
        .map(|s| {
            [
                s.name.clone(),
                version(s.active_version),
                version(s.latest_version),
                s.created_at.clone(),
                s.updated_at.clone(),
            ]
        })
        .collect();
    render_table(&["NAME", "ACTIVE", "LATEST", "CREATED", "UPDATED"], &rows)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn script_list_renders_as_a_table() {
        let list: ScriptList = serde_json::from_str(
            r#"{"scripts":[
                {"name":"hello","active_version":3,"latest_version":4,
                 "created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-03T00:00:00Z"},
                {"name":"a-much-longer-name","active_version":null,"latest_version":1,
                 "created_at":"2026-02-01T00:00:00Z","updated_at":"2026-02-01T00:00:00Z"}]}"#,
        )
        .unwrap();
        assert_eq!(
            script_table(&list.scripts),
            "NAME                ACTIVE  LATEST  CREATED               UPDATED\n\
             hello               3       4       2026-01-02T03:04:05Z  2026-01-03T00:00:00Z\n\
             a-much-longer-name  -       1       2026-02-01T00:00:00Z  2026-02-01T00:00:00Z\n"
        );
    }
}
