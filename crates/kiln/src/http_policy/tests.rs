//! Unit tests for client identity (the pure resolver and the middleware), security headers and
//! the CORS settings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use tower::ServiceExt as _;

fn trusted(entries: &[&str]) -> TrustedProxies {
    let entries: Vec<String> = entries.iter().map(|s| (*s).to_owned()).collect();
    TrustedProxies::parse(&entries).unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// The client address resolved for `peer` sending `xff` through `proxies`.
fn client_ip(peer: &str, xff: &[&str], proxies: &[&str]) -> IpAddr {
    let pairs: Vec<(&str, &str)> = xff.iter().map(|v| ("x-forwarded-for", *v)).collect();
    resolve_client(
        Some(ip(peer)),
        &headers(&pairs),
        &trusted(proxies),
        SecureMode::Auto,
    )
    .ip
}

#[test]
fn forwarded_for_is_ignored_from_untrusted_peers() {
    assert_eq!(
        client_ip("198.51.100.9", &["203.0.113.7"], &[]),
        ip("198.51.100.9")
    );
    assert_eq!(
        client_ip("198.51.100.9", &["203.0.113.7"], &["10.0.0.0/8"]),
        ip("198.51.100.9"),
        "the peer is not a trusted proxy"
    );
}

#[test]
fn forwarded_for_from_trusted_peers_gives_the_rightmost_untrusted_address() {
    let proxies = ["10.0.0.0/8", "127.0.0.1"];
    assert_eq!(
        client_ip("10.0.0.1", &["203.0.113.7"], &proxies),
        ip("203.0.113.7")
    );
    // A forged left part is skipped: the first untrusted address from the right wins.
    assert_eq!(
        client_ip("127.0.0.1", &["1.1.1.1, 203.0.113.7, 10.1.2.3"], &proxies),
        ip("203.0.113.7")
    );
    // Several header lines are one list.
    assert_eq!(
        client_ip(
            "10.0.0.1",
            &["1.1.1.1", "203.0.113.7", "10.9.9.9"],
            &proxies
        ),
        ip("203.0.113.7")
    );
    // Every hop trusted: the left-most.
    assert_eq!(
        client_ip("10.0.0.1", &["10.0.0.3, 10.0.0.2"], &proxies),
        ip("10.0.0.3")
    );
    // No header: the proxy itself.
    assert_eq!(client_ip("10.0.0.1", &[], &proxies), ip("10.0.0.1"));
    // Garbage ends the walk; the address to its right is used.
    assert_eq!(
        client_ip("10.0.0.1", &["1.1.1.1, unknown, 10.0.0.2"], &proxies),
        ip("10.0.0.2")
    );
    assert_eq!(
        client_ip("10.0.0.1", &["nonsense"], &proxies),
        ip("10.0.0.1")
    );
    // Ports, brackets and IPv6.
    assert_eq!(
        client_ip("10.0.0.1", &["203.0.113.7:4711"], &proxies),
        ip("203.0.113.7")
    );
    assert_eq!(
        client_ip("10.0.0.1", &["[2001:db8::1]:443"], &proxies),
        ip("2001:db8::1")
    );
    assert_eq!(
        client_ip("10.0.0.1", &["[2001:db8::2]"], &proxies),
        ip("2001:db8::2")
    );
    assert_eq!(
        client_ip("fd00::1", &["2001:db8::3"], &["fd00::/8"]),
        ip("2001:db8::3")
    );
    // An IPv4-mapped IPv6 peer (dual-stack socket) counts as its IPv4 address.
    assert_eq!(
        client_ip("::ffff:10.0.0.1", &["203.0.113.7"], &proxies),
        ip("203.0.113.7")
    );
    assert_eq!(client_ip("::ffff:192.0.2.1", &[], &[]), ip("192.0.2.1"));
}

#[test]
fn secure_follows_the_mode_and_trusted_forwarded_proto() {
    let proxies = trusted(&["10.0.0.0/8"]);
    let secure = |peer: &str, proto: Option<&str>, mode: SecureMode| {
        let pairs: Vec<(&str, &str)> = proto
            .map(|p| ("x-forwarded-proto", p))
            .into_iter()
            .collect();
        resolve_client(Some(ip(peer)), &headers(&pairs), &proxies, mode).secure
    };
    assert!(secure("10.0.0.1", Some("https"), SecureMode::Auto));
    assert!(secure("10.0.0.1", Some("HTTPS, http"), SecureMode::Auto));
    assert!(!secure("10.0.0.1", Some("http"), SecureMode::Auto));
    assert!(!secure("10.0.0.1", None, SecureMode::Auto));
    assert!(
        !secure("192.0.2.1", Some("https"), SecureMode::Auto),
        "untrusted peers cannot claim HTTPS"
    );
    assert!(secure("192.0.2.1", None, SecureMode::Always));
    assert!(!secure("10.0.0.1", Some("https"), SecureMode::Never));
}

#[test]
fn unknown_peers_are_the_unspecified_address() {
    let info = resolve_client(
        None,
        &headers(&[("x-forwarded-for", "203.0.113.7")]),
        &trusted(&["0.0.0.0/0"]),
        SecureMode::Auto,
    );
    assert_eq!(info, ClientInfo::UNKNOWN);
    assert!(!info.is_known());
    assert_eq!(client_info(&http::Extensions::new()), ClientInfo::UNKNOWN);
    let mut extensions = http::Extensions::new();
    extensions.insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 5], 999))));
    assert_eq!(
        client_info(&extensions),
        ClientInfo {
            ip: ip("192.0.2.5"),
            secure: false
        }
    );
    let stored = ClientInfo {
        ip: ip("203.0.113.7"),
        secure: true,
    };
    extensions.insert(stored);
    assert_eq!(client_info(&extensions), stored);
    assert!(stored.is_known());
}

