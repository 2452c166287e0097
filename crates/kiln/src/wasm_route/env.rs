//! The request as CGI/1.1 meta-variables (RFC 3875 section 4.1) for a WebAssembly route: this
//! module owns which parts of an HTTP request a module sees in its environment, and how.
//!
//! - `REQUEST_METHOD`, `QUERY_STRING` (raw, without `?`), `REQUEST_URI` (raw path and query),
//!   `SERVER_PROTOCOL` (`HTTP/1.1`, `HTTP/2.0`…), `GATEWAY_INTERFACE=CGI/1.1`,
//!   `SERVER_SOFTWARE`, `SERVER_NAME` / `SERVER_PORT` (from `Host`, else the scheme's port),
//!   `REQUEST_SCHEME`, `HTTPS=on` over TLS, `REMOTE_ADDR` (the client as resolved behind trusted
//!   proxies);
//! - `SCRIPT_NAME` + `PATH_INFO` = the request path, percent-decoded: for a route ending in
//!   `/*`, `SCRIPT_NAME` is the part before the wildcard (the module's mount point) and
//!   `PATH_INFO` the rest with a leading `/`; for other routes `SCRIPT_NAME` is empty and
//!   `PATH_INFO` is the whole path;
//! - `CONTENT_TYPE` and `CONTENT_LENGTH` when the request has them / a body;
//! - `HTTP_<NAME>` for every other header (`-` → `_`, repeated headers joined with `, `) except
//!   credentials and headers that could be confused with others: `Authorization`, `Cookie`,
//!   `Proxy` and `Proxy-*` (httpoxy: `HTTP_PROXY` is read as a proxy setting by many HTTP
//!   clients), and any header whose name contains `_` (it would be indistinguishable from the
//!   `-` form, letting a client forge a header a trusted proxy sets);
//! - Kiln's own: `KILN_REQUEST_ID`, `KILN_SCRIPT`, `KILN_SCRIPT_VERSION`, `KILN_ROUTE`
//!   (`METHOD /pattern`), `KILN_PARAM_<NAME>` per route parameter (upper-cased; characters
//!   other than letters and digits become `_`) exactly as `ctx.params` has it, and
//!   `KILN_WILDCARD` for what a trailing `*` matched. The caller's identity is added by the
//!   route module (`REMOTE_USER`, `AUTH_TYPE`, `KILN_USER_*`, `KILN_API_KEY_*`).
//!
//! Nothing else from the host reaches the module: no server environment, no configuration.

use http::{HeaderMap, Method, Uri, Version, header};

/// `SERVER_SOFTWARE`.
const SERVER_SOFTWARE: &str = concat!("kiln/", env!("CARGO_PKG_VERSION"));

/// What the environment is built from.
pub struct CgiRequest<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request target (path and query as received).
    pub uri: &'a Uri,
    /// The HTTP version.
    pub version: Version,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// Length of the request body (already read).
    pub body_len: usize,
    /// The route's method as registered (`GET`, `ANY`…).
    pub route_method: &'a str,
    /// The route's path pattern as registered, e.g. `/app/*`.
    pub route_path: &'a str,
    /// The route parameters as matched (`*` for the wildcard).
    pub params: &'a [(String, String)],
    /// The client's address.
    pub remote_addr: String,
    /// Whether the request arrived over HTTPS.
    pub secure: bool,
    /// The request id Kiln answers with.
    pub request_id: &'a str,
    /// The script's name.
    pub script: &'a str,
    /// The script's version.
    pub version_number: i64,
}

/// The meta-variables for `request`, in a stable order.
pub fn environment(request: &CgiRequest<'_>) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::with_capacity(24 + request.headers.len());
    let mut set = |name: &str, value: String| env.push((name.to_owned(), value));
    set("GATEWAY_INTERFACE", "CGI/1.1".into());
    set("SERVER_SOFTWARE", SERVER_SOFTWARE.into());
    set("SERVER_PROTOCOL", protocol(request.version).into());
    let scheme = if request.secure { "https" } else { "http" };
    let (server_name, server_port) = server_name_and_port(request, scheme);
    set("SERVER_NAME", server_name);
    set("SERVER_PORT", server_port);
    set("REQUEST_SCHEME", scheme.into());
    if request.secure {
        set("HTTPS", "on".into());
    }
    set("REQUEST_METHOD", request.method.as_str().into());
    set(
        "REQUEST_URI",
        request.uri.path_and_query().map_or_else(
            || request.uri.path().to_owned(),
            |pq| pq.as_str().to_owned(),
        ),
    );
    let (script_name, path_info) = split_path(request);
    set("SCRIPT_NAME", script_name);
    set("PATH_INFO", path_info);
    set(
        "QUERY_STRING",
        request.uri.query().unwrap_or_default().to_owned(),
    );
    set("REMOTE_ADDR", request.remote_addr.clone());
    if let Some(content_type) = request.headers.get(header::CONTENT_TYPE) {
        set(
            "CONTENT_TYPE",
            String::from_utf8_lossy(content_type.as_bytes()).into_owned(),
        );
    }
    if request.body_len > 0 {
        set("CONTENT_LENGTH", request.body_len.to_string());
    }
    for name in request.headers.keys() {
        if !forwarded(name.as_str()) {
            continue;
        }
        let values: Vec<String> = request
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let var = format!(
            "HTTP_{}",
            name.as_str().to_ascii_uppercase().replace('-', "_")
        );
        set(&var, values.join(", "));
    }
    set("KILN_REQUEST_ID", request.request_id.to_owned());
    set("KILN_SCRIPT", request.script.to_owned());
    set("KILN_SCRIPT_VERSION", request.version_number.to_string());
    set(
        "KILN_ROUTE",
        format!("{} {}", request.route_method, request.route_path),
    );
    for (name, value) in request.params {
        if name == "*" {
            set("KILN_WILDCARD", value.clone());
        } else {
            set(&format!("KILN_PARAM_{}", param_var(name)), value.clone());
        }
    }
    env
}

