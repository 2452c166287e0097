//! `db` for scripts: the `db.*` host operations over [`ScriptDbs`]. The database is always
//! the calling script's (from the call, never from its arguments); transactions are tied to
//! the calling invocation. Arguments arrive in the wire format of
//! [`crate::script_db::values`] (blob parameters in the operation's binary input, blob results
//! in its binary reply). Failures are logged to the script's log with the request id by
//! [`super::ScriptServices`], as for every operation.

use std::future::Future;
use std::sync::Arc;

use kiln_js::{HostCall, HostError, HostResult};
use serde_json::{Value, json};

use crate::script_db::ScriptDbs;
use crate::script_db::backend::Statement;
use crate::script_db::error::DbError;
use crate::script_db::transactions::Shared;
use crate::script_db::values::{self, Encoder};

/// Most statements one `db.batch` may run: a batch holds the write lock while it runs.
pub const MAX_BATCH_STATEMENTS: usize = 1000;

/// The `db.*` operations.
pub struct DbService {
    dbs: Arc<ScriptDbs>,
}

impl DbService {
    /// The operations over `dbs`.
    pub fn new(dbs: Arc<ScriptDbs>) -> Self {
        DbService { dbs }
    }

    /// Rolls back what `invocation` left open.
    pub fn invocation_ended(&self, invocation: u64) {
        self.dbs.invocation_ended(invocation);
    }

    /// Runs one `db.*` operation. A transaction is reserved right away (on the worker, before
    /// its invocation can end), so that the end of the invocation always finds it.
    pub(super) fn call(
        self: Arc<Self>,
        call: HostCall,
    ) -> impl Future<Output = HostResult> + Send + 'static {
        let reserved = (call.op == "db.begin").then(|| {
            self.dbs
                .reserve(&call.script.name, call.invocation, call.script.limits.wall)
        });
        async move { self.finish(call, reserved).await }
    }

    async fn finish(
        &self,
        call: HostCall,
        reserved: Option<Result<(String, Shared), DbError>>,
    ) -> HostResult {
        let result = match reserved {
            Some(reserved) => self.begin(&call, reserved).await,
            None => self.run(&call).await,
        };
        result.map_err(HostError::from)
    }

    async fn begin(
        &self,
        call: &HostCall,
        reserved: Result<(String, Shared), DbError>,
    ) -> Result<Value, DbError> {
        let (tx, shared) = reserved?;
        self.dbs.begin(&call.script.name, &tx, shared).await?;
        Ok(json!({ "tx": tx }))
    }

    async fn run(&self, call: &HostCall) -> Result<Value, DbError> {
        let script = call.script.name.as_str();
        let args = &call.args;
        let tx = args["tx"].as_str();
        let bytes = call.bytes.as_deref().unwrap_or_default();
        let limits = self.dbs.limits(call.cpu_budget);
        let mut encoder = Encoder::default();
        let value = match call.op.as_str() {
            "db.query" | "db.execute" => {
                let statement = statement(args, bytes)?;
                let results = match tx {
                    Some(tx) => {
                        self.dbs
                            .run_in(tx, script, call.invocation, vec![statement], limits)
                            .await?
                    }
                    None => self.dbs.run(script, vec![statement], limits).await?,
                };
                results
                    .into_iter()
                    .next()
                    .map(|r| encoder.result(r))
                    .unwrap_or(Value::Null)
            }
            "db.batch" => {
                let list = args["statements"].as_array().ok_or_else(|| {
                    DbError::invalid("db.batch takes an array of { sql, params }")
                })?;
                if list.len() > MAX_BATCH_STATEMENTS {
                    return Err(DbError::invalid(format!(
                        "db.batch runs at most {MAX_BATCH_STATEMENTS} statements"
                    )));
                }
                let statements = list
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        statement(s, bytes).map_err(|e| {
                            DbError::new(e.code, format!("statement {}: {}", i + 1, e.message))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let results = self.dbs.batch(script, statements, limits).await?;
                Value::Array(results.into_iter().map(|r| encoder.result(r)).collect())
            }
            "db.commit" | "db.rollback" => {
                let tx = tx.ok_or_else(|| DbError::invalid("missing transaction id"))?;
                self.dbs
                    .finish(tx, script, call.invocation, call.op == "db.commit")
                    .await?;
                Value::Null
            }
            other => {
                return Err(DbError::invalid(format!("'{other}' is not a db operation")));
            }
        };
        if let Some(blobs) = encoder.finish() {
            call.reply.set(blobs);
        }
        Ok(value)
    }
}

/// The statement in `args` (`{ sql, params }`).
fn statement(args: &Value, bytes: &[u8]) -> Result<Statement, DbError> {
    let sql = args["sql"]
        .as_str()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| DbError::invalid("the SQL must be a non-empty string"))?;
    Ok(Statement {
        sql: sql.to_owned(),
        params: values::params(&args["params"], bytes)?,
    })
}
