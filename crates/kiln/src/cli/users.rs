//! `kiln users …`: account management through the management API (`/engine/api/users`), plus
//! the local `create-admin` (see [`super::create_admin`]). Users are named by id or by email;
//! an email is resolved to an id through the user list.

use std::fmt;
use std::str::FromStr;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

use super::RemoteArgs;
use super::create_admin::CreateAdminArgs;
use super::remote::ApiClient;
use super::table::{or_dash, render_table};

/// `kiln users …` subcommands.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create the first admin account (or make an existing account admin) in the local database.
    ///
    /// Works on the database directly, before or while the server runs, so it needs neither a
    /// token nor a running server: it reads the same configuration as `kiln serve` (so
    /// `--config`, `--data-dir` and `KILN_*` variables apply). The password comes from
    /// `KILN_ADMIN_PASSWORD`, or is asked twice on the terminal without echo. A new account
    /// gets the `admin` role and the `free`, `basic` and `pro` tiers; an existing account with
    /// this email is granted `admin`, enabled, and given the new password.
    ///
    /// Once an admin account exists, the bootstrap admin token stops working: sign in at
    /// /auth/login, or create an API key with the `manage` scope for the CLI.
    CreateAdmin(CreateAdminArgs),
    /// List the accounts (admins).
    List,
    /// Create an account (admins).
    Create(CreateUserArgs),
    /// Give a user a role (admins).
    Grant(RoleArgs),
    /// Take a role away from a user (admins); the last active admin keeps theirs.
    Revoke(RoleArgs),
    /// Disable an account (admins): its sessions end and its API keys stop working.
    Disable(UserArg),
    /// Enable a disabled account again (admins).
    Enable(UserArg),
    /// Set the tiers a user may create API keys on, replacing the current ones (admins).
    AllowTiers(AllowTiersArgs),
}

/// A user named on the command line: a numeric id or an email address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserRef {
    /// The user's id.
    Id(i64),
    /// The user's login email.
    Email(String),
}

impl FromStr for UserRef {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        if let Ok(id) = value.parse::<i64>() {
            return Ok(UserRef::Id(id));
        }
        if value.contains('@') {
            Ok(UserRef::Email(value.to_lowercase()))
        } else {
            Err(format!(
                "{value:?} is neither a user id nor an email address"
            ))
        }
    }
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserRef::Id(id) => write!(f, "user {id}"),
            UserRef::Email(email) => f.write_str(email),
        }
    }
}

/// Parses a [`UserRef`] argument.
pub(super) fn parse_user_ref(value: &str) -> Result<UserRef, String> {
    value.parse()
}

/// Options of `kiln users create`.
#[derive(Clone, Debug, Args)]
pub struct CreateUserArgs {
    /// Login email of the new account.
    #[arg(value_name = "EMAIL")]
    pub email: String,
    /// Role to give (repeatable): `admin`, `editor`, `user` or a custom name. Default: `user`.
    #[arg(long = "role", value_name = "ROLE")]
    pub roles: Vec<String>,
    /// Read the password from the environment variable VAR. Without it the account has no
    /// password and can sign in only through OIDC until one is set.
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// Display name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// Arguments naming a user and a role.
#[derive(Clone, Debug, Args)]
pub struct RoleArgs {
    /// The user: id or email.
    #[arg(value_name = "ID_OR_EMAIL", value_parser = parse_user_ref)]
    pub user: UserRef,
    /// The role: `admin`, `editor`, `user` or a custom name.
    #[arg(value_name = "ROLE")]
    pub role: String,
}

/// An argument naming a user.
#[derive(Clone, Debug, Args)]
pub struct UserArg {
    /// The user: id or email.
    #[arg(value_name = "ID_OR_EMAIL", value_parser = parse_user_ref)]
    pub user: UserRef,
}

/// Arguments of `kiln users allow-tiers`.
#[derive(Clone, Debug, Args)]
pub struct AllowTiersArgs {
    /// The user: id or email.
    #[arg(value_name = "ID_OR_EMAIL", value_parser = parse_user_ref)]
    pub user: UserRef,
    /// The tiers the user may create API keys on (see `kiln tiers`).
    #[arg(value_name = "TIER", required = true, num_args = 1..)]
    pub tiers: Vec<String>,
}

/// A user as the API shows it.
#[derive(Debug, Deserialize)]
pub(super) struct User {
    pub(super) id: i64,
    pub(super) email: String,
    #[serde(default)]
    name: Option<String>,
    roles: Vec<String>,
    allowed_tiers: Vec<String>,
    disabled: bool,
    #[serde(default)]
    has_password: bool,
    created_at: String,
}

/// `GET /engine/api/users`.
#[derive(Deserialize)]
struct UserList {
    users: Vec<User>,
}

/// Body of `POST /engine/api/users`.
#[derive(Serialize)]
struct CreateUserRequest<'a> {
    email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    roles: &'a [String],
}

