//! `fetch` for scripts: the `fetch` host operation. Each script is held to its egress policy
//! ([`super::egress`]) through a pooled HTTP client whose DNS resolver applies it, so the check
//! covers the addresses actually connected to; literal IP hosts are checked here. Redirects are
//! followed here (at most [`MAX_REDIRECTS`]), each hop checked and counted again. Per
//! invocation (keyed by request id) the number of requests and those in flight are limited;
//! per request, the time and the response size. Bodies are buffered up to the limit and
//! handed to the script as the result's binary part: the first bytes with the answer, the rest
//! streamed on request ([`body`]). Failures are logged to the script's log
//! with the request id by [`super::ScriptServices`], as for every operation.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use kiln_js::{HostCall, HostError, HostResult};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::Semaphore;
use url::{Host, Url};

mod body;

use super::egress::{Denied, EgressPolicy, PolicyResolver};
use crate::config::{Config, EgressConfig};

/// Redirects followed per request before it fails, as in browsers: stops redirect loops.
pub const MAX_REDIRECTS: usize = 20;

/// Request headers a script may not set: they describe the connection, which Kiln owns.
const CONNECTION_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
    "proxy-authorization",
];

/// Headers dropped when a redirect leaves the origin: credentials meant for the first host.
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

/// One egress setting: the effective config, its policy and the client that applies it.
struct Egress {
    config: EgressConfig,
    policy: Arc<EgressPolicy>,
    client: reqwest::Client,
}

impl Egress {
    fn new(config: EgressConfig) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(EgressPolicy::new(&config));
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(PolicyResolver {
                policy: policy.clone(),
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Egress {
            config,
            policy,
            client,
        })
    }
}

/// What one invocation has used: requests started, permits for those in flight, and the
/// response bodies it is still reading.
struct InvocationUse {
    started: AtomicU32,
    in_flight: Arc<Semaphore>,
    bodies: body::OpenBodies,
}

/// The `fetch` operation's state, shared by every worker.
pub struct FetchService {
    /// Scripts without `[scripts.<name>.egress]` overrides.
    global: Arc<Egress>,
    /// Scripts with overrides (each with its own client, so no connection is shared across
    /// policies).
    scripts: HashMap<String, Arc<Egress>>,
    /// Use per invocation, by request id; entries expire once idle longer than any
    /// invocation may last.
    invocations: moka::sync::Cache<Arc<str>, Arc<InvocationUse>>,
    /// The server's runtime: requests and their pooled connections live there rather than on
    /// a worker thread's runtime (which the watchdog may abandon).
    runtime: Option<tokio::runtime::Handle>,
}

/// The arguments the prelude sends.
#[derive(serde::Deserialize)]
struct FetchArgs {
    url: String,
    method: String,
    headers: Vec<String>,
    redirect: String,
}

fn network(message: impl Into<String>) -> HostError {
    HostError::new("FETCH_NETWORK", message)
}

fn invalid(message: impl Into<String>) -> HostError {
    HostError::new("FETCH_INVALID_REQUEST", message)
}

fn limit(message: impl Into<String>) -> HostError {
    HostError::new("FETCH_LIMIT_EXCEEDED", message)
}

fn timed_out(egress: &Egress) -> HostError {
    HostError::new(
        "FETCH_TIMEOUT",
        format!(
            "the request took longer than {} ms (egress.timeout_ms)",
            egress.config.timeout_ms
        ),
    )
}

fn denied(host: &str, denial: &Denied) -> HostError {
    HostError::new(
        "EGRESS_DENIED",
        format!("fetch to {host} refused by the egress policy: {denial}"),
    )
}

impl FetchService {
    /// The service for `config`'s `[egress]` and per-script overrides.
    pub fn new(config: &Config) -> Result<Self, reqwest::Error> {
        let mut scripts = HashMap::new();
        for (name, script) in &config.scripts {
            if !script.egress.is_empty() {
                let egress = Egress::new(script.egress.apply_to(&config.egress))?;
                scripts.insert(name.clone(), Arc::new(egress));
            }
        }
        let longest_wall = config
            .scripts
            .keys()
            .map(|name| config.limits_for(name).wall_ms)
            .chain(std::iter::once(config.limits.wall_ms))
            .max()
            .unwrap_or(0);
        Ok(FetchService {
            global: Arc::new(Egress::new(config.egress.clone())?),
            scripts,
            invocations: moka::sync::Cache::builder()
                .time_to_idle(Duration::from_millis(longest_wall) + Duration::from_secs(60))
                .build(),
            runtime: tokio::runtime::Handle::try_current().ok(),
        })
    }