#[test]
fn trusted_proxies_name_every_bad_entry() {
    let entries: Vec<String> = ["10.0.0.0/8", " 127.0.0.1 ", "::1", "fd00::/8"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let proxies = TrustedProxies::parse(&entries).unwrap();
    assert!(proxies.contains(ip("10.200.0.1")));
    assert!(proxies.contains(ip("127.0.0.1")));
    assert!(proxies.contains(ip("::ffff:127.0.0.1")));
    assert!(!proxies.contains(ip("127.0.0.2")));
    assert!(!proxies.contains(ip("11.0.0.1")));
    let entries: Vec<String> = ["10.0.0.0/33", "127.0.0.1", "localhost"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(
        TrustedProxies::parse(&entries).unwrap_err(),
        "\"10.0.0.0/33\", \"localhost\" are not an IP address or CIDR range (expected entries \
         like \"10.0.0.0/8\" or \"127.0.0.1\")"
    );
}

#[test]
fn kiln_pages_are_whole_segments() {
    for path in [
        "/health",
        "/health/live",
        "/engine",
        "/engine/api/scripts",
        "/auth",
        "/auth/login",
        "/metrics",
    ] {
        assert!(is_kiln_page(path), "{path}");
    }
    for path in [
        "/",
        "/healthz",
        "/engineer",
        "/authors",
        "/metricsx",
        "/x/health",
    ] {
        assert!(!is_kiln_page(path), "{path}");
    }
}

fn cors(origins: &[&str], credentials: bool) -> CorsConfig {
    CorsConfig {
        allowed_origins: origins.iter().map(|s| (*s).to_owned()).collect(),
        allow_credentials: credentials,
        ..CorsConfig::default()
    }
}

fn cors_problems(config: &CorsConfig) -> Vec<String> {
    match cors_layer(config) {
        Ok(_) => Vec::new(),
        Err(problems) => problems
            .into_iter()
            .map(|(field, message)| format!("{field}: {message}"))
            .collect(),
    }
}

#[test]
fn cors_settings_are_validated() {
    assert!(cors_layer(&CorsConfig::default()).unwrap().is_none(), "off");
    assert!(cors_layer(&cors(&["*"], false)).unwrap().is_some());
    assert!(
        cors_layer(&cors(
            &["https://app.example.com", "http://localhost:3000"],
            true
        ))
        .unwrap()
        .is_some()
    );
    let problems = cors_problems(&cors(&["*"], true));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("allowed_origins: [\"*\"] (any origin) cannot be combined"),
        "{problems:?}"
    );
    assert_eq!(
        cors_problems(&cors(&["https://a.example", "*"], false)),
        ["allowed_origins: \"*\" must be the only entry when used"]
    );
    assert_eq!(
        cors_problems(&cors(&["https://App.example.com/"], false)),
        [
            "allowed_origins: \"https://App.example.com/\" does not match what browsers send as \
          Origin; write \"https://app.example.com\""
        ]
    );
    assert_eq!(
        cors_problems(&cors(&["app.example.com"], false)),
        [
            "allowed_origins: \"app.example.com\" is not an origin (expected e.g. \
          \"https://app.example.com\")"
        ]
    );
    let config = CorsConfig {
        allowed_methods: vec!["GET".into(), "BAD METHOD".into()],
        allowed_headers: vec!["x-ok".into(), "bad header".into()],
        expose_headers: vec!["*".into()],
        ..cors(&["https://a.example"], true)
    };
    let problems = cors_problems(&config);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert_eq!(
        problems[0],
        "allowed_methods: \"BAD METHOD\" is not an HTTP method"
    );
    assert_eq!(
        problems[1],
        "allowed_headers: \"bad header\" is not a header name"
    );
    assert!(problems[2].starts_with("expose_headers: [\"*\"] cannot be combined"));
    // With credentials, "*" methods and headers mirror the request instead of panicking.
    let config = CorsConfig {
        allowed_methods: vec!["*".into()],
        allowed_headers: vec!["*".into()],
        ..cors(&["https://a.example"], true)
    };
    let layer = cors_layer(&config).unwrap().unwrap();
    let _service = tower::Layer::layer(&layer, tower::service_fn(echo_client));
}

/// An inner service answering with the client it was given, in headers.
async fn echo_client(request: Request) -> Result<Response, Infallible> {
    let info = client_info(request.extensions());
    let mut response = Response::new(Body::from(
        request.method().as_str().to_owned() + " reached the inner service",
    ));
    let headers = response.headers_mut();
    headers.insert("x-client-ip", info.ip.to_string().parse().unwrap());
    headers.insert("x-client-secure", info.secure.to_string().parse().unwrap());
    if request.uri().path() == "/own-headers" {
        headers.insert(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    Ok(response)
}

async fn call(config: &HttpConfig, request: http::Request<Body>) -> Response {
    let service = layer(config, tower::service_fn(echo_client));
    service.oneshot(request).await.unwrap()
}

fn request(method: &str, path: &str, peer: Option<&str>, pairs: &[(&str, &str)]) -> Request {
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    *request.headers_mut() = headers(pairs);
    if let Some(peer) = peer {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip(peer), 40000)));
    }
    request
}

