//! `kiln users create-admin EMAIL`: creates the first admin account directly in the configured
//! database, so an operator can sign in without the bootstrap token — before the server ever
//! ran, or while it runs (SQLite lets a second process write). An existing account with the
//! email is granted `admin`, enabled and given the new password instead. Every change is
//! written to the audit log.

use std::env::VarError;
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use kiln_store::{
    ADMIN_ROLE, IdentityStore, MeteringStore, NewAuditEvent, NewUser, SqliteStore, StoreError,
    UserRecord,
};
use serde_json::json;

use super::ConfigFileArg;
use crate::auth::password;
use crate::config::{CliOverrides, Config};

/// Environment variable the password is read from (instead of the terminal).
pub const PASSWORD_ENV: &str = "KILN_ADMIN_PASSWORD";
/// Tiers a new admin may create API keys on.
const ADMIN_TIERS: [&str; 3] = ["free", "basic", "pro"];
/// The audit log's actor for changes made by this command.
const ACTOR: &str = "kiln users create-admin (local)";

/// Options of `kiln users create-admin`.
#[derive(Clone, Debug, Args)]
pub struct CreateAdminArgs {
    /// Login email of the admin account.
    #[arg(value_name = "EMAIL")]
    pub email: String,
    /// Display name, for a new account.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Directory holding Kiln's state, as given to `kiln serve` (config `data_dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The configuration file.
    #[command(flatten)]
    pub file: ConfigFileArg,
}

/// What the command did.
#[derive(Debug)]
enum Outcome {
    /// A new account.
    Created(UserRecord),
    /// An existing account got the admin role (if it lacked it), was enabled (if disabled) and
    /// has the new password.
    Updated {
        user: UserRecord,
        was_admin: bool,
        was_disabled: bool,
    },
}

/// Creates (or promotes) the admin account and says what it did.
pub(super) async fn run(args: CreateAdminArgs) -> anyhow::Result<()> {
    let email = crate::api::users::check_email(&args.email)
        .map_err(|err| anyhow::anyhow!("{}", err.message))?;
    let overrides = CliOverrides {
        config: args.file.config.clone(),
        data_dir: args.data_dir.clone(),
        ..CliOverrides::default()
    };
    let config = Config::load(&overrides)?;
    let password = tokio::task::spawn_blocking(read_password)
        .await
        .context("reading the password")??;
    let hash = password::hash(password)
        .await
        .context("hashing the password")?;
    let db_path = config.database_path();
    let store = SqliteStore::open(&db_path)
        .await
        .with_context(|| format!("opening the database {}", db_path.display()))?;
    let outcome = apply(&store, &email, args.name.as_deref(), &hash).await;
    store.close().await;
    let outcome =
        outcome.with_context(|| format!("updating the database {}", db_path.display()))?;
    println!("{}", describe(&outcome));
    println!(
        "Sign in at /auth/login (then create an API key with the `manage` scope for the CLI); \
         the bootstrap admin token no longer works."
    );
    Ok(())
}

/// Reads the password from [`PASSWORD_ENV`], or asks for it twice on the terminal.
fn read_password() -> anyhow::Result<String> {
    match std::env::var(PASSWORD_ENV) {
        Ok(password) if !password.is_empty() => {
            check_policy(&password)?;
            return Ok(password);
        }
        Err(VarError::NotUnicode(_)) => anyhow::bail!("{PASSWORD_ENV} is not valid UTF-8"),
        Ok(_) | Err(VarError::NotPresent) => {}
    }
    // Scripts and services (stdin not a terminal) must not hang on a prompt nobody sees.
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "no password: set {PASSWORD_ENV}, or run this command on a terminal to be asked for one"
        );
    }
    let first = prompt("Password for the admin account: ")?;
    check_policy(&first)?;
    let second = prompt("Repeat the password: ")?;
    if first != second {
        anyhow::bail!("the two passwords differ; nothing was changed");
    }
    Ok(first)
}

/// Asks for a password on the terminal without echo.
fn prompt(text: &str) -> anyhow::Result<String> {
    rpassword::prompt_password(text).map_err(|err| {
        anyhow::anyhow!(
            "cannot ask for the password on the terminal ({err}); set {PASSWORD_ENV} instead"
        )
    })
}