    /// Runs one `fetch` operation.
    pub(super) async fn call(self: Arc<Self>, call: HostCall) -> HostResult {
        let egress = self.egress_of(&call);
        let usage = self.usage(&call, &egress.config);
        let reply = call.reply.clone();
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(egress.config.timeout_ms);
        let task = {
            let egress = egress.clone();
            let args = call.args.clone();
            let body = call.bytes.clone();
            async move {
                let work = async {
                    // Waiting for a free slot counts against the request's time; an open
                    // body keeps its slot until read or dropped.
                    let permit = usage
                        .in_flight
                        .clone()
                        .acquire_owned()
                        .await
                        .map_err(|_| network("the request was cancelled"))?;
                    let (response, url, redirected) = fetch(&egress, &usage, args, body).await?;
                    body::first_part(&egress, &usage, response, url, redirected, permit, deadline)
                        .await
                };
                match tokio::time::timeout_at(deadline, work).await {
                    Ok(result) => result,
                    Err(_) => Err(timed_out(&egress)),
                }
            }
        };
        let (value, body) = self.on_runtime(task).await?;
        reply.set(body);
        Ok(value)
    }

    /// Runs `task` on the server's runtime (when there is one). The script may give up on the
    /// request (an aborted signal, a cancelled body): dropping the returned future then stops
    /// the task on the other runtime too.
    async fn on_runtime<T: Send + 'static>(
        &self,
        task: impl Future<Output = Result<T, HostError>> + Send + 'static,
    ) -> Result<T, HostError> {
        match &self.runtime {
            Some(runtime) => {
                let handle = runtime.spawn(task);
                let _abort = AbortOnDrop(handle.abort_handle());
                handle
                    .await
                    .unwrap_or_else(|_| Err(network("the request was cancelled")))
            }
            None => task.await,
        }
    }

    /// `fetch.read`: the next chunk of a response body the invocation is reading.
    pub(super) async fn read(self: Arc<Self>, call: HostCall) -> HostResult {
        let egress = self.egress_of(&call);
        let usage = self.usage(&call, &egress.config);
        let handle = body::handle_of(&call.args)?;
        let reply = call.reply.clone();
        let (value, chunk) = self
            .on_runtime(async move { body::next_chunk(&egress, &usage, handle).await })
            .await?;
        if let Some(chunk) = chunk {
            reply.set(chunk);
        }
        Ok(value)
    }

    /// `fetch.cancel`: the script dropped a response body; its connection is closed.
    pub(super) async fn cancel(self: Arc<Self>, call: HostCall) -> HostResult {
        let egress = self.egress_of(&call);
        let usage = self.usage(&call, &egress.config);
        usage.bodies.close(body::handle_of(&call.args)?);
        Ok(Value::Null)
    }

    /// The egress settings of the calling script.
    fn egress_of(&self, call: &HostCall) -> Arc<Egress> {
        self.scripts
            .get(&call.script.name)
            .unwrap_or(&self.global)
            .clone()
    }

    /// The use of the calling invocation (a script's background work shares one entry).
    fn usage(&self, call: &HostCall, config: &EgressConfig) -> Arc<InvocationUse> {
        let key = call
            .request_id
            .clone()
            .unwrap_or_else(|| Arc::from(format!("script:{}", call.script.name)));
        self.invocations.get_with(key, || {
            Arc::new(InvocationUse {
                started: AtomicU32::new(0),
                in_flight: Arc::new(Semaphore::new(config.max_concurrent as usize)),
                bodies: body::OpenBodies::default(),
            })
        })
    }
}