/// Whether header `name` (lower-case) becomes an `HTTP_*` variable.
fn forwarded(name: &str) -> bool {
    !(name == header::AUTHORIZATION.as_str()
        || name == header::COOKIE.as_str()
        || name == header::CONTENT_TYPE.as_str()
        || name == header::CONTENT_LENGTH.as_str()
        || name.starts_with("proxy")
        || name.contains('_'))
}

/// A route parameter's name as a variable suffix: upper case, `[A-Z0-9_]` only.
fn param_var(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// `SERVER_NAME` and `SERVER_PORT` from the `Host` header (or the request target's authority).
fn server_name_and_port(request: &CgiRequest<'_>, scheme: &str) -> (String, String) {
    let default_port = if scheme == "https" { "443" } else { "80" };
    let host = request
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri.authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_else(|| "localhost".to_owned());
    // `[::1]:8080`, `example.com:8080`, `example.com`.
    let (name, port) = match host.rfind(':') {
        Some(colon) if !host[colon..].contains(']') => {
            (host[..colon].to_owned(), host[colon + 1..].to_owned())
        }
        _ => (host.clone(), default_port.to_owned()),
    };
    let port = if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
        port
    } else {
        default_port.to_owned()
    };
    (name, port)
}

/// `(SCRIPT_NAME, PATH_INFO)`, percent-decoded; see the module documentation.
fn split_path(request: &CgiRequest<'_>) -> (String, String) {
    let path = request.uri.path();
    if request.route_path.ends_with("/*") {
        let rest = request
            .params
            .iter()
            .find(|(name, _)| name == "*")
            .map_or("", |(_, value)| value.as_str());
        // `/app/*` matched `/app/a/b` (rest `a/b`) or the bare `/app/` (no rest).
        if let Some(prefix) = path.strip_suffix(rest)
            && let Some(mount) = prefix.strip_suffix('/')
        {
            return (percent_decode(mount), format!("/{}", percent_decode(rest)));
        }
    }
    (String::new(), percent_decode(path))
}

