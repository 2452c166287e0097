//! Response bodies of `fetch`, streamed to the script. The `fetch` answer carries the status,
//! the headers and the body's first bytes (up to [`FIRST_PART_BYTES`]); a body that is longer
//! stays open in the invocation's [`OpenBodies`] under a handle, and the script's stream pulls
//! the rest one chunk per `fetch.read`. The per-request time limit and the response size limit
//! cover the whole body; an open body keeps its in-flight slot, and is dropped (closing its
//! connection) on `fetch.cancel`, on an error, or when the invocation's entry expires.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use bytes::{Bytes, BytesMut};
use kiln_js::HostError;
use serde_json::{Value, json};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use url::Url;

use super::{Egress, InvocationUse, limit, network, send_error, timed_out};

/// Bytes of a body read before `fetch` resolves: a body at most this long arrives whole with
/// the answer (one operation for the common small response).
pub(super) const FIRST_PART_BYTES: usize = 64 * 1024;

/// A response body the script has not finished reading.
pub(super) struct OpenBody {
    response: reqwest::Response,
    url: Url,
    /// Bytes handed to the script so far.
    read: u64,
    /// The request's time limit, which covers its whole body.
    deadline: Instant,
    /// The in-flight slot the request holds until its body is done.
    _permit: OwnedSemaphorePermit,
}

/// The open bodies of one invocation, by handle.
#[derive(Default)]
pub(super) struct OpenBodies {
    next: AtomicU64,
    open: Mutex<HashMap<u64, OpenBody>>,
}

impl OpenBodies {
    fn insert(&self, body: OpenBody) -> u64 {
        let handle = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.lock().insert(handle, body);
        handle
    }

    fn take(&self, handle: u64) -> Option<OpenBody> {
        self.lock().remove(&handle)
    }

    fn put_back(&self, handle: u64, body: OpenBody) {
        self.lock().insert(handle, body);
    }

    /// Drops a body: its connection is closed and its slot freed.
    pub(super) fn close(&self, handle: u64) {
        drop(self.take(handle));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, OpenBody>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The handle in a `fetch.read` / `fetch.cancel` call's arguments.
pub(super) fn handle_of(args: &Value) -> Result<u64, HostError> {
    args["body"]
        .as_u64()
        .ok_or_else(|| HostError::new("FETCH_INVALID_REQUEST", "no response body handle"))
}

fn too_large(url: &Url, max: u64) -> HostError {
    limit(format!(
        "the response from {url} is larger than {max} bytes (egress.max_response_bytes)"
    ))
}

/// Describes the response for the prelude and reads the start of its body: the whole body
/// when it is short, else [`FIRST_PART_BYTES`] of it and a handle (`body`) to read on.
pub(super) async fn first_part(
    egress: &Egress,
    usage: &InvocationUse,
    mut response: reqwest::Response,
    url: Url,
    redirected: bool,
    permit: OwnedSemaphorePermit,
    deadline: Instant,
) -> Result<(Value, Bytes), HostError> {
    let max = egress.config.max_response_bytes;
    if response.content_length().is_some_and(|len| len > max) {
        return Err(too_large(&url, max));
    }
    let status = response.status();
    let mut headers = Vec::with_capacity(response.headers().len() * 2);
    for (name, value) in response.headers() {
        headers.push(name.as_str().to_owned());
        headers.push(value.as_bytes().iter().map(|&b| char::from(b)).collect());
    }
    let mut value = json!({
        "status": status.as_u16(),
        "statusText": status.canonical_reason().unwrap_or_default(),
        "headers": headers,
        "url": url.as_str(),
        "redirected": redirected,
    });
    let mut first = BytesMut::new();
    while first.len() < FIRST_PART_BYTES {
        match response.chunk().await.map_err(|e| send_error(&url, &e))? {
            None => return Ok((value, first.freeze())),
            Some(chunk) => {
                if (first.len() + chunk.len()) as u64 > max {
                    return Err(too_large(&url, max));
                }
                first.extend_from_slice(&chunk);
            }
        }
    }
    let read = first.len() as u64;
    let handle = usage.bodies.insert(OpenBody {
        response,
        url,
        read,
        deadline,
        _permit: permit,
    });
    value["body"] = json!(handle);
    Ok((value, first.freeze()))
}

/// `fetch.read`: `{"done": false}` with the next chunk, or `{"done": true}` at the end.
pub(super) async fn next_chunk(
    egress: &Egress,
    usage: &InvocationUse,
    handle: u64,
) -> Result<(Value, Option<Bytes>), HostError> {
    let mut body = usage.bodies.take(handle).ok_or_else(|| {
        network("the response body is no longer available (cancelled, or its invocation ended)")
    })?;
    let chunk = tokio::time::timeout_at(body.deadline, body.response.chunk())
        .await
        .map_err(|_| timed_out(egress))?
        .map_err(|e| send_error(&body.url, &e))?;
    let Some(chunk) = chunk else {
        return Ok((json!({ "done": true }), None));
    };
    let max = egress.config.max_response_bytes;
    body.read += chunk.len() as u64;
    if body.read > max {
        return Err(too_large(&body.url, max));
    }
    usage.bodies.put_back(handle, body);
    Ok((json!({ "done": false }), Some(chunk)))
}
