//! `kiln keys …`: API keys through the management API (`/engine/api/keys`). `create` prints the
//! new key once — the server keeps only a keyed hash, so it can never be shown again.

use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

use super::RemoteArgs;
use super::remote::ApiClient;
use super::table::{or_dash, render_table};
use super::users::{UserRef, parse_user_ref, resolve_user};

/// Scopes a key may carry.
const SCOPES: [&str; 3] = ["execute", "invoke", "manage"];

/// `kiln keys …` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key and print it (shown only this once).
    ///
    /// Without `--scope` the key gets `invoke` and `execute` (calling scripts); the CLI and the
    /// management API need `manage`. Without `--tier` the key is on `free`; non-admins may use
    /// only the tiers an admin allowed them (`kiln users allow-tiers`).
    Create(CreateKeyArgs),
    /// List API keys: your own, or everyone's with `--all` (admins).
    List(ListKeysArgs),
    /// Revoke an API key; it stops working on its next request.
    Revoke(KeyIdArg),
    /// Move an API key to another tier (admins).
    SetTier(SetTierArgs),
}

/// Options of `kiln keys create`.
#[derive(Clone, Debug, Args)]
pub struct CreateKeyArgs {
    /// A label for the key, e.g. where it is used (1 to 100 characters).
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// The tier whose limits apply to the key (see `kiln tiers`). Default: `free`.
    #[arg(long, value_name = "TIER")]
    pub tier: Option<String>,
    /// A scope (repeatable): `invoke` and `execute` call scripts, `manage` uses the management
    /// API. Default: `invoke` and `execute`.
    #[arg(long = "scope", value_name = "SCOPE", value_parser = SCOPES)]
    pub scopes: Vec<String>,
    /// Lifetime, e.g. `30d`, `12h`, `90m` or `3600s` (units: s, m, h, d, w). Default: no expiry.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub expires_in: Option<u64>,
    /// Create the key for this user (id or email) instead of yourself (admins).
    #[arg(long, value_name = "ID_OR_EMAIL", value_parser = parse_user_ref)]
    pub user: Option<UserRef>,
}

/// Options of `kiln keys list`.
#[derive(Clone, Debug, Args)]
pub struct ListKeysArgs {
    /// Everyone's keys (admins).
    #[arg(long, conflicts_with = "user")]
    pub all: bool,
    /// Only this user's keys (id or email; admins for other users).
    #[arg(long, value_name = "ID_OR_EMAIL", value_parser = parse_user_ref)]
    pub user: Option<UserRef>,
}

/// An argument naming a key.
#[derive(Clone, Debug, Args)]
pub struct KeyIdArg {
    /// The key's id (see `kiln keys list`).
    #[arg(value_name = "ID")]
    pub id: i64,
}

/// Arguments of `kiln keys set-tier`.
#[derive(Clone, Debug, Args)]
pub struct SetTierArgs {
    /// The key's id (see `kiln keys list`).
    #[arg(value_name = "ID")]
    pub id: i64,
    /// The new tier (see `kiln tiers`).
    #[arg(value_name = "TIER")]
    pub tier: String,
}

/// A key as the API shows it.
#[derive(Debug, Deserialize)]
struct Key {
    id: i64,
    prefix: String,
    name: String,
    user_id: i64,
    tier: String,
    scopes: Vec<String>,
    status: String,
    created_at: String,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    last_used_at: Option<String>,
    /// The key itself: only in the answer to a creation.
    #[serde(default)]
    key: Option<String>,
}

/// `GET /engine/api/keys`.
#[derive(Deserialize)]
struct KeyList {
    keys: Vec<Key>,
}

/// Body of `POST /engine/api/keys`.
#[derive(Serialize)]
struct CreateKeyRequest<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tier: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scopes: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<i64>,
}

/// Body of `PATCH /engine/api/keys/{id}`.
#[derive(Serialize)]
struct SetTierRequest<'a> {
    tier: &'a str,
}

/// Runs a `kiln keys` subcommand.
pub(super) async fn run(remote: &RemoteArgs, command: KeysCommand) -> anyhow::Result<()> {
    let client = ApiClient::new(remote)?;
    match command {
        KeysCommand::Create(args) => create(&client, args).await?,
        KeysCommand::List(args) => {
            let mut query = Vec::new();
            if args.all {
                query.push(("all", "true".to_owned()));
            }
            if let Some(user) = &args.user {
                query.push(("user_id", resolve_user(&client, user).await?.to_string()));
            }
            let list: KeyList = client.get(&["keys"], &query).await?;
            if list.keys.is_empty() {
                println!("no API keys");
            } else {
                print!("{}", key_table(&list.keys));
            }
        }
        KeysCommand::Revoke(args) => {
            let key: Key = client.delete(&["keys", &args.id.to_string()]).await?;
            println!(
                "revoked API key {} ({}, {:?}); it stops working on its next request",
                key.id, key.prefix, key.name
            );
        }
        KeysCommand::SetTier(args) => {
            let body = SetTierRequest { tier: &args.tier };
            let key: Key = client.patch(&["keys", &args.id.to_string()], &body).await?;
            println!(
                "API key {} ({}, {:?}) is now on the {} tier",
                key.id, key.prefix, key.name, key.tier
            );
        }
    }
    Ok(())
}

