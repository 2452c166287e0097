//! Parsing of form bodies for `request.formData()` / `response.formData()`.
//!
//! The prelude hands the buffered body and its `Content-Type` to `host.parseFormData`, which
//! lands in [`parse_for_js`]: `multipart/form-data` is parsed by `multer` (the parser axum
//! uses; the body is already in memory, so its futures complete on their first poll) and
//! `application/x-www-form-urlencoded` by `form_urlencoded`. The entry count, entry names and
//! text entries are bounded ([`MAX_FORM_ENTRIES`], [`MAX_FORM_NAME_BYTES`],
//! [`MAX_FORM_TEXT_BYTES`]); file parts are bounded only by the route's body limit. Every
//! failure is a [`FormDataError`] whose message says what to fix; the prelude throws it as the
//! `TypeError` the Fetch standard asks for.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use rquickjs::{Array, Ctx, TypedArray, Value};

use crate::limits::{MAX_FORM_ENTRIES, MAX_FORM_NAME_BYTES, MAX_FORM_TEXT_BYTES};

/// One value of a parsed form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormValue {
    /// A text field (decoded as UTF-8, invalid sequences replaced).
    Text(String),
    /// A file part: its bytes, file name and media type (`text/plain` when the part has none).
    File {
        /// The part's content.
        bytes: Bytes,
        /// The `filename` of its `Content-Disposition`.
        file_name: String,
        /// Its `Content-Type`.
        content_type: String,
    },
}

/// One entry of a parsed form, in body order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormEntry {
    /// The field name.
    pub name: String,
    /// Its value.
    pub value: FormValue,
}

/// Why a body could not be read as a form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormDataError {
    /// The body's media type is not a form type.
    #[error(
        "expected a Content-Type of multipart/form-data or application/x-www-form-urlencoded, got {0}"
    )]
    UnsupportedType(String),
    /// `multipart/form-data` without its `boundary` parameter.
    #[error(
        "the multipart/form-data Content-Type has no boundary parameter (expected `multipart/form-data; boundary=…`)"
    )]
    NoBoundary,
    /// The multipart body does not follow RFC 7578.
    #[error("the multipart/form-data body is malformed: {0}")]
    Malformed(String),
    /// A part without a `name` in its `Content-Disposition`.
    #[error("a multipart part has no name (expected `Content-Disposition: form-data; name=\"…\"`)")]
    Unnamed,
    /// More entries than [`MAX_FORM_ENTRIES`].
    #[error("the form has more than {limit} entries")]
    TooManyEntries {
        /// The limit.
        limit: usize,
    },
    /// An entry name longer than [`MAX_FORM_NAME_BYTES`].
    #[error("an entry name is longer than {limit} bytes")]
    NameTooLong {
        /// The limit.
        limit: usize,
    },
    /// A text entry larger than [`MAX_FORM_TEXT_BYTES`].
    #[error(
        "the text entry '{name}' is larger than {limit} bytes (send large data as a file part, with a filename)"
    )]
    TextTooLarge {
        /// The entry's name.
        name: String,
        /// The limit.
        limit: usize,
    },
}

/// Parses `body` as the form its `content_type` (the header value) announces.
pub fn parse(body: Bytes, content_type: &str) -> Result<Vec<FormEntry>, FormDataError> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "multipart/form-data" => parse_multipart(body, content_type),
        "application/x-www-form-urlencoded" => parse_urlencoded(&body),
        "" => Err(FormDataError::UnsupportedType("no Content-Type".into())),
        _ => Err(FormDataError::UnsupportedType(format!("'{content_type}'"))),
    }
}

fn parse_urlencoded(body: &[u8]) -> Result<Vec<FormEntry>, FormDataError> {
    let mut entries = Vec::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        let value = FormValue::Text(value.into_owned());
        push(&mut entries, name.into_owned(), value)?;
    }
    Ok(entries)
}

