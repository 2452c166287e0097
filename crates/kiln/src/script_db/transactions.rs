//! Transactions a script holds across awaits (`db.transaction`): each open one is a session
//! kept here under a random id, tied to the script and the invocation that began it. The
//! script's later operations carry the id; they are refused unless they come from the same
//! script and invocation. A transaction ends by commit or rollback, when its invocation ends
//! (the engine reports it through `HostServices::invocation_ended`), or — should a worker be
//! abandoned mid-turn — when its lifetime (the script's wall-clock budget) runs out: the two
//! last roll it back. So no lock outlives the request that took it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::backend::DbSession;
use super::error::{self as codes, DbError};

/// A session shared by the operations of one transaction (`None` once it is finished).
pub type Shared = Arc<tokio::sync::Mutex<Option<Box<dyn DbSession>>>>;

/// An open transaction.
struct Open {
    script: String,
    invocation: u64,
    session: Shared,
}

/// The open transactions of every script.
pub struct Transactions {
    open: Mutex<HashMap<String, Open>>,
    /// The server's runtime: roll-backs and lifetime timers run there, not on a worker's
    /// runtime (which the watchdog may abandon).
    runtime: Option<tokio::runtime::Handle>,
}

impl Transactions {
    /// An empty registry using the current runtime (if any) for background roll-backs.
    pub fn new() -> Self {
        Transactions {
            open: Mutex::default(),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }

    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<String, Open>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves a transaction for `invocation` of `script` and returns its id; its session
    /// is set by [`Transactions::fill`] once the transaction has begun. Called synchronously
    /// when the operation starts, before the invocation can end, so that an invocation ending
    /// while `BEGIN` waits still finds (and ends) it. Rolled back after `lifetime` if still
    /// open. One transaction per invocation.
    pub fn reserve(
        self: &Arc<Self>,
        script: &str,
        invocation: u64,
        lifetime: Duration,
    ) -> Result<(String, Shared), DbError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let session: Shared = Arc::default();
        {
            let mut open = self.open();
            if open.values().any(|t| t.invocation == invocation) {
                return Err(DbError::new(
                    codes::BUSY,
                    "this request already has a transaction open; finish it first (transactions do not nest)",
                ));
            }
            open.insert(
                id.clone(),
                Open {
                    script: script.to_owned(),
                    invocation,
                    session: session.clone(),
                },
            );
        }
        if let Some(runtime) = &self.runtime {
            let registry = Arc::downgrade(self);
            let tx = id.clone();
            runtime.spawn(async move {
                tokio::time::sleep(lifetime).await;
                let expired = registry.upgrade().and_then(|r| r.open().remove(&tx));
                if let Some(open) = expired {
                    tracing::warn!(script = %open.script, "rolling back a transaction that outlived its request");
                    finish(open.session).await;
                }
            });
        }
        Ok((id, session))
    }

    /// Whether transaction `id` is still registered.
    pub fn contains(&self, id: &str) -> bool {
        self.open().contains_key(id)
    }

    /// Forgets transaction `id` (its `BEGIN` failed).
    pub fn forget(&self, id: &str) {
        self.open().remove(id);
    }

    /// The session of transaction `id`, if `script`'s `invocation` owns it.
    pub fn get(&self, id: &str, script: &str, invocation: Option<u64>) -> Result<Shared, DbError> {
        match self.open().get(id) {
            Some(t) if t.script == script && Some(t.invocation) == invocation => {
                Ok(t.session.clone())
            }
            _ => Err(DbError::closed()),
        }
    }

    /// Removes transaction `id` (to commit or roll it back), if `script`'s `invocation` owns it.
    pub fn take(&self, id: &str, script: &str, invocation: Option<u64>) -> Result<Shared, DbError> {
        let mut open = self.open();
        match open.get(id) {
            Some(t) if t.script == script && Some(t.invocation) == invocation => Ok(open
                .remove(id)
                .map(|t| t.session)
                .ok_or_else(DbError::closed)?),
            _ => Err(DbError::closed()),
        }
    }

    /// Rolls back what `invocation` left open. Does not block.
    pub fn invocation_ended(&self, invocation: u64) {
        let ended: Vec<Shared> = {
            let mut open = self.open();
            let ids: Vec<String> = open
                .iter()
                .filter(|(_, t)| t.invocation == invocation)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter()
                .filter_map(|id| open.remove(id))
                .map(|t| t.session)
                .collect()
        };
        for session in ended {
            match &self.runtime {
                Some(runtime) => drop(runtime.spawn(finish(session))),
                // Dropping the session closes its connection, which rolls back.
                None => drop(session),
            }
        }
    }

    /// Rolls back every transaction of `script` (it is being deleted).
    pub fn end_script(&self, script: &str) {
        let mut open = self.open();
        open.retain(|_, t| t.script != script);
    }
}

impl Default for Transactions {
    fn default() -> Self {
        Self::new()
    }
}

/// Rolls back and releases a transaction's session once its running operation (if any)
/// is done.
async fn finish(session: Shared) {
    let mut guard = session.lock().await;
    if let Some(mut session) = guard.take()
        && let Err(error) = session.rollback().await
    {
        tracing::warn!(%error, "could not roll back an abandoned transaction");
    }
}
