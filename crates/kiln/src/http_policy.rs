//! HTTP hygiene applied to every request between the request-context layer and the [`Front`]:
//! the client's identity ([`ClientInfo`]: the real address behind trusted reverse proxies and
//! whether the request arrived over HTTPS) is put in the request extensions; responses get
//! security headers (`X-Content-Type-Options`, `Referrer-Policy`, HSTS on secure requests and,
//! on Kiln's own pages, `X-Frame-Options` and `Content-Security-Policy`) unless they already
//! carry them; global CORS (tower-http's `Cors`, which answers preflights itself) and response
//! compression (tower-http's `Compression`, gzip and brotli) wrap the inner service when
//! configured. Everything here is configured under `[http]` ([`HttpConfig`]); [`layer`]
//! builds the stack, and the validation of its settings ([`TrustedProxies::parse`],
//! [`cors_layer`]) is the one [`Config::validate`](crate::config::Config::validate) runs.
//!
//! [`Front`]: crate::front::Front

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::response::Response;
use futures::future::Either;
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use ipnet::IpNet;
use tower::Service;
use tower::util::MapResponse;
use tower_http::compression::predicate::And;
use tower_http::compression::{
    Compression, CompressionBody, CompressionLayer, DefaultPredicate, Predicate,
};
use tower_http::cors::{self, AllowHeaders, AllowMethods, AllowOrigin, Cors, CorsLayer};

use crate::config::{CorsConfig, HttpConfig, SecureMode};
use crate::error::ScriptResponse;

/// Who sent a request, as far as Kiln can tell: put in every request's extensions by the
/// [`HttpPolicy`] middleware. Read it with [`client_info`] or as an axum extractor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientInfo {
    /// The client's address: the TCP peer, or — when the peer is one of
    /// `http.trusted_proxies` — the right-most address of `X-Forwarded-For` that is not a
    /// trusted proxy. [`ClientInfo::UNKNOWN_IP`] (`0.0.0.0`) when the peer is unknown (a
    /// service called without a socket, as in-process tests do).
    pub ip: IpAddr,
    /// Whether the request arrived over HTTPS (per `http.secure`).
    pub secure: bool,
}

impl ClientInfo {
    /// The address reported when the peer is unknown: the unspecified address `0.0.0.0`.
    pub const UNKNOWN_IP: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

    /// The client of a request that did not come through a socket: [`ClientInfo::UNKNOWN_IP`],
    /// not secure.
    pub const UNKNOWN: ClientInfo = ClientInfo {
        ip: Self::UNKNOWN_IP,
        secure: false,
    };

    /// False when the address is [`ClientInfo::UNKNOWN_IP`]: callers keying anything on the
    /// address (rate limits, audit lines) should treat such requests as one anonymous client.
    pub fn is_known(&self) -> bool {
        !self.ip.is_unspecified()
    }
}

/// The client of a request, from its extensions (`request.extensions()` or
/// `parts.extensions`). Normally the [`ClientInfo`] the [`HttpPolicy`] middleware stored; for
/// a request that did not pass through it, the socket peer (`ConnectInfo`, not secure); for
/// one that did not come through a socket either (`oneshot` in tests),
/// [`ClientInfo::UNKNOWN`] — address `0.0.0.0`, which [`ClientInfo::is_known`] reports.
pub fn client_info(extensions: &http::Extensions) -> ClientInfo {
    if let Some(info) = extensions.get::<ClientInfo>() {
        return *info;
    }
    match extensions.get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) => ClientInfo {
            ip: peer.ip().to_canonical(),
            secure: false,
        },
        None => ClientInfo::UNKNOWN,
    }
}

/// `ClientInfo` as a handler argument; never rejects (see [`client_info`] for the fallback).
impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(client_info(&parts.extensions))
    }
}

/// The parsed `http.trusted_proxies`: addresses and CIDR ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
}