fn parse_multipart(body: Bytes, content_type: &str) -> Result<Vec<FormEntry>, FormDataError> {
    let boundary = multer::parse_boundary(content_type).map_err(|_| FormDataError::NoBoundary)?;
    let stream = futures::stream::once(futures::future::ready(Ok::<_, Infallible>(body)));
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut entries = Vec::new();
    while let Some(field) = ready(multipart.next_field())? {
        let name = field.name().ok_or(FormDataError::Unnamed)?.to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(ToString::to_string);
        let bytes = ready(field.bytes())?;
        let value = match file_name {
            Some(file_name) => FormValue::File {
                bytes,
                file_name,
                content_type: content_type.unwrap_or_else(|| "text/plain".into()),
            },
            None => FormValue::Text(String::from_utf8_lossy(&bytes).into_owned()),
        };
        push(&mut entries, name, value)?;
    }
    Ok(entries)
}

/// Appends an entry, enforcing the entry count, name and text limits.
fn push(entries: &mut Vec<FormEntry>, name: String, value: FormValue) -> Result<(), FormDataError> {
    if entries.len() >= MAX_FORM_ENTRIES {
        return Err(FormDataError::TooManyEntries {
            limit: MAX_FORM_ENTRIES,
        });
    }
    if name.len() > MAX_FORM_NAME_BYTES {
        return Err(FormDataError::NameTooLong {
            limit: MAX_FORM_NAME_BYTES,
        });
    }
    if let FormValue::Text(text) = &value
        && text.len() > MAX_FORM_TEXT_BYTES
    {
        return Err(FormDataError::TextTooLarge {
            name,
            limit: MAX_FORM_TEXT_BYTES,
        });
    }
    entries.push(FormEntry { name, value });
    Ok(())
}

/// Runs one of multer's futures to completion. Its input stream is a single in-memory chunk,
/// so every future is ready on its first poll; one that is not would be a multer change, and
/// is reported as a malformed body rather than waited for.
fn ready<T>(future: impl Future<Output = Result<T, multer::Error>>) -> Result<T, FormDataError> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result.map_err(|e| FormDataError::Malformed(describe(&e))),
        Poll::Pending => Err(FormDataError::Malformed(
            "the parser stalled on an in-memory body".into(),
        )),
    }
}

const BOUNDARY_HINT: &str =
    "is the body complete, and does it use the boundary its Content-Type names?";

/// multer's messages, worded for the script author.
fn describe(error: &multer::Error) -> String {
    match error {
        multer::Error::IncompleteStream => {
            format!("the body ends before the closing boundary line; {BOUNDARY_HINT}")
        }
        multer::Error::IncompleteFieldData { field_name } => format!(
            "the part '{}' is not followed by a boundary line (no closing boundary); {BOUNDARY_HINT}",
            field_name.as_deref().unwrap_or_default()
        ),
        other => other.to_string(),
    }
}

