//! `fetch` for scripts: the `fetch` host operation. Each script is held to its egress policy
//! ([`super::egress`]) through a pooled HTTP client whose DNS resolver applies it, so the check
//! covers the addresses actually connected to; literal IP hosts are checked here. Redirects are
//! followed here (at most [`MAX_REDIRECTS`]), each hop checked and counted again. Per
//! invocation (keyed by request id) the number of requests and those in flight are limited;
//! per request, the time and the response size. Bodies are buffered up to the limit and
//! handed to the script as the result's binary part. Failures are logged to the script's log
//! with the request id by [`super::ScriptServices`], as for every operation.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use kiln_js::{HostCall, HostError, HostResult};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use url::{Host, Url};

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

/// What one invocation has used: requests started, and permits for those in flight.
struct InvocationUse {
    started: AtomicU32,
    in_flight: Arc<Semaphore>,
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
        let egress = self
            .scripts
            .get(&call.script.name)
            .unwrap_or(&self.global)
            .clone();
        let usage = self.usage(&call, &egress.config);
        let reply = call.reply.clone();
        let timeout = Duration::from_millis(egress.config.timeout_ms);
        let task = {
            let egress = egress.clone();
            let args = call.args.clone();
            let body = call.bytes.clone();
            async move {
                let work = async {
                    // Waiting for a free slot counts against the request's time.
                    let _permit = usage
                        .in_flight
                        .acquire()
                        .await
                        .map_err(|_| network("the request was cancelled"))?;
                    fetch(&egress, &usage, args, body).await
                };
                match tokio::time::timeout(timeout, work).await {
                    Ok(result) => result,
                    Err(_) => Err(HostError::new(
                        "FETCH_TIMEOUT",
                        format!(
                            "the request took longer than {} ms (egress.timeout_ms)",
                            egress.config.timeout_ms
                        ),
                    )),
                }
            }
        };
        let result = match &self.runtime {
            Some(runtime) => {
                let handle = runtime.spawn(task);
                // The script may give up on the request (an aborted signal): dropping this
                // future then stops the request on the other runtime too.
                let _abort = AbortOnDrop(handle.abort_handle());
                handle
                    .await
                    .unwrap_or_else(|_| Err(network("the request was cancelled")))
            }
            None => task.await,
        };
        let (value, body) = result?;
        reply.set(body);
        Ok(value)
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

/// Performs the request, following redirects; returns the result JSON and the body.
async fn fetch(
    egress: &Egress,
    usage: &InvocationUse,
    args: Value,
    mut body: Option<Bytes>,
) -> Result<(Value, Bytes), HostError> {
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
        return read_response(egress, response, &url, redirected).await;
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

/// Reads the body (up to the limit) and describes the response for the prelude.
async fn read_response(
    egress: &Egress,
    mut response: reqwest::Response,
    url: &Url,
    redirected: bool,
) -> Result<(Value, Bytes), HostError> {
    let max = egress.config.max_response_bytes;
    let too_large = || {
        limit(format!(
            "the response from {url} is larger than {max} bytes (egress.max_response_bytes)"
        ))
    };
    if response.content_length().is_some_and(|len| len > max) {
        return Err(too_large());
    }
    let status = response.status();
    let mut headers = Vec::with_capacity(response.headers().len() * 2);
    for (name, value) in response.headers() {
        headers.push(name.as_str().to_owned());
        headers.push(value.as_bytes().iter().map(|&b| char::from(b)).collect());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| send_error(url, &e))? {
        if (body.len() + chunk.len()) as u64 > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let value = json!({
        "status": status.as_u16(),
        "statusText": status.canonical_reason().unwrap_or_default(),
        "headers": headers,
        "url": url.as_str(),
        "redirected": redirected,
    });
    Ok((value, Bytes::from(body)))
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