impl TrustedProxies {
    /// Parses IP addresses (`"127.0.0.1"`, `"::1"`) and CIDR ranges (`"10.0.0.0/8"`); the error
    /// names every entry that is neither.
    pub fn parse(entries: &[String]) -> Result<TrustedProxies, String> {
        let mut networks = Vec::with_capacity(entries.len());
        let mut bad = Vec::new();
        for entry in entries {
            let text = entry.trim();
            match text.parse::<IpNet>() {
                Ok(network) => networks.push(network),
                Err(_) => match text.parse::<IpAddr>() {
                    Ok(ip) => networks.push(IpNet::from(ip.to_canonical())),
                    Err(_) => bad.push(format!("{entry:?}")),
                },
            }
        }
        if bad.is_empty() {
            Ok(TrustedProxies { networks })
        } else {
            Err(format!(
                "{} {} not an IP address or CIDR range (expected entries like \"10.0.0.0/8\" or \
                 \"127.0.0.1\")",
                bad.join(", "),
                if bad.len() == 1 { "is" } else { "are" }
            ))
        }
    }

    /// True when no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// True when `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.networks.iter().any(|network| network.contains(&ip))
    }
}

/// Works out the client of a request from its TCP `peer` (`None` when unknown) and its
/// `headers`: the pure function behind the [`HttpPolicy`] middleware.
///
/// The forwarding headers are only believed when the peer is a trusted proxy. Then the client
/// is the right-most `X-Forwarded-For` address that is not itself a trusted proxy (each proxy
/// appends the address it received the request from, so addresses left of the first untrusted
/// one may be forged); if every listed address is trusted, the left-most one; an entry that is
/// not an address ends the walk (the address to its right is used). `secure` follows `mode`:
/// with [`SecureMode::Auto`] it is true when a trusted proxy sent `X-Forwarded-Proto: https`
/// (its first value, the scheme the client used).
pub fn resolve_client(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
    mode: SecureMode,
) -> ClientInfo {
    let peer = peer.map(|ip| ip.to_canonical());
    let from_proxy = peer.is_some_and(|ip| !trusted.is_empty() && trusted.contains(ip));
    let ip = match peer {
        Some(peer) if from_proxy => forwarded_client(peer, headers, trusted),
        Some(peer) => peer,
        None => ClientInfo::UNKNOWN_IP,
    };
    let secure = match mode {
        SecureMode::Always => true,
        SecureMode::Never => false,
        SecureMode::Auto => from_proxy && forwarded_https(headers),
    };
    ClientInfo { ip, secure }
}