/// Bodies of `PATCH /engine/api/users/{id}`.
#[derive(Serialize)]
struct DisabledRequest {
    disabled: bool,
}

#[derive(Serialize)]
struct AllowedTiersRequest<'a> {
    allowed_tiers: &'a [String],
}

/// Runs a `kiln users` subcommand: `create-admin` locally, the others through the API.
pub(super) async fn run(remote: &RemoteArgs, command: UsersCommand) -> anyhow::Result<()> {
    let client = ApiClient::new(remote)?;
    match command {
        UsersCommand::CreateAdmin(args) => super::create_admin::run(args).await?,
        UsersCommand::List => {
            let list: UserList = client.get(&["users"], &[]).await?;
            print!("{}", user_table(&list.users));
        }
        UsersCommand::Create(args) => create(&client, args).await?,
        UsersCommand::Grant(args) => {
            let id = resolve_user(&client, &args.user).await?;
            let user: User = client
                .put(&["users", &id.to_string(), "roles", &args.role])
                .await?;
            println!(
                "granted {} to {} (user {}); roles now: {}",
                args.role,
                user.email,
                user.id,
                list_or_none(&user.roles)
            );
        }
        UsersCommand::Revoke(args) => {
            let id = resolve_user(&client, &args.user).await?;
            let user: User = client
                .delete(&["users", &id.to_string(), "roles", &args.role])
                .await?;
            println!(
                "revoked {} from {} (user {}); roles now: {}",
                args.role,
                user.email,
                user.id,
                list_or_none(&user.roles)
            );
        }
        UsersCommand::Disable(args) => {
            let user = set_disabled(&client, &args.user, true).await?;
            println!(
                "disabled {} (user {}): their sessions ended and their API keys stop working",
                user.email, user.id
            );
        }
        UsersCommand::Enable(args) => {
            let user = set_disabled(&client, &args.user, false).await?;
            println!("enabled {} (user {})", user.email, user.id);
        }
        UsersCommand::AllowTiers(args) => {
            let id = resolve_user(&client, &args.user).await?;
            let body = AllowedTiersRequest {
                allowed_tiers: &args.tiers,
            };
            let user: User = client.patch(&["users", &id.to_string()], &body).await?;
            println!(
                "{} (user {}) may create API keys on: {}",
                user.email,
                user.id,
                list_or_none(&user.allowed_tiers)
            );
        }
    }
    Ok(())
}

/// `kiln users create`.
async fn create(client: &ApiClient, args: CreateUserArgs) -> anyhow::Result<()> {
    let password = match &args.password_env {
        Some(var) => Some(
            std::env::var(var)
                .ok()
                .filter(|p| !p.is_empty())
                .with_context(|| {
                    format!(
                        "--password-env {var}: the variable is not set (or empty, or not UTF-8)"
                    )
                })?,
        ),
        None => None,
    };
    let has_password = password.is_some();
    let body = CreateUserRequest {
        email: &args.email,
        password,
        name: args.name.as_deref(),
        roles: &args.roles,
    };
    let user: User = client.post(&["users"], &body).await?;
    println!(
        "created user {} {} (roles: {}; key tiers: {})",
        user.id,
        user.email,
        list_or_none(&user.roles),
        list_or_none(&user.allowed_tiers)
    );
    if !has_password {
        println!("the account has no password: it can sign in only through OIDC until one is set");
    }
    Ok(())
}

