//! A WebAssembly route's stdout as a CGI response (RFC 3875 section 6): this module owns
//! parsing it into a status, headers and body, and saying precisely what is wrong when it
//! cannot.
//!
//! The output is header lines (`Name: value`, ended by `\n` or `\r\n`), one blank line, then
//! the body, byte for byte. Rules:
//! - `Status: 404 Not Found` (or just `Status: 404`) sets the status (200–599); without it a
//!   `Location` header makes a 302, anything else a 200. `Location` is always sent to the client
//!   (Kiln does not perform RFC 3875's server-side "local redirects").
//! - A body without `Content-Type` is sent as `application/octet-stream` (lenient where RFC
//!   3875 says the header is required; never sniffed as HTML).
//! - Other headers are passed through in order (repeats such as `Set-Cookie` kept), except the
//!   hop-by-hop ones (`Connection`, `Keep-Alive`, `Transfer-Encoding`, `TE`, `Trailer`,
//!   `Upgrade`, `Proxy-Connection`) and the ones Kiln sets itself (`Content-Length`,
//!   `x-request-id`, `Date`, `Server`), which are dropped.
//! - Anything else — a line that is not a header, a folded continuation line, an invalid name or
//!   value, a bad or repeated `Status`, no blank line after the headers, headers longer than
//!   [`MAX_HEADER_BYTES`], a body longer than the route's limit — is a [`CgiError`] naming the
//!   line and the problem (the route answers 502).

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};

use crate::error::REQUEST_ID_HEADER;

/// Longest header section a module may write: stops a module that never writes the blank line
/// from having its whole output scanned as headers.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Content type of a body the module did not label.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Headers dropped from the module's output: hop-by-hop headers and those Kiln sets.
const DROPPED: [&str; 11] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "content-length",
    REQUEST_ID_HEADER,
    "date",
    "server",
];

