//! `kv` and `kv.user` for scripts: the `kv.*` operations over the store's [`KvStore`].
//!
//! The namespace comes from the call, never from the script: the calling script's name, and
//! for `kv.user` the signed-in user of the invocation (from the identity the engine attached on
//! the Rust side). Keys, values and TTLs are checked here against `[kv]`; the store enforces
//! the per-script quota atomically with each write.

use std::sync::Arc;

use kiln_js::{HostCall, HostError, HostResult};
use kiln_store::{KvLimits, KvNamespace, Store, StoreError};
use serde_json::{Value, json};

use crate::auth::now_ms;
use crate::config::KvConfig;

/// Entries one `kv.getMany` call may read.
const MAX_GET_MANY: usize = 1000;

/// Largest TTL accepted: 10 years, in seconds.
const MAX_TTL_SECS: f64 = 10.0 * 365.0 * 86_400.0;

/// Entries removed per sweep (the sweep runs every housekeeping tick).
const SWEEP_BATCH: u32 = 5_000;

fn invalid(message: impl Into<String>) -> HostError {
    HostError::new("KV_INVALID_ARGUMENT", message)
}

/// Store failures: quota and type errors are the script's; anything else is Kiln's.
fn store_error(error: StoreError) -> HostError {
    match error {
        StoreError::LimitExceeded { message } => HostError::new("KV_QUOTA_EXCEEDED", message),
        StoreError::Conflict { message } => HostError::new("KV_NOT_A_NUMBER", message),
        other => {
            tracing::error!(error = %other, "kv operation failed in the store");
            HostError::new(
                "KV_UNAVAILABLE",
                "the key/value store is unavailable; try again",
            )
        }
    }
}

/// The namespace of the call: the script's own, or its user's for `scope: "user"`.
fn namespace(call: &HostCall) -> Result<KvNamespace, HostError> {
    let script = call.script.name.clone();
    if call.args["scope"].as_str() != Some("user") {
        return Ok(KvNamespace::script(script));
    }
    let user_id = call
        .identity
        .as_deref()
        .and_then(|json| serde_json::from_str::<Value>(json).ok())
        .and_then(|identity| identity["user"]["id"].as_i64());
    match user_id {
        Some(id) => Ok(KvNamespace::user(script, id)),
        None => Err(HostError::new(
            "KV_NO_USER",
            "kv.user needs a signed-in user (ctx.user is null); use { auth: \"user\" } on the route",
        )),
    }
}

fn key_of<'a>(value: &'a Value, config: &KvConfig) -> Result<&'a str, HostError> {
    let key = value
        .as_str()
        .ok_or_else(|| invalid("the key must be a string"))?;
    if key.is_empty() {
        return Err(HostError::new(
            "KV_INVALID_KEY",
            "the key must not be empty",
        ));
    }
    if key.len() > config.max_key_bytes {
        return Err(HostError::new(
            "KV_INVALID_KEY",
            format!(
                "the key is {} bytes, more than the limit of {}",
                key.len(),
                config.max_key_bytes
            ),
        ));
    }
    Ok(key)
}

fn parse_stored(text: Option<String>) -> Value {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

/// Runs one `kv.*` operation.
pub(super) async fn call(
    store: Arc<dyn Store>,
    config: Arc<KvConfig>,
    call: HostCall,
) -> HostResult {
    let ns = namespace(&call)?;
    let args = &call.args;
    let limits = KvLimits {
        max_keys: config.max_keys,
        max_bytes: config.max_bytes,
    };
    let now = now_ms();
    match call.op.as_str() {
        "kv.get" => {
            let key = key_of(&args["key"], &config)?.to_owned();
            let mut values = store.kv_get(&ns, &[key], now).await.map_err(store_error)?;
            Ok(parse_stored(values.pop().flatten()))
        }
        "kv.getMany" => {
            let list = args["keys"]
                .as_array()
                .ok_or_else(|| invalid("kv.getMany takes an array of keys"))?;
            if list.len() > MAX_GET_MANY {
                return Err(invalid(format!(
                    "kv.getMany reads at most {MAX_GET_MANY} keys at once"
                )));
            }
            let keys = list
                .iter()
                .map(|k| key_of(k, &config).map(str::to_owned))
                .collect::<Result<Vec<_>, _>>()?;
            let values = store.kv_get(&ns, &keys, now).await.map_err(store_error)?;
            Ok(Value::Array(values.into_iter().map(parse_stored).collect()))
        }
        "kv.set" => {
            let key = key_of(&args["key"], &config)?;
            let value = args
                .get("value")
                .ok_or_else(|| {
                    invalid("kv.set needs a JSON-serialisable value (not undefined or a function)")
                })?
                .to_string();
            if value.len() > config.max_value_bytes {
                return Err(HostError::new(
                    "KV_VALUE_TOO_LARGE",
                    format!(
                        "the value is {} bytes as JSON, more than the limit of {}",
                        value.len(),
                        config.max_value_bytes
                    ),
                ));
            }
            let expires_at = match &args["ttl"] {
                Value::Null => None,
                ttl => {
                    let secs = ttl
                        .as_f64()
                        .filter(|s| *s > 0.0 && *s <= MAX_TTL_SECS)
                        .ok_or_else(|| {
                            invalid("ttl must be a number of seconds between 0 and 10 years")
                        })?;
                    Some(now.saturating_add((secs * 1000.0).ceil() as i64))
                }
            };
            store
                .kv_set(&ns, key, &value, expires_at, now, limits)
                .await
                .map_err(store_error)?;
            Ok(Value::Null)
        }
        "kv.delete" => {
            let key = key_of(&args["key"], &config)?;
            let deleted = store.kv_delete(&ns, key, now).await.map_err(store_error)?;
            Ok(Value::Bool(deleted))
        }
        "kv.list" => {
            let prefix = args["prefix"].as_str().unwrap_or_default();
            let cursor = args["cursor"].as_str();
            let limit = args["limit"]
                .as_u64()
                .map_or(100, |l| l.min(u64::from(u32::MAX)) as u32);
            let page = store
                .kv_list(&ns, prefix, cursor, limit, now)
                .await
                .map_err(store_error)?;
            Ok(json!({ "keys": page.keys, "cursor": page.cursor }))
        }
        "kv.increment" => {
            let key = key_of(&args["key"], &config)?;
            let by = match &args["by"] {
                Value::Null => 1.0,
                by => by
                    .as_f64()
                    .filter(|b| b.is_finite())
                    .ok_or_else(|| invalid("kv.increment: `by` must be a finite number"))?,
            };
            let next = store
                .kv_increment(&ns, key, by, now, limits)
                .await
                .map_err(store_error)?;
            Ok(json!(next))
        }
        other => Err(HostError::new(
            "UNKNOWN_OPERATION",
            format!("'{other}' is not a kv operation"),
        )),
    }
}

/// Removes expired entries (called by the housekeeping task).
pub async fn sweep(store: &dyn Store) {
    match store.kv_sweep(now_ms(), SWEEP_BATCH).await {
        Ok(0) => {}
        Ok(removed) => tracing::debug!(removed, "swept expired kv entries"),
        Err(error) => tracing::warn!(%error, "could not sweep expired kv entries"),
    }
}
