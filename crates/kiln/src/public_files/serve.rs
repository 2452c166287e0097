//! The HTTP side of static assets: request paths decoded safely, conditional requests
//! (`If-None-Match`, `If-Modified-Since` → 304), single byte ranges (`Range`, `If-Range` →
//! 206, unsatisfiable → 416) and the caching headers. Compression is the global middleware's
//! (it leaves 206 answers alone).

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use super::Asset;
use crate::error::ApiError;
use crate::routing::RouteTable;

/// Assets may be cached but are revalidated on every use (a deploy changes them in place).
const CACHE_CONTROL: &str = "public, max-age=0, must-revalidate";

/// What the static files make of a request no route took.
pub enum StaticAnswer {
    /// An answer: the asset, a 304/206/416, a redirect to the directory, or a refused path.
    Answer(Response),
    /// No public file at this path.
    None,
}

/// The request path percent-decoded, or `None` when a segment decodes to something no bundle
/// path can hold — `.` or `..`, a `/`, a backslash, a control character such as NUL — or is
/// not UTF-8. Decoded paths are only ever looked up in the table's map, never joined onto a
/// directory, so this refuses early what could never match rather than guarding a filesystem.
pub fn decode_path(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    for (i, segment) in raw.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let decoded = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .ok()?;
        if decoded == "."
            || decoded == ".."
            || decoded
                .chars()
                .any(|c| c == '/' || c == '\\' || c.is_control())
        {
            return None;
        }
        out.push_str(&decoded);
    }
    Some(out)
}

/// Answers `method path` from the public files of `table` when one serves it. `route_exists`
/// is true when a route matched the path for other methods: then only GET/HEAD of an asset
/// are answered here, and a refused path is left to the route's 405.
pub fn answer(
    table: &RouteTable,
    method: &Method,
    raw_path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    route_exists: bool,
) -> StaticAnswer {
    let Some(path) = decode_path(raw_path) else {
        if route_exists {
            return StaticAnswer::None;
        }
        return StaticAnswer::Answer(
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_PATH",
                "the request path has an encoded '/', '\\', '.' or '..' segment, a control character or invalid UTF-8",
            )
            .into_response(),
        );
    };
    let read = *method == Method::GET || *method == Method::HEAD;
    if let Some(asset) = table.public_file(&path) {
        if read {
            return StaticAnswer::Answer(respond(headers, asset));
        }
        if route_exists {
            return StaticAnswer::None;
        }
        let mut response = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!("{method} is not allowed for the static file {path}; allowed: GET, HEAD"),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return StaticAnswer::Answer(response);
    }
    if read && !path.ends_with('/') && table.public_file(&format!("{path}/")).is_some() {
        let location = match query {
            Some(q) => format!("{raw_path}/?{q}"),
            None => format!("{raw_path}/"),
        };
        if let Ok(location) = HeaderValue::from_str(&location) {
            let mut response = StatusCode::MOVED_PERMANENTLY.into_response();
            response.headers_mut().insert(header::LOCATION, location);
            return StaticAnswer::Answer(response);
        }
    }
    StaticAnswer::None
}

fn header_str<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether an `If-None-Match` list names `etag` (weak comparison, as RFC 9110 asks for it).
fn none_match(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// Whether the client's copy is current: `If-None-Match` when sent, else `If-Modified-Since`.
fn not_modified(headers: &HeaderMap, asset: &Asset) -> bool {
    let etag = asset.etag.to_str().unwrap_or_default();
    if let Some(list) = header_str(headers, &header::IF_NONE_MATCH) {
        return none_match(list, etag);
    }
    header_str(headers, &header::IF_MODIFIED_SINCE)
        .and_then(|since| httpdate::parse_http_date(since).ok())
        .is_some_and(|since| asset.last_modified <= since)
}

/// A single satisfiable range of a body of `len` bytes, inclusive.
#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// No usable `Range` header (absent, malformed, several ranges): the whole body.
    Whole,
    /// `first..=last`.
    Part(u64, u64),
    /// The range lies outside the body.
    Unsatisfiable,
}