/// The password policy, as a message that states it.
fn check_policy(password: &str) -> anyhow::Result<()> {
    password::check_policy(password).map_err(|err| {
        anyhow::anyhow!(
            "the password is not acceptable: {err} (this one has {}); nothing was changed",
            password.chars().count()
        )
    })
}

/// Creates the account, or promotes the existing one, and audits what changed.
async fn apply<S: IdentityStore + MeteringStore>(
    store: &S,
    email: &str,
    name: Option<&str>,
    hash: &str,
) -> Result<Outcome, StoreError> {
    let outcome = match store.get_user_by_email(email).await? {
        None => {
            let user = store
                .create_user(&NewUser {
                    email: email.to_owned(),
                    display_name: name.map(str::to_owned),
                    password_hash: Some(hash.to_owned()),
                    roles: vec![ADMIN_ROLE.to_owned()],
                    allowed_tiers: ADMIN_TIERS.map(str::to_owned).to_vec(),
                })
                .await?;
            audit(store, "user_created", email, json!({ "roles": user.roles })).await;
            Outcome::Created(user)
        }
        Some(existing) => {
            store.set_password_hash(existing.id, Some(hash)).await?;
            audit(store, "password_changed", email, json!({})).await;
            let was_admin = existing.has_role(ADMIN_ROLE);
            let mut user = existing;
            if !was_admin {
                user = store.grant_role(user.id, ADMIN_ROLE).await?;
                audit(store, "role_granted", email, json!({ "role": ADMIN_ROLE })).await;
            }
            let was_disabled = user.disabled;
            if was_disabled {
                user = store.set_user_disabled(user.id, false).await?;
                audit(store, "user_enabled", email, json!({})).await;
            }
            Outcome::Updated {
                user,
                was_admin,
                was_disabled,
            }
        }
    };
    Ok(outcome)
}

/// Records one change in the audit log; a failure there is reported but does not undo it.
async fn audit<S: MeteringStore>(store: &S, action: &str, email: &str, detail: serde_json::Value) {
    let event = NewAuditEvent {
        time: crate::auth::now_ms(),
        actor_user_id: None,
        actor: ACTOR.to_owned(),
        action: action.to_owned(),
        target: Some(email.to_owned()),
        ip: None,
        detail,
    };
    if let Err(err) = store.append_audit(&event).await {
        eprintln!("warning: cannot write the audit event {action}: {err}");
    }
}

/// One sentence saying what happened.
fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Created(user) => format!(
            "Created the admin account {} (user {}) with key tiers {}.",
            user.email,
            user.id,
            user.allowed_tiers.join(", ")
        ),
        Outcome::Updated {
            user,
            was_admin,
            was_disabled,
        } => {
            let mut changes = vec!["set its password"];
            if !was_admin {
                changes.insert(0, "granted it the admin role");
            }
            if *was_disabled {
                changes.push("enabled it");
            }
            format!(
                "{} (user {}) already existed: {}.",
                user.email,
                user.id,
                changes.join(", ")
            )
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn user(roles: &[&str]) -> UserRecord {
        UserRecord {
            id: 3,
            email: "root@example.com".into(),
            display_name: None,
            password_hash: None,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            allowed_tiers: vec!["basic".into(), "free".into(), "pro".into()],
            disabled: false,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn outcomes_say_what_changed() {
        assert_eq!(
            describe(&Outcome::Created(user(&["admin"]))),
            "Created the admin account root@example.com (user 3) with key tiers basic, free, pro."
        );
        assert_eq!(
            describe(&Outcome::Updated {
                user: user(&["admin", "user"]),
                was_admin: false,
                was_disabled: true,
            }),
            "root@example.com (user 3) already existed: granted it the admin role, set its \
             password, enabled it."
        );
        assert_eq!(
            describe(&Outcome::Updated {
                user: user(&["admin"]),
                was_admin: true,
                was_disabled: false,
            }),
            "root@example.com (user 3) already existed: set its password."
        );
    }

    #[test]
    fn short_passwords_are_refused_with_the_policy() {
        let err = check_policy("short").unwrap_err().to_string();
        assert!(
            err.contains("between 10 and 1024 characters") && err.contains("has 5"),
            "{err}"
        );
        assert!(check_policy("long enough password").is_ok());
    }
}