/// Aborts a task spawned elsewhere when the future waiting for it is dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Performs the request, following redirects; returns the final response (its body unread),
/// its URL and whether a redirect led there.
async fn fetch(
    egress: &Egress,
    usage: &InvocationUse,
    args: Value,
    mut body: Option<Bytes>,
) -> Result<(reqwest::Response, Url, bool), HostError> {
    let args: FetchArgs =
        serde_json::from_value(args).map_err(|e| invalid(format!("invalid arguments: {e}")))?;
    let mut url = Url::parse(&args.url).map_err(|e| invalid(format!("invalid URL: {e}")))?;
    let mut method = Method::from_bytes(args.method.as_bytes())
        .map_err(|_| invalid(format!("invalid method {:?}", args.method)))?;
    let mut headers = request_headers(&args.headers)?;
    let mut redirected = false;
    for hop in 0..=MAX_REDIRECTS {
        check_destination(egress, &url)?;
        let max = egress.config.max_subrequests;
        if usage.started.fetch_add(1, Ordering::Relaxed) >= max {
            return Err(limit(format!(
                "this invocation already made {max} requests (egress.max_subrequests; \
                 each redirect counts)"
            )));
        }
        let mut request = egress
            .client
            .request(method.clone(), url.clone())
            .headers(headers.clone());
        if let Some(body) = &body {
            request = request.body(body.clone());
        }
        let response = request.send().await.map_err(|e| send_error(&url, &e))?;
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok());
        let is_redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
        if let (true, Some(location), "follow" | "error") =
            (is_redirect, location, args.redirect.as_str())
        {
            if args.redirect == "error" {
                return Err(network(format!(
                    "{url} redirected to {location}, and the redirect mode is \"error\""
                )));
            }
            if hop == MAX_REDIRECTS {
                return Err(network(format!(
                    "more than {MAX_REDIRECTS} redirects, starting from {}",
                    args.url
                )));
            }
            let next = url
                .join(location)
                .map_err(|e| network(format!("invalid redirect location {location:?}: {e}")))?;
            if next.origin() != url.origin() {
                for name in CREDENTIAL_HEADERS {
                    headers.remove(*name);
                }
            }
            let becomes_get = status == StatusCode::SEE_OTHER && method != Method::HEAD
                || matches!(status.as_u16(), 301 | 302) && method == Method::POST;
            if becomes_get {
                method = Method::GET;
                body = None;
                let content: Vec<HeaderName> = headers
                    .keys()
                    .filter(|name| name.as_str().starts_with("content-"))
                    .cloned()
                    .collect();
                for name in content {
                    headers.remove(name);
                }
            }
            url = next;
            redirected = true;
            continue;
        }
        return Ok((response, url, redirected));
    }
    Err(network("too many redirects"))
}

/// Refuses URLs fetch cannot or may not reach before anything is sent. Host names are checked
/// by the resolver; IP literals never reach it, so they are checked here.
fn check_destination(egress: &Egress, url: &Url) -> Result<(), HostError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(network(format!(
            "cannot fetch {url}: only http and https URLs can be fetched"
        )));
    }
    let ip = match url.host() {
        Some(Host::Ipv4(ip)) => ip.into(),
        Some(Host::Ipv6(ip)) => ip.into(),
        Some(Host::Domain(name)) => {
            return egress
                .policy
                .check_name(name)
                .map(|_| ())
                .map_err(|d| denied(name, &d));
        }
        None => return Err(network(format!("cannot fetch {url}: it has no host"))),
    };
    egress
        .policy
        .check_literal(ip)
        .map_err(|d| denied(url.host_str().unwrap_or_default(), &d))
}

/// The script's headers, minus those describing the connection.
fn request_headers(flat: &[String]) -> Result<HeaderMap, HostError> {
    let mut headers = HeaderMap::new();
    for pair in flat.chunks_exact(2) {
        let name = pair[0].to_ascii_lowercase();
        if CONNECTION_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid(format!("invalid header name {:?}", pair[0])))?;
        let value = HeaderValue::from_bytes(&byte_string(&pair[1]))
            .map_err(|_| invalid(format!("invalid value for header {name}")))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// A header value as bytes: Latin-1 when every character fits (Web ByteString), else UTF-8.
fn byte_string(value: &str) -> Vec<u8> {
    if value.chars().all(|c| u32::from(c) <= 0xff) {
        value.chars().map(|c| c as u8).collect()
    } else {
        value.as_bytes().to_vec()
    }
}

/// A failed send: an egress denial raised by the resolver, or a network error.
fn send_error(url: &Url, error: &reqwest::Error) -> HostError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut chain = Vec::new();
    while let Some(e) = source {
        if let Some(denial) = e.downcast_ref::<Denied>() {
            return denied(&denial.host, denial);
        }
        chain.push(e.to_string());
        source = e.source();
    }
    chain.dedup();
    network(format!("{url}: {}", chain.join(": ")))
}