/// `host.parseFormData(bytes, contentType)`: the entries as an array of `[name, text]` and
/// `[name, Uint8Array, fileName, type]` arrays, or the error message as a string (the prelude
/// throws it as a `TypeError` naming the API that was called).
pub fn parse_for_js<'js>(
    ctx: Ctx<'js>,
    body: Value<'js>,
    content_type: String,
) -> rquickjs::Result<Value<'js>> {
    let bytes = crate::engine::host::bytes_of(&body).unwrap_or_default();
    let entries = match parse(Bytes::from(bytes), &content_type) {
        Ok(entries) => entries,
        Err(error) => {
            return Ok(rquickjs::String::from_str(ctx, &error.to_string())?.into_value());
        }
    };
    let out = Array::new(ctx.clone())?;
    for (i, entry) in entries.into_iter().enumerate() {
        let item = Array::new(ctx.clone())?;
        item.set(0, entry.name)?;
        match entry.value {
            FormValue::Text(text) => item.set(1, text)?,
            FormValue::File {
                bytes,
                file_name,
                content_type,
            } => {
                item.set(1, TypedArray::<u8>::new(ctx.clone(), bytes.to_vec())?)?;
                item.set(2, file_name)?;
                item.set(3, content_type)?;
            }
        }
        out.set(i, item)?;
    }
    Ok(out.into_value())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "multipart/form-data; boundary=XyZ";

    fn body(parts: &[&str]) -> Bytes {
        let mut s = String::new();
        for p in parts {
            s.push_str("--XyZ\r\n");
            s.push_str(p);
            s.push_str("\r\n");
        }
        s.push_str("--XyZ--\r\n");
        Bytes::from(s)
    }

    #[test]
    fn text_and_file_parts_keep_their_order_and_metadata() {
        let b = body(&[
            "Content-Disposition: form-data; name=\"title\"\r\n\r\nhello",
            "Content-Disposition: form-data; name=\"doc\"; filename=\"a.txt\"\r\nContent-Type: text/markdown\r\n\r\n# hi",
            "Content-Disposition: form-data; name=\"raw\"; filename=\"b.bin\"\r\n\r\nxy",
        ]);
        let entries = parse(b, CT).expect("parses");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].value, FormValue::Text("hello".into()));
        assert_eq!(
            entries[1].value,
            FormValue::File {
                bytes: Bytes::from_static(b"# hi"),
                file_name: "a.txt".into(),
                content_type: "text/markdown".into(),
            }
        );
        match &entries[2].value {
            FormValue::File { content_type, .. } => assert_eq!(content_type, "text/plain"),
            other => panic!("expected a file, got {other:?}"),
        }
    }

    #[test]
    fn bad_types_boundaries_and_bodies_say_what_is_wrong() {
        let err = |b: &str, ct: &str| {
            parse(Bytes::from(b.to_owned()), ct)
                .expect_err("fails")
                .to_string()
        };
        assert!(err("{}", "application/json").contains("got 'application/json'"));
        assert!(err("", "").contains("no Content-Type"));
        assert!(err("", "multipart/form-data").contains("no boundary"));
        let e = err(
            "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx",
            CT,
        );
        assert!(e.contains("closing boundary"), "{e}");
        let e = err("no boundary at all", CT);
        assert!(e.contains("malformed"), "{e}");
        let unnamed = body(&["Content-Disposition: form-data\r\n\r\nx"]);
        assert_eq!(parse(unnamed, CT), Err(FormDataError::Unnamed));
    }

    #[test]
    fn urlencoded_bodies_decode_and_count_against_the_entry_limit() {
        let entries = parse(
            Bytes::from_static(b"a=1&b=x+y%21&a=%E2%82%AC"),
            "application/x-www-form-urlencoded;charset=UTF-8",
        )
        .expect("parses");
        let pairs: Vec<(&str, &FormValue)> = entries
            .iter()
            .map(|e| (e.name.as_str(), &e.value))
            .collect();
        assert_eq!(pairs[1], ("b", &FormValue::Text("x y!".into())));
        assert_eq!(pairs[2], ("a", &FormValue::Text("€".into())));

        let many = "x=1&".repeat(MAX_FORM_ENTRIES + 1);
        let too_many = parse(Bytes::from(many), "application/x-www-form-urlencoded");
        assert_eq!(
            too_many,
            Err(FormDataError::TooManyEntries {
                limit: MAX_FORM_ENTRIES
            })
        );
    }

    #[test]
    fn large_text_entries_are_refused_but_large_files_are_not() {
        let big = "x".repeat(MAX_FORM_TEXT_BYTES + 1);
        let text = body(&[&format!(
            "Content-Disposition: form-data; name=\"t\"\r\n\r\n{big}"
        )]);
        assert!(matches!(
            parse(text, CT),
            Err(FormDataError::TextTooLarge { .. })
        ));
        let file = body(&[&format!(
            "Content-Disposition: form-data; name=\"f\"; filename=\"f\"\r\n\r\n{big}"
        )]);
        assert_eq!(parse(file, CT).expect("parses").len(), 1);
    }
}