fn header_of<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn the_middleware_stores_the_client_and_adds_security_headers() {
    let config = HttpConfig {
        trusted_proxies: vec!["10.0.0.0/8".into()],
        ..HttpConfig::default()
    };
    let forwarded = [
        ("x-forwarded-for", "203.0.113.7"),
        ("x-forwarded-proto", "https"),
    ];
    let response = call(
        &config,
        request("GET", "/app", Some("10.0.0.1"), &forwarded),
    )
    .await;
    assert_eq!(header_of(&response, "x-client-ip"), Some("203.0.113.7"));
    assert_eq!(header_of(&response, "x-client-secure"), Some("true"));
    assert_eq!(
        header_of(&response, "x-content-type-options"),
        Some("nosniff")
    );
    assert_eq!(
        header_of(&response, "referrer-policy"),
        Some("strict-origin-when-cross-origin")
    );
    assert_eq!(
        header_of(&response, "strict-transport-security"),
        Some(HSTS)
    );
    assert_eq!(header_of(&response, "x-frame-options"), None, "script path");
    assert_eq!(header_of(&response, "content-security-policy"), None);

    let response = call(
        &config,
        request("GET", "/app", Some("192.0.2.1"), &forwarded),
    )
    .await;
    assert_eq!(header_of(&response, "x-client-ip"), Some("192.0.2.1"));
    assert_eq!(header_of(&response, "x-client-secure"), Some("false"));
    assert_eq!(header_of(&response, "strict-transport-security"), None);

    let response = call(&config, request("GET", "/health", None, &[])).await;
    assert_eq!(header_of(&response, "x-client-ip"), Some("0.0.0.0"));
    assert_eq!(header_of(&response, "x-frame-options"), Some("DENY"));
    assert_eq!(
        header_of(&response, "content-security-policy"),
        Some(KILN_PAGE_CSP)
    );

    let response = call(&config, request("GET", "/own-headers", None, &[])).await;
    assert_eq!(header_of(&response, "x-frame-options"), Some("SAMEORIGIN"));
    assert_eq!(header_of(&response, "referrer-policy"), Some("no-referrer"));

    let off = HttpConfig {
        security_headers: false,
        secure: SecureMode::Always,
        ..HttpConfig::default()
    };
    let response = call(&off, request("GET", "/health", None, &[])).await;
    assert_eq!(header_of(&response, "x-client-secure"), Some("true"));
    for name in [
        "x-content-type-options",
        "referrer-policy",
        "x-frame-options",
        "content-security-policy",
        "strict-transport-security",
    ] {
        assert_eq!(header_of(&response, name), None, "{name}");
    }
}

#[tokio::test]
async fn only_real_preflights_are_answered_by_the_cors_layer() {
    let config = HttpConfig {
        cors: cors(&["https://app.example.com"], false),
        ..HttpConfig::default()
    };
    let preflight = [
        ("origin", "https://app.example.com"),
        ("access-control-request-method", "PUT"),
    ];
    let response = call(&config, request("OPTIONS", "/x", None, &preflight)).await;
    assert_eq!(
        header_of(&response, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(header_of(&response, "access-control-max-age"), Some("600"));
    assert_eq!(
        header_of(&response, "x-content-type-options"),
        Some("nosniff")
    );
    assert_eq!(
        header_of(&response, "x-client-ip"),
        None,
        "answered by the layer"
    );
    let response = call(&config, request("OPTIONS", "/x", None, &[])).await;
    assert_eq!(
        header_of(&response, "x-client-ip"),
        Some("0.0.0.0"),
        "reached the inner service"
    );
    let origin = [("origin", "https://app.example.com")];
    let response = call(&config, request("GET", "/x", None, &origin)).await;
    assert_eq!(
        header_of(&response, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(
        header_of(&response, "access-control-expose-headers")
            .is_some_and(|v| v.contains("x-request-id") && v.contains("retry-after"))
    );
}