/// A parsed CGI response.
#[derive(Debug)]
pub struct CgiResponse {
    /// The status (from `Status`, `Location`, or 200).
    pub status: StatusCode,
    /// Headers to send.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// Why the output is not a valid CGI response. The messages are for the module's author.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CgiError {
    /// Nothing on stdout.
    #[error(
        "the module wrote nothing to stdout (expected CGI headers, a blank line, then the body)"
    )]
    Empty,
    /// The output ended inside the headers.
    #[error(
        "the headers are not followed by a blank line (write \"Content-Type: text/plain\\n\\n\" before the body)"
    )]
    NoBlankLine,
    /// The header section is too long.
    #[error(
        "the headers are longer than {MAX_HEADER_BYTES} bytes (is the blank line after them missing?)"
    )]
    HeadersTooLong,
    /// A line is not `Name: value`.
    #[error("line {line}: '{text}' is not a header (expected 'Name: value')")]
    NotAHeader {
        /// 1-based line number.
        line: usize,
        /// The line (shortened).
        text: String,
    },
    /// An obsolete folded continuation line.
    #[error("line {line}: folded header lines (starting with a space or tab) are not supported")]
    Folded {
        /// 1-based line number.
        line: usize,
    },
    /// The name is not an HTTP token.
    #[error("line {line}: '{name}' is not a valid header name")]
    BadName {
        /// 1-based line number.
        line: usize,
        /// The name (shortened).
        name: String,
    },
    /// The value has bytes HTTP does not allow.
    #[error("line {line}: the value of '{name}' is not a valid header value")]
    BadValue {
        /// 1-based line number.
        line: usize,
        /// The header's name.
        name: String,
    },
    /// `Status` is not a 3-digit code in 200..=599.
    #[error(
        "line {line}: invalid Status '{value}' (expected a code from 200 to 599, e.g. 'Status: 404 Not Found')"
    )]
    BadStatus {
        /// 1-based line number.
        line: usize,
        /// The value (shortened).
        value: String,
    },
    /// `Status` appears twice.
    #[error("line {line}: Status is given more than once")]
    DuplicateStatus {
        /// 1-based line number.
        line: usize,
    },
    /// The body is larger than the route allows.
    #[error("the response body is {size} bytes; the limit is {limit} bytes")]
    BodyTooLarge {
        /// Body size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// Parses `stdout` into a response whose body is at most `max_body` bytes.
pub fn parse(stdout: &[u8], max_body: usize) -> Result<CgiResponse, CgiError> {
    if stdout.is_empty() {
        return Err(CgiError::Empty);
    }
    let mut headers = HeaderMap::new();
    let mut status: Option<StatusCode> = None;
    let mut offset = 0;
    let mut line_number = 0;
    let body_start = loop {
        if offset > MAX_HEADER_BYTES {
            return Err(CgiError::HeadersTooLong);
        }
        let Some(end) = stdout[offset..].iter().position(|&b| b == b'\n') else {
            return Err(if stdout.len() - offset > MAX_HEADER_BYTES {
                CgiError::HeadersTooLong
            } else {
                CgiError::NoBlankLine
            });
        };
        line_number += 1;
        let raw = &stdout[offset..offset + end];
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        offset += end + 1;
        if line.is_empty() {
            break offset;
        }
        if offset > MAX_HEADER_BYTES {
            return Err(CgiError::HeadersTooLong);
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            return Err(CgiError::Folded { line: line_number });
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(CgiError::NotAHeader {
                line: line_number,
                text: shorten(line),
            });
        };
        let name = &line[..colon];
        let value = trim(&line[colon + 1..]);
        if name.eq_ignore_ascii_case(b"status") {
            if status.is_some() {
                return Err(CgiError::DuplicateStatus { line: line_number });
            }
            status = Some(parse_status(value).ok_or_else(|| CgiError::BadStatus {
                line: line_number,
                value: shorten(value),
            })?);
            continue;
        }
        let name = HeaderName::from_bytes(name).map_err(|_| CgiError::BadName {
            line: line_number,
            name: shorten(name),
        })?;
        let value = HeaderValue::from_bytes(value).map_err(|_| CgiError::BadValue {
            line: line_number,
            name: name.as_str().to_owned(),
        })?;
        if DROPPED.contains(&name.as_str()) {
            continue;
        }
        headers.append(name, value);
    };
    let body = &stdout[body_start..];
    if body.len() > max_body {
        return Err(CgiError::BodyTooLarge {
            size: body.len(),
            limit: max_body,
        });
    }
    let status = status.unwrap_or(if headers.contains_key(header::LOCATION) {
        StatusCode::FOUND
    } else {
        StatusCode::OK
    });
    if !body.is_empty() && !headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(DEFAULT_CONTENT_TYPE),
        );
    }
    Ok(CgiResponse {
        status,
        headers,
        body: Bytes::copy_from_slice(body),
    })
}

/// `404`, `404 Not Found` → 404, when in 200..=599.
fn parse_status(value: &[u8]) -> Option<StatusCode> {
    let code = value.split(|&b| b == b' ').next()?;
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let status = StatusCode::from_bytes(code).ok()?;
    (200..=599).contains(&status.as_u16()).then_some(status)
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    &bytes[start..end.max(start)]
}

