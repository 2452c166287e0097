//! The path from a script's `console.log` to the store.
//!
//! JS workers must never block on the database, so [`LogPipeline`] is a [`LogSink`] backed by a
//! [`Batcher`]: workers push without waiting, and when the channel is full the line is dropped and
//! counted (a script logging in a tight loop cannot grow memory or stall the engine). A
//! background task writes lines in batches and periodically prunes each script's log to the
//! configured retention. Before a line is stored, the writer replaces its script's secret
//! values with `[REDACTED]` (`crate::secrets::Redactor`; every line passes here: `console.*`,
//! uncaught errors, limits hit, `fetch` and WebAssembly stderr), and withholds the lines of a
//! script whose secrets cannot be read.

use std::sync::Arc;
use std::time::Duration;

use kiln_js::{LogLevel, LogSink, ScriptLog};
use kiln_store::{NewLog, Store};

use crate::batching::{BatchWriter, Batcher};
use crate::secrets::{Redactor, SecretsService};

/// Log lines buffered between the workers and the writer before new ones are dropped.
pub const LOG_BUFFER_LINES: usize = 50_000;
/// Most lines written in one transaction.
const BATCH_LINES: usize = 1_000;
/// How often old lines beyond the retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The sink handed to the engine.
pub struct LogPipeline {
    batcher: Arc<Batcher<ScriptLog>>,
}

impl LogSink for LogPipeline {
    fn log(&self, entry: ScriptLog) {
        self.batcher.push(entry);
    }
}

impl LogPipeline {
    /// Lines dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.batcher.dropped()
    }
}

/// Handle to the writer task; `flush_and_stop` drains what is buffered.
pub type LogWriter = BatchWriter;

/// Starts the pipeline: the sink for the engine and the writer task.
pub fn start(
    store: Arc<dyn Store>,
    retention_per_script: u32,
    secrets: Arc<SecretsService>,
) -> (Arc<LogPipeline>, LogWriter) {
    let mut last_prune = tokio::time::Instant::now();
    let (batcher, writer) = Batcher::start(
        LOG_BUFFER_LINES,
        BATCH_LINES,
        Duration::ZERO,
        move |batch| {
            let store = store.clone();
            let secrets = secrets.clone();
            let prune = last_prune.elapsed() >= PRUNE_EVERY;
            if prune {
                last_prune = tokio::time::Instant::now();
            }
            async move {
                let rows = redacted(&secrets, batch.into_iter().map(to_row)).await;
                if let Err(error) = store.append_logs(&rows).await {
                    tracing::warn!(%error, lines = rows.len(), "could not store script log lines");
                }
                if prune && let Err(error) = store.prune_logs(retention_per_script).await {
                    tracing::warn!(%error, "could not prune script logs");
                }
            }
        },
    );
    (Arc::new(LogPipeline { batcher }), writer)
}

/// `rows` with each script's secret values replaced (one cache lookup per script and batch).
async fn redacted(secrets: &SecretsService, rows: impl Iterator<Item = NewLog>) -> Vec<NewLog> {
    let mut current: Option<(String, Arc<crate::secrets::ScriptSecrets>)> = None;
    let withheld = Arc::new(crate::secrets::ScriptSecrets {
        overlay: None,
        redactor: Redactor::withholding_all(),
    });
    let mut out = Vec::new();
    for mut row in rows {
        let for_row = match &current {
            Some((script, found)) if *script == row.script => found.clone(),
            _ => {
                let found = match secrets.for_script(&row.script).await {
                    Ok(found) => found,
                    Err(error) => {
                        tracing::warn!(script = %row.script, %error, "withholding script log lines: its secrets cannot be read to redact them");
                        withheld.clone()
                    }
                };
                current = Some((row.script.clone(), found.clone()));
                found
            }
        };
        if let std::borrow::Cow::Owned(message) = for_row.redactor.redact(&row.message) {
            row.message = message;
        }
        out.push(row);
    }
    out
}

fn to_row(line: ScriptLog) -> NewLog {
    NewLog {
        script: line.script,
        version: line.version,
        level: match line.level {
            LogLevel::Debug => kiln_store::LogLevel::Debug,
            LogLevel::Info => kiln_store::LogLevel::Info,
            LogLevel::Warn => kiln_store::LogLevel::Warn,
            LogLevel::Error => kiln_store::LogLevel::Error,
        },
        message: line.message,
        request_id: line.request_id,
        time: line.time_ms,
    }
}