/// Decodes `%XX` escapes (invalid UTF-8 becomes U+FFFD). `%00` is kept as is: environment
/// variables cannot hold NUL.
fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => match (hex(h), hex(l)) {
                (Some(h), Some(l)) if h != 0 || l != 0 => Some(h * 16 + l),
                _ => None,
            },
            _ => None,
        };
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(digit: u8) -> Option<u8> {
    (digit as char)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    struct Fixture {
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        route: &'static str,
        params: Vec<(String, String)>,
    }

    fn fixture(method: &str, uri: &str, route: &str, params: &[(&str, &str)]) -> Fixture {
        Fixture {
            method: method.parse().expect("method"),
            uri: uri.parse().expect("uri"),
            headers: HeaderMap::new(),
            route: Box::leak(route.to_owned().into_boxed_str()),
            params: params
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn env_of(f: &Fixture, body_len: usize, secure: bool) -> Vec<(String, String)> {
        environment(&CgiRequest {
            method: &f.method,
            uri: &f.uri,
            version: Version::HTTP_11,
            headers: &f.headers,
            body_len,
            route_method: f.method.as_str(),
            route_path: f.route,
            params: &f.params,
            remote_addr: "203.0.113.9".into(),
            secure,
            request_id: "req-1",
            script: "app",
            version_number: 3,
        })
    }

    fn get<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
        env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn request_line_server_and_client_variables() {
        let mut f = fixture("POST", "/notes/7?x=1&y=%20", "/notes/:id", &[("id", "7")]);
        f.headers
            .insert(header::HOST, HeaderValue::from_static("example.com:8080"));
        f.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let env = env_of(&f, 12, false);
        for (name, value) in [
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("SERVER_NAME", "example.com"),
            ("SERVER_PORT", "8080"),
            ("REQUEST_SCHEME", "http"),
            ("REQUEST_METHOD", "POST"),
            ("REQUEST_URI", "/notes/7?x=1&y=%20"),
            ("SCRIPT_NAME", ""),
            ("PATH_INFO", "/notes/7"),
            ("QUERY_STRING", "x=1&y=%20"),
            ("REMOTE_ADDR", "203.0.113.9"),
            ("CONTENT_TYPE", "application/json"),
            ("CONTENT_LENGTH", "12"),
            ("KILN_REQUEST_ID", "req-1"),
            ("KILN_SCRIPT", "app"),
            ("KILN_SCRIPT_VERSION", "3"),
            ("KILN_ROUTE", "POST /notes/:id"),
            ("KILN_PARAM_ID", "7"),
        ] {
            assert_eq!(get(&env, name), Some(value), "{name}: {env:?}");
        }
        // Content-Type is not duplicated as a header variable; no TLS, no HTTPS.
        assert_eq!(get(&env, "HTTP_CONTENT_TYPE"), None);
        assert_eq!(get(&env, "HTTPS"), None);
        assert_eq!(get(&env, "HTTP_HOST"), Some("example.com:8080"));
    }

    #[test]
    fn no_body_means_no_content_length_and_https_sets_the_default_port() {
        let mut f = fixture("GET", "/", "/", &[]);
        f.headers
            .insert(header::HOST, HeaderValue::from_static("[::1]"));
        let env = env_of(&f, 0, true);
        assert_eq!(get(&env, "CONTENT_LENGTH"), None);
        assert_eq!(get(&env, "CONTENT_TYPE"), None);
        assert_eq!(get(&env, "QUERY_STRING"), Some(""));
        assert_eq!(get(&env, "SERVER_NAME"), Some("[::1]"));
        assert_eq!(get(&env, "SERVER_PORT"), Some("443"));
        assert_eq!(get(&env, "HTTPS"), Some("on"));
    }

    #[test]
    fn headers_become_http_variables_except_credentials_and_ambiguous_names() {
        let mut f = fixture("GET", "/h", "/h", &[]);
        for (name, value) in [
            ("x-custom-thing", "a"),
            ("accept", "text/html"),
            ("authorization", "Bearer kiln_secret"),
            ("cookie", "kiln_session=secret"),
            ("proxy", "http://evil.example"),
            ("proxy-authorization", "Basic secret"),
            ("x_forwarded_for", "forged"),
        ] {
            f.headers.append(
                http::HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        f.headers
            .append("x-custom-thing", HeaderValue::from_static("b"));
        let env = env_of(&f, 0, false);
        assert_eq!(get(&env, "HTTP_X_CUSTOM_THING"), Some("a, b"));
        assert_eq!(get(&env, "HTTP_ACCEPT"), Some("text/html"));
        for hidden in [
            "HTTP_AUTHORIZATION",
            "HTTP_COOKIE",
            "HTTP_PROXY",
            "HTTP_PROXY_AUTHORIZATION",
            "HTTP_X_FORWARDED_FOR",
        ] {
            assert_eq!(get(&env, hidden), None, "{hidden}");
        }
        assert!(
            !env.iter().any(|(_, v)| v.contains("secret")),
            "credentials leaked: {env:?}"
        );
    }

    #[test]
    fn wildcard_routes_split_script_name_and_path_info() {
        let f = fixture(
            "GET",
            "/app/docs/a%20b.txt",
            "/app/*",
            &[("*", "docs/a%20b.txt")],
        );
        let env = env_of(&f, 0, false);
        assert_eq!(get(&env, "SCRIPT_NAME"), Some("/app"));
        assert_eq!(get(&env, "PATH_INFO"), Some("/docs/a b.txt"));
        assert_eq!(get(&env, "KILN_WILDCARD"), Some("docs/a%20b.txt"));
        assert_eq!(get(&env, "REQUEST_URI"), Some("/app/docs/a%20b.txt"));

        // The bare mount point (no wildcard parameter).
        let f = fixture("GET", "/app/", "/app/*", &[]);
        let env = env_of(&f, 0, false);
        assert_eq!(get(&env, "SCRIPT_NAME"), Some("/app"));
        assert_eq!(get(&env, "PATH_INFO"), Some("/"));

        // A whole-site wildcard.
        let f = fixture("GET", "/x/y", "/*", &[("*", "x/y")]);
        let env = env_of(&f, 0, false);
        assert_eq!(get(&env, "SCRIPT_NAME"), Some(""));
        assert_eq!(get(&env, "PATH_INFO"), Some("/x/y"));
    }

    #[test]
    fn parameter_names_and_percent_decoding() {
        assert_eq!(param_var("userId"), "USERID");
        assert_eq!(param_var("$a_b"), "_A_B");
        assert_eq!(percent_decode("/a%2Fb%zz%4"), "/a/b%zz%4");
        assert_eq!(percent_decode("/nul%00x"), "/nul%00x");
        assert_eq!(percent_decode("/%C3%A9%FF"), "/é\u{fffd}");
    }
}