fn parse_range(value: &str, len: u64) -> Range {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Range::Whole;
    };
    if spec.contains(',') {
        // Several ranges would need multipart/byteranges; the whole body is a valid answer.
        return Range::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Range::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // `-n`: the last n bytes.
        return match last.parse::<u64>() {
            Ok(0) => Range::Unsatisfiable,
            Ok(_) if len == 0 => Range::Unsatisfiable,
            Ok(n) => Range::Part(len.saturating_sub(n), len - 1),
            Err(_) => Range::Whole,
        };
    }
    let Ok(first) = first.parse::<u64>() else {
        return Range::Whole;
    };
    let last = if last.is_empty() {
        u64::MAX
    } else {
        match last.parse::<u64>() {
            Ok(l) if l >= first => l,
            _ => return Range::Whole,
        }
    };
    if first >= len {
        return Range::Unsatisfiable;
    }
    Range::Part(first, last.min(len - 1))
}

/// Whether `If-Range` (when sent) still names this asset, so the range applies.
fn if_range_holds(headers: &HeaderMap, asset: &Asset, last_modified: &str) -> bool {
    match header_str(headers, &header::IF_RANGE) {
        None => true,
        Some(value) => value == asset.etag || value == last_modified,
    }
}

fn respond(headers: &HeaderMap, asset: &Asset) -> Response {
    let last_modified = httpdate::fmt_http_date(asset.last_modified);
    let mut common = HeaderMap::new();
    common.insert(header::ETAG, asset.etag.clone());
    if let Ok(value) = HeaderValue::from_str(&last_modified) {
        common.insert(header::LAST_MODIFIED, value);
    }
    common.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    common.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));

    if not_modified(headers, asset) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().extend(common);
        return response;
    }
    let len = asset.body.len() as u64;
    let range = match header_str(headers, &header::RANGE) {
        Some(value) if if_range_holds(headers, asset, &last_modified) => parse_range(value, len),
        _ => Range::Whole,
    };
    let mut response = match range {
        Range::Whole => Response::new(Body::from(asset.body.clone())),
        Range::Part(first, last) => {
            let (start, end) = (first as usize, last as usize + 1);
            let mut response = Response::new(Body::from(asset.body.slice(start..end)));
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(value) = HeaderValue::from_str(&format!("bytes {first}-{last}/{len}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            response
        }
        Range::Unsatisfiable => {
            let mut response = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "RANGE_NOT_SATISFIABLE",
                format!("the requested range lies outside the file ({len} bytes)"),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            response.headers_mut().extend(common);
            return response;
        }
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, asset.content_type.clone());
    response.headers_mut().extend(common);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_like_rfc_9110() {
        assert_eq!(parse_range("bytes=0-3", 10), Range::Part(0, 3));
        assert_eq!(parse_range("bytes=4-", 10), Range::Part(4, 9));
        assert_eq!(parse_range("bytes=-3", 10), Range::Part(7, 9));
        assert_eq!(parse_range("bytes=-30", 10), Range::Part(0, 9));
        assert_eq!(parse_range("bytes=5-100", 10), Range::Part(5, 9));
        assert_eq!(parse_range("bytes=10-", 10), Range::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 10), Range::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,3-4", 10), Range::Whole);
        assert_eq!(parse_range("bytes=3-1", 10), Range::Whole);
        assert_eq!(parse_range("items=0-1", 10), Range::Whole);
    }

    #[test]
    fn encoded_traversal_and_separators_are_refused() {
        assert_eq!(
            decode_path("/css/a%20b.css").as_deref(),
            Some("/css/a b.css")
        );
        assert_eq!(decode_path("/docs/").as_deref(), Some("/docs/"));
        for bad in [
            "/..%2f..%2fmain.js",
            "/%2e%2e/main.js",
            "/a/%2E%2E",
            "/a%5cb",
            "/a%00",
            "/../x",
            "/%ff",
        ] {
            assert_eq!(decode_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn if_none_match_lists_and_wildcards_match() {
        assert!(none_match("\"a\", \"b\"", "\"b\""));
        assert!(none_match("W/\"b\"", "\"b\""));
        assert!(none_match("*", "\"b\""));
        assert!(!none_match("\"c\"", "\"b\""));
    }
}