/// Disables or enables a user.
async fn set_disabled(client: &ApiClient, user: &UserRef, disabled: bool) -> anyhow::Result<User> {
    let id = resolve_user(client, user).await?;
    let body = DisabledRequest { disabled };
    Ok(client.patch(&["users", &id.to_string()], &body).await?)
}

/// The id of `user`: as given, or looked up by email in the user list (which needs the admin
/// role).
pub(super) async fn resolve_user(client: &ApiClient, user: &UserRef) -> anyhow::Result<i64> {
    match user {
        UserRef::Id(id) => Ok(*id),
        UserRef::Email(email) => {
            let list: UserList = client
                .get(&["users"], &[])
                .await
                .with_context(|| format!("looking up the user {email}"))?;
            find_by_email(&list.users, email).ok_or_else(|| {
                anyhow::anyhow!("there is no user with the email {email} (see `kiln users list`)")
            })
        }
    }
}

/// The id of the user whose email is `email` (case-insensitively).
fn find_by_email(users: &[User], email: &str) -> Option<i64> {
    users
        .iter()
        .find(|u| u.email.eq_ignore_ascii_case(email.trim()))
        .map(|u| u.id)
}

/// `a, b` or `(none)`.
fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.join(", ")
    }
}

/// The user list as a table.
fn user_table(users: &[User]) -> String {
    let rows: Vec<[String; 8]> = users
        .iter()
        .map(|u| {
            [
                u.id.to_string(),
                u.email.clone(),
                or_dash(u.name.as_deref()),
                u.roles.join(","),
                u.allowed_tiers.join(","),
                if u.disabled { "disabled" } else { "active" }.to_owned(),
                if u.has_password { "yes" } else { "no" }.to_owned(),
                u.created_at.clone(),
            ]
        })
        .collect();
    render_table(
        &[
            "ID", "EMAIL", "NAME", "ROLES", "TIERS", "STATUS", "PASSWORD", "CREATED",
        ],
        &rows,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn users() -> Vec<User> {
        let list: UserList = serde_json::from_str(
            r#"{"users":[
              {"id":1,"email":"root@example.com","name":"Root","roles":["admin"],
               "allowed_tiers":["basic","free","pro"],"disabled":false,"has_password":true,
               "created_at":"2026-01-02T03:04:05Z"},
              {"id":7,"email":"bob@example.com","name":null,"roles":["editor","user"],
               "allowed_tiers":["free"],"disabled":true,"has_password":false,
               "created_at":"2026-01-03T00:00:00Z"}]}"#,
        )
        .unwrap();
        list.users
    }

    #[test]
    fn user_refs_are_ids_or_emails() {
        assert_eq!("42".parse::<UserRef>().unwrap(), UserRef::Id(42));
        assert_eq!(
            " Bob@Example.com ".parse::<UserRef>().unwrap(),
            UserRef::Email("bob@example.com".into())
        );
        assert!("bob".parse::<UserRef>().is_err());
        assert_eq!(find_by_email(&users(), "BOB@example.com"), Some(7));
        assert_eq!(find_by_email(&users(), "nobody@example.com"), None);
    }

    #[test]
    fn users_render_as_a_table() {
        assert_eq!(
            user_table(&users()),
            "ID  EMAIL             NAME  ROLES        TIERS           STATUS    PASSWORD  CREATED\n\
             1   root@example.com  Root  admin        basic,free,pro  active    yes       2026-01-02T03:04:05Z\n\
             7   bob@example.com   -     editor,user  free            disabled  no        2026-01-03T00:00:00Z\n"
        );
    }
}
