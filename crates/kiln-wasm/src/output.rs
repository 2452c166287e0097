//! Captured stdout/stderr with a hard byte cap.
//!
//! wasmtime-wasi's `MemoryOutputPipe` answers a full buffer with `EIO`, which a C guest ignores
//! and keeps writing until its time runs out. [`CappedOutput`] instead keeps the first `cap`
//! bytes and traps the guest on the first byte past the cap, so an output flood ends at once
//! and is reported as `OUTPUT_LIMIT_EXCEEDED` with the output truncated to the cap.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// The error a guest traps with when it writes past an output cap.
#[derive(Debug, thiserror::Error)]
#[error("{stream} exceeded its limit of {cap} bytes")]
pub(crate) struct OutputLimitExceeded {
    stream: &'static str,
    cap: usize,
}

/// A cloneable handle to one captured output stream; every clone writes to the same buffer.
#[derive(Clone)]
pub(crate) struct CappedOutput {
    stream: &'static str,
    inner: Arc<Mutex<Buffer>>,
}

struct Buffer {
    bytes: Vec<u8>,
    cap: usize,
    overflowed: bool,
}

impl CappedOutput {
    /// A new empty stream named `stream` (`"stdout"`, `"stderr"`) holding at most `cap` bytes.
    pub(crate) fn new(stream: &'static str, cap: usize) -> Self {
        CappedOutput {
            stream,
            inner: Arc::new(Mutex::new(Buffer {
                bytes: Vec::new(),
                cap,
                overflowed: false,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Buffer> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends as much of `data` as fits; fails (and remembers it) if any byte did not fit.
    fn push(&self, data: &[u8]) -> Result<(), OutputLimitExceeded> {
        let mut buf = self.lock();
        let room = buf.cap.saturating_sub(buf.bytes.len());
        let take = room.min(data.len());
        buf.bytes.extend_from_slice(&data[..take]);
        if take < data.len() || buf.overflowed {
            buf.overflowed = true;
            return Err(self.limit_error(buf.cap));
        }
        Ok(())
    }

    fn limit_error(&self, cap: usize) -> OutputLimitExceeded {
        OutputLimitExceeded {
            stream: self.stream,
            cap,
        }
    }

    /// Whether the guest tried to write past the cap.
    pub(crate) fn overflowed(&self) -> bool {
        self.lock().overflowed
    }

    /// Takes the captured bytes.
    pub(crate) fn take(&self) -> Vec<u8> {
        std::mem::take(&mut self.lock().bytes)
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes)
            .map_err(|e| StreamError::Trap(wasmtime::Error::new(e)))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        let buf = self.lock();
        if buf.overflowed {
            return Err(StreamError::Trap(wasmtime::Error::new(
                self.limit_error(buf.cap),
            )));
        }
        // Never a zero permit: writers wait for a non-zero one, so a full buffer must let the
        // next write through to `write`, which traps.
        Ok(buf.cap.saturating_sub(buf.bytes.len()).max(1))
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(
            self.push(data)
                .map(|()| data.len())
                .map_err(std::io::Error::other),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_cap_bytes_and_fails_past_them() {
        let out = CappedOutput::new("stdout", 5);
        assert!(out.push(b"abc").is_ok());
        assert!(out.push(b"de").is_ok());
        assert!(out.push(b"f").is_err());
        assert!(out.push(b"").is_err(), "an overflowed stream stays failed");
        assert!(out.overflowed());
        assert_eq!(out.take(), b"abcde".to_vec());
    }

    #[test]
    fn a_write_that_straddles_the_cap_is_truncated() {
        let out = CappedOutput::new("stderr", 4);
        let err = out.push(b"hello").err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("stderr exceeded its limit of 4 bytes"));
        assert!(out.overflowed());
        assert_eq!(out.take(), b"hell".to_vec());
    }
}
