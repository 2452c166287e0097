//! The behavioural test suite every [`Store`] backend must pass ("both backends pass the same
//! storage test suite", DESIGN §6). Each check is an `async fn` that sees only the trait, expects
//! a fresh empty store, returns store errors with `?` and panics on a failed expectation.
//!
//! A backend runs the whole suite with [`conformance_tests!`](crate::conformance_tests), giving it
//! an async constructor of fresh stores; compiled for this crate's tests and with the
//! `conformance` feature.
//!
//! The checks live in one file per area and are all re-exported here, so that every check is
//! `kiln_store::conformance::<name>`:
//! - `scripts`: scripts, versions, bundle files, logs, settings;
//! - `users`: users, roles, the last-admin rule, allowed tiers, OIDC identities;
//! - `sessions`: login sessions and script ownership;
//! - `keys`: tiers and API keys;
//! - `metering`: usage events and the audit log;
//! - `kv`: scripts' key/value storage;
//! - `modules`: stored WebAssembly modules;
//! - `secrets`: scripts' encrypted secrets.

mod keys;
mod kv;
mod metering;
mod modules;
mod scripts;
mod secrets;
mod sessions;
mod users;

use serde_json::json;

pub use keys::*;
pub use kv::*;
pub use metering::*;
pub use modules::*;
pub use scripts::*;
pub use secrets::*;
pub use sessions::*;
pub use users::*;

use crate::{BundleFile, NewUser, SessionRecord, Store, StoreError, UserRecord};

/// Expands to one `#[tokio::test]` per conformance check. `$fresh` is a path to an
/// `async fn() -> Result<(Arc<dyn Store>, G), StoreError>` returning a new empty store and a guard
/// (e.g. a temp dir) kept alive for the test's duration.
#[macro_export]
macro_rules! conformance_tests {
    ($fresh:path) => {
        $crate::conformance_tests!(@tests $fresh;
            // scripts
            ping_succeeds,
            versions_are_numbered_and_activated,
            rollback_keeps_version_numbers,
            missing_objects_are_not_found,
            failed_create_version_leaves_nothing,
            files_round_trip,
            active_versions_restore_every_script,
            delete_script_cascades,
            log_filters,
            log_limit_is_clamped,
            prune_logs_keeps_newest_per_script,
            settings_upsert,
            // users
            users_create_and_look_up,
            failed_create_user_leaves_nothing,
            password_hash_is_replaced,
            roles_are_granted_and_revoked,
            last_enabled_admin_is_protected,
            disabling_a_user_deletes_their_sessions,
            allowed_tiers_are_replaced,
            oidc_identities_link_to_one_user,
            // sessions
            sessions_lifecycle,
            prune_sessions_by_expiry_and_idleness,
            script_owners_are_recorded,
            // keys
            tiers_are_seeded,
            tiers_upsert_and_delete,
            tier_in_use_cannot_be_deleted,
            api_keys_are_created_and_found,
            api_key_revocation_keeps_first_time,
            api_key_tier_changes,
            touching_api_keys_never_goes_backwards,
            // metering
            usage_buckets_hourly_and_daily,
            usage_sums_wasm_execution_details,
            usage_filters,
            count_key_usage_excludes_rate_limited,
            large_usage_batches_are_stored_whole,
            prune_usage_deletes_old_events,
            audit_events_round_trip_newest_first,
            audit_filters_and_paging,
            audit_limit_is_clamped,
            prune_audit_deletes_old_events,
            // kv
            kv_namespaces_are_isolated,
            kv_entries_expire,
            kv_list_pages_by_prefix,
            kv_quotas_are_enforced,
            kv_increment_adds_to_numbers,
            kv_goes_with_its_script,
            // modules
            module_contents_are_deduplicated_and_collected,
            modules_are_isolated_between_owners,
            replacing_a_module_keeps_its_identity,
            modules_are_listed_in_pages,
            module_executions_are_counted,
            module_names_are_checked,
            // secrets
            secrets_round_trip_per_script,
            secrets_are_capped_per_script,
            secrets_go_with_their_script,
        );

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn kv_concurrent_increments_are_atomic() -> Result<(), $crate::StoreError> {
            let (store, _guard) = $fresh().await?;
            $crate::conformance::kv_concurrent_increments_are_atomic(store).await
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_create_version_allocates_distinct_numbers()
        -> Result<(), $crate::StoreError> {
            let (store, _guard) = $fresh().await?;
            $crate::conformance::concurrent_create_version_allocates_distinct_numbers(store).await
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_admin_removals_leave_one_admin() -> Result<(), $crate::StoreError> {
            let (store, _guard) = $fresh().await?;
            $crate::conformance::concurrent_admin_removals_leave_one_admin(store).await
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_module_puts_share_one_content() -> Result<(), $crate::StoreError> {
            let (store, _guard) = $fresh().await?;
            $crate::conformance::concurrent_module_puts_share_one_content(store).await
        }
    };
    (@tests $fresh:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() -> Result<(), $crate::StoreError> {
                let (store, _guard) = $fresh().await?;
                $crate::conformance::$check(&*store).await
            }
        )*
    };
}

/// A file of a test bundle.
fn file(path: &str, content: impl Into<Vec<u8>>) -> BundleFile {
    BundleFile::new(path, content)
}

/// Deploys a one-file bundle whose content names the script and a `tag`.
async fn deploy(
    store: &dyn Store,
    script: &str,
    tag: &str,
    activate: bool,
) -> Result<crate::VersionRecord, StoreError> {
    let files = [file("main.js", format!("// {script} {tag}"))];
    store
        .create_version(script, "main.js", &files, json!({ "tag": tag }), activate)
        .await
}

/// Creates a user with `email` and `roles` (no password, no allowed tiers).
async fn create_user(
    store: &dyn Store,
    email: &str,
    roles: &[&str],
) -> Result<UserRecord, StoreError> {
    store
        .create_user(&NewUser {
            email: email.to_owned(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            ..NewUser::default()
        })
        .await
}

/// The user with `id`; panics if it does not exist.
async fn user(store: &dyn Store, id: i64) -> Result<UserRecord, StoreError> {
    match store.get_user(id).await? {
        Some(user) => Ok(user),
        None => panic!("user {id} should exist"),
    }
}

/// Panics unless `result` is a `NotFound` whose description contains `needle`.
#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, needle: &str) {
    match result {
        Err(StoreError::NotFound { what }) => assert!(what.contains(needle), "{what:?}"),
        other => panic!("expected NotFound naming {needle:?}, got {other:?}"),
    }
}

/// Panics unless `result` is a `Conflict` whose message contains `needle`.
#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, needle: &str) {
    match result {
        Err(StoreError::Conflict { message }) => assert!(message.contains(needle), "{message:?}"),
        other => panic!("expected Conflict mentioning {needle:?}, got {other:?}"),
    }
}

/// A session of `user_id` created and last seen at 1000, expiring at 100 000.
fn session(id_hash: &str, user_id: i64) -> SessionRecord {
    SessionRecord {
        id_hash: id_hash.to_owned(),
        user_id,
        csrf_token: format!("csrf-{id_hash}"),
        created_at: 1000,
        last_seen_at: 1000,
        expires_at: 100_000,
        ip: None,
        user_agent: None,
    }
}