/// `kiln keys create`: creates the key and prints it once.
async fn create(client: &ApiClient, args: CreateKeyArgs) -> anyhow::Result<()> {
    let user_id = match &args.user {
        Some(user) => Some(resolve_user(client, user).await?),
        None => None,
    };
    let body = CreateKeyRequest {
        name: &args.name,
        tier: args.tier.as_deref(),
        scopes: (!args.scopes.is_empty()).then_some(args.scopes.as_slice()),
        expires_in_secs: args.expires_in,
        user_id,
    };
    let key: Key = client.post(&["keys"], &body).await?;
    print!("{}", created_message(&key)?);
    Ok(())
}

/// What `kiln keys create` prints: the key's details, then the key alone on its line.
fn created_message(key: &Key) -> anyhow::Result<String> {
    let secret = key.key.as_deref().ok_or_else(|| {
        anyhow::anyhow!("the server created key {} but did not return it", key.id)
    })?;
    let expires = key
        .expires_at
        .as_deref()
        .map_or_else(|| "never".to_owned(), str::to_owned);
    Ok(format!(
        "Created API key {id} {name:?} for user {user}\n  \
         prefix:  {prefix}\n  \
         tier:    {tier}\n  \
         scopes:  {scopes}\n  \
         expires: {expires}\n\n\
         The key is shown only this once; store it now:\n\n    \
         {secret}\n\n",
        id = key.id,
        name = key.name,
        user = key.user_id,
        prefix = key.prefix,
        tier = key.tier,
        scopes = key.scopes.join(", "),
    ))
}

/// The key list as a table.
fn key_table(keys: &[Key]) -> String {
    let rows: Vec<[String; 10]> = keys
        .iter()
        .map(|k| {
            [
                k.id.to_string(),
                k.prefix.clone(),
                k.name.clone(),
                k.user_id.to_string(),
                k.tier.clone(),
                k.scopes.join(","),
                k.status.clone(),
                k.created_at.clone(),
                or_dash(k.expires_at.as_deref()),
                or_dash(k.last_used_at.as_deref()),
            ]
        })
        .collect();
    render_table(
        &[
            "ID",
            "PREFIX",
            "NAME",
            "USER",
            "TIER",
            "SCOPES",
            "STATUS",
            "CREATED",
            "EXPIRES",
            "LAST USED",
        ],
        &rows,
    )
}

/// Parses a lifetime like `30d`, `12h`, `90m`, `3600s` or `2w` into seconds.
fn parse_duration(value: &str) -> Result<u64, String> {
    let value = value.trim();
    let usage = "use a number and a unit, e.g. 30d, 12h, 90m or 3600s (units: s, m, h, d, w)";
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{value:?} has no unit; {usage}"))?;
    let (number, unit) = value.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{value:?} is not a duration; {usage}"))?;
    let unit_secs: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("unknown unit {unit:?} in {value:?}; {usage}")),
    };
    if number == 0 {
        return Err("the lifetime must be positive".to_owned());
    }
    number
        .checked_mul(unit_secs)
        .ok_or_else(|| format!("{value:?} is too long"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("3600s"), Ok(3600));
        assert_eq!(parse_duration("90m"), Ok(5400));
        assert_eq!(parse_duration("12h"), Ok(43_200));
        assert_eq!(parse_duration("30d"), Ok(2_592_000));
        assert_eq!(parse_duration("2w"), Ok(1_209_600));
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("5y").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
    }

    fn key(json: &str) -> Key {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn creation_prints_the_key_once_on_its_own_line() {
        let created = key(
            r#"{"id":4,"prefix":"kiln_3fa9c1d2","name":"ci","user_id":1,"tier":"free",
                "scopes":["execute","invoke"],"status":"active","created_at":"2026-01-02T03:04:05Z",
                "expires_at":null,"revoked_at":null,"last_used_at":null,"key":"kiln_3fa9c1d2SECRET"}"#,
        );
        let text = created_message(&created).unwrap();
        assert_eq!(text.matches("kiln_3fa9c1d2SECRET").count(), 1, "{text}");
        assert!(
            text.lines().any(|l| l.trim() == "kiln_3fa9c1d2SECRET"),
            "{text}"
        );
        assert!(text.contains("expires: never"), "{text}");
        assert!(text.contains("scopes:  execute, invoke"), "{text}");
        let mut listed = created;
        listed.key = None;
        assert!(created_message(&listed).is_err());
    }

    #[test]
    fn keys_render_as_a_table() {
        let list: KeyList = serde_json::from_str(
            r#"{"keys":[{"id":4,"prefix":"kiln_3fa9c1d2","name":"ci","user_id":1,"tier":"free",
                "scopes":["execute","invoke"],"status":"revoked","created_at":"2026-01-02T03:04:05Z",
                "expires_at":null,"revoked_at":"2026-01-03T00:00:00Z","last_used_at":null}]}"#,
        )
        .unwrap();
        assert_eq!(
            key_table(&list.keys),
            "ID  PREFIX         NAME  USER  TIER  SCOPES          STATUS   CREATED               EXPIRES  LAST USED\n\
             4   kiln_3fa9c1d2  ci    1     free  execute,invoke  revoked  2026-01-02T03:04:05Z  -        -\n"
        );
    }
}