/// A line for an error message: lossy UTF-8, at most 60 characters.
fn shorten(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut chars = text.chars();
    let short: String = chars.by_ref().take(60).collect();
    if chars.next().is_some() {
        format!("{short}…")
    } else {
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(output: &str) -> CgiResponse {
        parse(output.as_bytes(), 1024).expect("valid CGI output")
    }

    fn err(output: &[u8]) -> String {
        parse(output, 1024)
            .expect_err("invalid CGI output")
            .to_string()
    }

    #[test]
    fn headers_blank_line_and_body_with_either_line_ending() {
        for output in [
            "Content-Type: text/plain\n\nhello\n",
            "Content-Type: text/plain\r\n\r\nhello\n",
            "content-type:text/plain  \r\n\nhello\n",
        ] {
            let response = ok(output);
            assert_eq!(response.status, StatusCode::OK);
            assert_eq!(response.headers[header::CONTENT_TYPE], "text/plain");
            assert_eq!(response.body, "hello\n");
        }
        // The body is kept byte for byte, blank lines and CRs included.
        let response = ok("X-A: 1\n\n\r\nline\r\n\n");
        assert_eq!(response.body, "\r\nline\r\n\n");
    }

    #[test]
    fn status_and_location_set_the_status() {
        assert_eq!(ok("Status: 404 Not Found\n\n").status, 404);
        assert_eq!(ok("status: 201\n\n").status, 201);
        let redirect = ok("Location: https://example.com/x\n\n");
        assert_eq!(redirect.status, 302);
        assert_eq!(redirect.headers[header::LOCATION], "https://example.com/x");
        assert_eq!(ok("Status: 301 Moved\nLocation: /y\n\n").status, 301);
        // Status is not passed on as a header.
        assert!(!ok("Status: 200\n\n").headers.contains_key("status"));
    }

    #[test]
    fn default_content_type_only_for_a_body() {
        assert_eq!(
            ok("\nraw").headers[header::CONTENT_TYPE],
            DEFAULT_CONTENT_TYPE
        );
        assert!(
            !ok("Status: 204\n\n")
                .headers
                .contains_key(header::CONTENT_TYPE)
        );
    }

    #[test]
    fn custom_headers_pass_repeats_kept_and_controlled_ones_dropped() {
        let response = ok(
            "Set-Cookie: a=1\nSet-Cookie: b=2\nX-Thing: yes\nContent-Length: 999\n\
             Connection: close\nTransfer-Encoding: chunked\nx-request-id: forged\nContent-Type: text/html\n\nbody",
        );
        let cookies: Vec<_> = response
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(response.headers["x-thing"], "yes");
        for dropped in [
            "content-length",
            "connection",
            "transfer-encoding",
            "x-request-id",
        ] {
            assert!(!response.headers.contains_key(dropped), "{dropped}");
        }
    }

    #[test]
    fn invalid_output_names_the_line_and_the_problem() {
        assert_eq!(
            err(b"Content-Type: text/plain\nFoo\n\nbody"),
            "line 2: 'Foo' is not a header (expected 'Name: value')"
        );
        assert!(err(b"").contains("wrote nothing"));
        assert!(err(b"Content-Type: text/plain\nhello").contains("not followed by a blank line"));
        assert!(err(b"hello world").contains("not followed by a blank line"));
        assert!(err(b"X-A: 1\n  folded\n\n").starts_with("line 2: folded"));
        assert_eq!(
            err(b"Bad Name: 1\n\n"),
            "line 1: 'Bad Name' is not a valid header name"
        );
        assert_eq!(
            err(b"X-A: a\x01b\n\n"),
            "line 1: the value of 'x-a' is not a valid header value"
        );
        for status in ["abc", "99", "600 Nope", "1000", "100 Continue", ""] {
            let message = err(format!("Status: {status}\n\n").as_bytes());
            assert!(message.starts_with("line 1: invalid Status"), "{message}");
        }
        assert_eq!(
            err(b"Status: 200\nStatus: 404\n\n"),
            "line 2: Status is given more than once"
        );
        let long = format!("X-Long: {}\n\n", "a".repeat(MAX_HEADER_BYTES));
        assert!(err(long.as_bytes()).contains("headers are longer than"));
        let endless = "a".repeat(MAX_HEADER_BYTES + 10);
        assert!(err(endless.as_bytes()).contains("headers are longer than"));
        assert_eq!(
            err(format!("\n{}", "x".repeat(1025)).as_bytes()),
            "the response body is 1025 bytes; the limit is 1024 bytes"
        );
        let long_line = format!("{}\n\n", "z".repeat(100));
        assert!(err(long_line.as_bytes()).contains(&format!("'{}…'", "z".repeat(60))));
    }
}
