//! The path from a script's `console.log` to the store.
//!
//! JS workers must never block on the database, so [`LogPipeline`] is a [`LogSink`] backed by a
//! bounded channel: workers `try_send`, and when the channel is full the line is dropped and
//! counted (a script logging in a tight loop cannot grow memory or stall the engine). A
//! background task writes lines in batches and periodically prunes each script's log to the
//! configured retention.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kiln_js::{LogLevel, LogSink, ScriptLog};
use kiln_store::{NewLog, Store};
use tokio::sync::mpsc;

/// Log lines buffered between the workers and the writer before new ones are dropped.
pub const LOG_BUFFER_LINES: usize = 50_000;
/// Most lines written in one transaction.
const BATCH_LINES: usize = 1_000;
/// How often old lines beyond the retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The sink handed to the engine.
pub struct LogPipeline {
    tx: mpsc::Sender<ScriptLog>,
    dropped: AtomicU64,
}

impl LogSink for LogPipeline {
    fn log(&self, entry: ScriptLog) {
        if self.tx.try_send(entry).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl LogPipeline {
    /// Lines dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Handle to the writer task; [`LogWriter::flush_and_stop`] drains what is buffered.
pub struct LogWriter {
    task: tokio::task::JoinHandle<()>,
}

impl LogWriter {
    /// Waits for the writer to store everything buffered. Call after the engine stopped
    /// (every sender dropped).
    pub async fn flush_and_stop(self) {
        let _ = self.task.await;
    }
}

/// Starts the pipeline: the sink for the engine and the writer task.
pub fn start(store: Arc<dyn Store>, retention_per_script: u32) -> (Arc<LogPipeline>, LogWriter) {
    let (tx, rx) = mpsc::channel(LOG_BUFFER_LINES);
    let pipeline = Arc::new(LogPipeline {
        tx,
        dropped: AtomicU64::new(0),
    });
    let task = tokio::spawn(write_loop(store, rx, retention_per_script));
    (pipeline, LogWriter { task })
}

async fn write_loop(store: Arc<dyn Store>, mut rx: mpsc::Receiver<ScriptLog>, retention: u32) {
    let mut batch: Vec<ScriptLog> = Vec::with_capacity(BATCH_LINES);
    let mut last_prune = tokio::time::Instant::now();
    loop {
        let received = rx.recv_many(&mut batch, BATCH_LINES).await;
        if received == 0 {
            break;
        }
        let rows: Vec<NewLog> = batch.drain(..).map(to_row).collect();
        if let Err(error) = store.append_logs(&rows).await {
            tracing::warn!(%error, lines = rows.len(), "could not store script log lines");
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = tokio::time::Instant::now();
            if let Err(error) = store.prune_logs(retention).await {
                tracing::warn!(%error, "could not prune script logs");
            }
        }
    }
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
