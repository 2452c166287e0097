//! Off-the-request-path writes: a [`Batcher`] is a bounded channel that request handlers (and
//! JS workers) push records into without ever waiting, and a task that drains it in batches into
//! a write function. When the buffer is full, records are dropped and counted rather than
//! blocking the caller or growing memory. A writer may *linger*: wait a moment after the first
//! record of a batch so that the ones arriving meanwhile join it, which under load turns one
//! wake-up and one write per record into one per interval. Used for script log lines and usage
//! events.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

/// The sending side.
pub struct Batcher<T> {
    tx: mpsc::Sender<T>,
    dropped: AtomicU64,
}

/// Handle to the writer task; [`BatchWriter::flush_and_stop`] drains what is buffered.
pub struct BatchWriter {
    task: tokio::task::JoinHandle<()>,
}

impl BatchWriter {
    /// Waits for the writer to store everything buffered. Call once every [`Batcher`] handle
    /// is dropped.
    pub async fn flush_and_stop(self) {
        let _ = self.task.await;
    }
}

impl<T: Send + 'static> Batcher<T> {
    /// Starts a writer task calling `write` with batches of at most `batch` records, buffering
    /// up to `capacity` records. With a non-zero `linger`, a batch that is not full is written
    /// `linger` after its first record, with whatever arrived in between.
    pub fn start<F, Fut>(
        capacity: usize,
        batch: usize,
        linger: Duration,
        mut write: F,
    ) -> (Arc<Self>, BatchWriter)
    where
        F: FnMut(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let (tx, mut rx) = mpsc::channel(capacity);
        let task = tokio::spawn(async move {
            let mut buffer: Vec<T> = Vec::with_capacity(batch);
            while rx.recv_many(&mut buffer, batch).await > 0 {
                if !linger.is_zero() && buffer.len() < batch {
                    tokio::time::sleep(linger).await;
                    while buffer.len() < batch {
                        match rx.try_recv() {
                            Ok(item) => buffer.push(item),
                            Err(_) => break,
                        }
                    }
                }
                write(std::mem::replace(&mut buffer, Vec::with_capacity(batch))).await;
            }
        });
        let batcher = Arc::new(Batcher {
            tx,
            dropped: AtomicU64::new(0),
        });
        (batcher, BatchWriter { task })
    }

    /// Queues a record; drops it (and counts it) when the buffer is full.
    pub fn push(&self, item: T) {
        if self.tx.try_send(item).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn writes_everything_in_batches_and_flushes_on_stop() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let (batcher, writer) = Batcher::start(100, 7, Duration::ZERO, move |batch: Vec<u32>| {
            let sink = sink.clone();
            async move {
                assert!(batch.len() <= 7);
                sink.lock().unwrap().extend(batch);
            }
        });
        for i in 0..50 {
            batcher.push(i);
        }
        drop(batcher);
        writer.flush_and_stop().await;
        assert_eq!(*seen.lock().unwrap(), (0..50).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_lingering_writer_gathers_what_arrives_meanwhile() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let sink = batches.clone();
        let linger = Duration::from_millis(300);
        let (batcher, writer) = Batcher::start(100, 5, linger, move |batch: Vec<u32>| {
            let sink = sink.clone();
            async move { sink.lock().unwrap().push(batch) }
        });
        batcher.push(1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        batcher.push(2);
        batcher.push(3);
        assert!(
            batches.lock().unwrap().is_empty(),
            "written before the linger"
        );
        // A full batch does not wait for the linger.
        for i in 10..17 {
            batcher.push(i);
        }
        drop(batcher);
        writer.flush_and_stop().await;
        assert_eq!(
            *batches.lock().unwrap(),
            vec![vec![1, 2, 3, 10, 11], vec![12, 13, 14, 15, 16]]
        );
    }

    #[tokio::test]
    async fn a_full_buffer_drops_and_counts() {
        let (gate_tx, gate_rx) = tokio::sync::oneshot::channel::<()>();
        let gate = Arc::new(Mutex::new(Some(gate_rx)));
        let (batcher, writer) = Batcher::start(2, 1, Duration::ZERO, move |_batch: Vec<u32>| {
            let gate = gate.lock().unwrap().take();
            async move {
                if let Some(gate) = gate {
                    let _ = gate.await;
                }
            }
        });
        for i in 0..10 {
            batcher.push(i);
        }
        assert!(batcher.dropped() >= 7, "dropped {}", batcher.dropped());
        let _ = gate_tx.send(());
        drop(batcher);
        writer.flush_and_stop().await;
    }
}