/// The right-most untrusted `X-Forwarded-For` address (see [`resolve_client`]).
fn forwarded_client(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer;
    // Several header lines are one list, in order.
    for value in headers.get_all(X_FORWARDED_FOR).iter().rev() {
        let Ok(value) = value.to_str() else {
            return client;
        };
        for entry in value.rsplit(',') {
            let Some(ip) = parse_forwarded_address(entry) else {
                return client;
            };
            client = ip;
            if !trusted.contains(ip) {
                return client;
            }
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:80`,
/// `[2001:db8::1]:80`) or in brackets.
fn parse_forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
            inner.parse::<IpAddr>().ok()
        })?;
    Some(ip.to_canonical())
}

/// True when the first `X-Forwarded-Proto` value is `https`.
fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get(X_FORWARDED_PROTO)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Path prefixes (whole segments) of Kiln's own pages and API, which get the framing and
/// content-security headers on top of the ones every response gets.
const KILN_PAGES: [&str; 4] = ["/health", "/engine", "/auth", "/metrics"];

/// True when `path` is one of Kiln's own pages or APIs (`/health*`, `/engine*`, `/auth*`,
/// `/metrics`), as opposed to a script's.
pub fn is_kiln_page(path: &str) -> bool {
    KILN_PAGES.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// `Content-Security-Policy` of Kiln's own pages: nothing from elsewhere, no framing.
pub const KILN_PAGE_CSP: &str =
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
/// `Strict-Transport-Security` of secure responses: one year, subdomains included.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Which security headers a response gets (decided from the request).
#[derive(Clone, Copy, Debug)]
struct SecurityHeaders {
    kiln_page: bool,
    hsts: bool,
}

impl SecurityHeaders {
    /// Adds each header the response does not already have.
    fn apply(self, headers: &mut HeaderMap) {
        let mut add = |name: HeaderName, value: &'static str| {
            headers
                .entry(name)
                .or_insert_with(|| HeaderValue::from_static(value));
        };
        add(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        add(header::REFERRER_POLICY, "strict-origin-when-cross-origin");
        if self.kiln_page {
            add(header::X_FRAME_OPTIONS, "DENY");
            add(header::CONTENT_SECURITY_POLICY, KILN_PAGE_CSP);
        }
        if self.hsts {
            add(header::STRICT_TRANSPORT_SECURITY, HSTS);
        }
    }
}

/// The parsed `[http]` settings the [`HttpPolicy`] service applies per request.
#[derive(Debug)]
struct Settings {
    trusted: TrustedProxies,
    secure: SecureMode,
    security_headers: bool,
}

/// The middleware: stores [`ClientInfo`] in the request, routes it through CORS when that is
/// on, and adds the security headers to the response. One hand-written layer (no boxing, no
/// per-request allocation beyond the extension) since it wraps every request.
#[derive(Clone)]
pub struct HttpPolicy<S> {
    settings: Arc<Settings>,
    inner: S,
    /// `inner` behind tower-http's CORS layer, when `[http.cors]` lists allowed origins.
    cors: Option<Cors<S>>,
}

impl<S> Service<Request> for HttpPolicy<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = HttpPolicyFuture<cors::ResponseFuture<S::Future>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if let Some(cors) = &mut self.cors {
            ready!(cors.poll_ready(cx))?;
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let settings = &self.settings;
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip());
        let client = resolve_client(peer, request.headers(), &settings.trusted, settings.secure);
        // Without trusted proxies and with `secure` not forced on, `client_info`'s fallback
        // (the socket peer, not secure) is exactly this answer: skip the extension insert.
        if !settings.trusted.is_empty() || settings.secure == SecureMode::Always {
            request.extensions_mut().insert(client);
        }
        let headers = settings.security_headers.then(|| SecurityHeaders {
            kiln_page: is_kiln_page(request.uri().path()),
            hsts: client.secure,
        });
        let inner = match &mut self.cors {
            // tower-http answers every OPTIONS request as a preflight; only real preflights go
            // there, so scripts keep their own OPTIONS handlers.
            Some(cors) if request.method() != Method::OPTIONS || is_preflight(&request) => {
                Either::Left(cors.call(request))
            }
            _ => Either::Right(self.inner.call(request)),
        };
        HttpPolicyFuture { inner, headers }
    }
}

/// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
fn is_preflight(request: &Request) -> bool {
    request.method() == Method::OPTIONS
        && request.headers().contains_key(header::ORIGIN)
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

pin_project_lite::pin_project! {
    /// The response future of [`HttpPolicy`].
    pub struct HttpPolicyFuture<A, B> {
        #[pin]
        inner: Either<A, B>,
        headers: Option<SecurityHeaders>,
    }
}

impl<A, B, E> Future for HttpPolicyFuture<A, B>
where
    A: Future<Output = Result<Response, E>>,
    B: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(headers) = this.headers.take() {
            headers.apply(response.headers_mut());
        }
        Poll::Ready(Ok(response))
    }
}

/// The compression predicate: tower-http's default (no tiny bodies, images, gRPC or
/// `text/event-stream`) and [`NotKilnError`].
pub type CompressionPredicate = And<DefaultPredicate, NotKilnError>;

/// Leaves error responses Kiln renders itself uncompressed: the request-context layer (outside
/// compression) replaces their bodies with the JSON error, which must not inherit a
/// `Content-Encoding`. Error responses made by scripts are compressed like any other.
#[derive(Clone, Copy, Debug, Default)]
pub struct NotKilnError;

impl Predicate for NotKilnError {
    fn should_compress<B>(&self, response: &http::Response<B>) -> bool
    where
        B: HttpBody,
    {
        let status = response.status();
        !(status.is_client_error() || status.is_server_error())
            || response.extensions().get::<ScriptResponse>().is_some()
    }
}

/// Turns the compressed body back into axum's [`Body`].
type ToAxumBody = fn(http::Response<CompressionBody<Body>>) -> Response;

/// `S` behind tower-http's compression.
type CompressionOf<S> = MapResponse<Compression<S, CompressionPredicate>, ToAxumBody>;

/// `S` with response compression when `http.compression` is on. Requests whose
/// `Accept-Encoding` names neither gzip nor br skip the compression layer altogether: it would
/// only re-box their bodies (most API clients and load generators send no `Accept-Encoding`).
#[derive(Clone)]
pub struct Compressed<S> {
    compression: Option<CompressionOf<S>>,
    plain: S,
}

/// Whether the client accepts an encoding Kiln produces.
fn accepts_compression(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("gzip") || v.contains("br")
        })
}

impl<S> Service<Request> for Compressed<S>
where
    S: Service<Request, Response = Response> + Clone,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<<CompressionOf<S> as Service<Request>>::Future, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if let Some(compression) = &mut self.compression {
            ready!(compression.poll_ready(cx))?;
        }
        self.plain.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match &mut self.compression {
            Some(compression) if accepts_compression(request.headers()) => {
                Either::Left(compression.call(request))
            }
            _ => Either::Right(self.plain.call(request)),
        }
    }
}

/// The whole hygiene stack around `S` (see [`layer`]).
pub type Hygiene<S> = HttpPolicy<Compressed<S>>;

/// Wraps `inner` in the hygiene stack configured by `config`, outermost first:
/// [`HttpPolicy`] (client identity, security headers, CORS when configured), then compression
/// when configured. `config` is expected to be validated; if it is not, a bad
/// `trusted_proxies` list trusts nobody and a bad `[http.cors]` turns CORS off (both logged).
pub fn layer<S>(config: &HttpConfig, inner: S) -> Hygiene<S>
where
    S: Service<Request, Response = Response> + Clone,
{
    let compression = config.compression.then(|| {
        let layer =
            CompressionLayer::new().compress_when(DefaultPredicate::new().and(NotKilnError));
        let to_axum: ToAxumBody = |response| response.map(Body::new);
        MapResponse::new(tower::Layer::layer(&layer, inner.clone()), to_axum)
    });
    let inner = Compressed {
        compression,
        plain: inner,
    };
    let trusted = TrustedProxies::parse(&config.trusted_proxies).unwrap_or_else(|message| {
        tracing::error!(%message, "http.trusted_proxies is invalid: trusting no proxy");
        TrustedProxies::default()
    });
    let cors = cors_layer(&config.cors).unwrap_or_else(|problems| {
        tracing::error!(?problems, "[http.cors] is invalid: CORS is off");
        None
    });
    HttpPolicy {
        settings: Arc::new(Settings {
            trusted,
            secure: config.secure,
            security_headers: config.security_headers,
        }),
        cors: cors.map(|cors| tower::Layer::layer(&cors, inner.clone())),
        inner,
    }
}

/// Builds tower-http's CORS layer from `[http.cors]`: `None` when `allowed_origins` is empty
/// (CORS off). Errors are `(field, message)` pairs, every problem found; a configuration that
/// passes here never makes tower-http panic (no wildcard with credentials, no `*` inside a
/// list). With credentials, `["*"]` methods or headers mirror the preflight's request.
pub fn cors_layer(config: &CorsConfig) -> Result<Option<CorsLayer>, Vec<(&'static str, String)>> {
    fn note<T>(
        problems: &mut Vec<(&'static str, String)>,
        field: &'static str,
        result: Result<T, String>,
    ) -> Option<T> {
        result
            .map_err(|message| problems.push((field, message)))
            .ok()
    }
    let credentials = config.allow_credentials;
    let mut problems = Vec::new();
    let origins = allow_origin(&config.allowed_origins, credentials);
    let origins = note(&mut problems, "allowed_origins", origins);
    let methods = allow_methods(&config.allowed_methods, credentials);
    let methods = note(&mut problems, "allowed_methods", methods);
    let headers = allow_headers(&config.allowed_headers, credentials);
    let headers = note(&mut problems, "allowed_headers", headers);
    let expose = expose_headers(&config.expose_headers, credentials);
    let expose = note(&mut problems, "expose_headers", expose);
    let (Some(origins), Some(methods), Some(headers), Some(expose)) =
        (origins, methods, headers, expose)
    else {
        return Err(problems);
    };
    let Some(origins) = origins else {
        return Ok(None);
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods(methods)
            .allow_headers(headers)
            .expose_headers(expose)
            .allow_credentials(credentials)
            .max_age(Duration::from_secs(config.max_age_secs)),
    ))
}

/// True when `list` is `["*"]`; an error when `*` is one of several entries.
fn is_wildcard(list: &[String]) -> Result<bool, String> {
    match list.iter().any(|entry| entry.trim() == "*") {
        true if list.len() == 1 => Ok(true),
        true => Err("\"*\" must be the only entry when used".to_owned()),
        false => Ok(false),
    }
}

fn allow_origin(list: &[String], credentials: bool) -> Result<Option<AllowOrigin>, String> {
    if list.is_empty() {
        return Ok(None);
    }
    if is_wildcard(list)? {
        if credentials {
            return Err(
                "[\"*\"] (any origin) cannot be combined with allow_credentials = true \
                        (browsers refuse it); list the allowed origins instead"
                    .to_owned(),
            );
        }
        return Ok(Some(AllowOrigin::any()));
    }
    let origins = list
        .iter()
        .map(|entry| parse_origin(entry))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(AllowOrigin::list(origins)))
}

/// An origin exactly as browsers send it in `Origin`: `scheme://host[:port]`, lowercase, no
/// default port, no path.
fn parse_origin(entry: &str) -> Result<HeaderValue, String> {
    let not_an_origin =
        || format!("{entry:?} is not an origin (expected e.g. \"https://app.example.com\")");
    let url = url::Url::parse(entry.trim()).map_err(|_| not_an_origin())?;
    let origin = url.origin();
    if !origin.is_tuple() {
        return Err(not_an_origin());
    }
    let serialized = origin.ascii_serialization();
    if serialized != entry {
        return Err(format!(
            "{entry:?} does not match what browsers send as Origin; write {serialized:?}"
        ));
    }
    HeaderValue::from_str(&serialized).map_err(|_| not_an_origin())
}

fn allow_methods(list: &[String], credentials: bool) -> Result<AllowMethods, String> {
    if is_wildcard(list)? {
        return Ok(match credentials {
            true => AllowMethods::mirror_request(),
            false => AllowMethods::any(),
        });
    }
    let methods = list
        .iter()
        .map(|entry| {
            Method::from_bytes(entry.trim().as_bytes())
                .map_err(|_| format!("{entry:?} is not an HTTP method"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AllowMethods::list(methods))
}

fn header_names(list: &[String]) -> Result<Vec<HeaderName>, String> {
    list.iter()
        .map(|entry| {
            HeaderName::from_bytes(entry.trim().as_bytes())
                .map_err(|_| format!("{entry:?} is not a header name"))
        })
        .collect()
}

fn allow_headers(list: &[String], credentials: bool) -> Result<AllowHeaders, String> {
    if is_wildcard(list)? {
        return Ok(match credentials {
            true => AllowHeaders::mirror_request(),
            false => AllowHeaders::any(),
        });
    }
    Ok(AllowHeaders::list(header_names(list)?))
}

fn expose_headers(list: &[String], credentials: bool) -> Result<cors::ExposeHeaders, String> {
    if is_wildcard(list)? {
        if credentials {
            return Err(
                "[\"*\"] cannot be combined with allow_credentials = true (browsers refuse \
                 it); list the headers instead"
                    .to_owned(),
            );
        }
        return Ok(cors::ExposeHeaders::any());
    }
    Ok(cors::ExposeHeaders::list(header_names(list)?))
}

#[cfg(test)]
mod tests;
