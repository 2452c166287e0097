//! The WasmWiz-compatible `multipart/form-data` request of `POST /execute`: the module (`wasm`,
//! alias `wasm_file`), stdin (`input`, alias `input_data`), `args` (a JSON array: strings for a
//! command's argv, numbers for a `function` call), `env` (a JSON object of strings) and
//! `function`. Fields are read in chunks against their size caps, so an oversized upload is
//! refused (413) without being buffered whole.

use axum::extract::Multipart;
use axum::extract::multipart::Field;
use bytes::Bytes;
use http::StatusCode;

use crate::error::ApiError;

/// What a caller asked to run.
#[derive(Debug, Default, PartialEq)]
pub struct ExecuteForm {
    /// The module bytes (absent for stored-module executions).
    pub wasm: Option<Vec<u8>>,
    /// Standard input.
    pub input: Vec<u8>,
    /// Command arguments (after argv[0]).
    pub args: Vec<String>,
    /// Numeric arguments of a `function` call.
    pub function_args: Vec<serde_json::Number>,
    /// Environment variables.
    pub env: Vec<(String, String)>,
    /// The export to call instead of `_start`.
    pub function: Option<String>,
}

/// Size caps of the fields.
#[derive(Clone, Copy, Debug)]
pub struct FormLimits {
    /// Largest module.
    pub max_wasm_bytes: usize,
    /// Largest stdin.
    pub max_input_bytes: usize,
}

/// Largest `args`, `env` or `function` field (they are small JSON values).
pub(crate) const MAX_SMALL_FIELD: usize = 64 * 1024;

pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
}

fn too_large(what: &str, limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        format!("the {what} is larger than your tier's limit of {limit} bytes"),
    )
}

/// Reads one field, refusing it once it passes `limit` bytes. The chunks are kept as they come
/// (they share the request's buffers) and copied once into a vector of the exact size, rather
/// than grown into one chunk by chunk (a module upload would be copied about twice over).
pub(crate) async fn read_capped(
    mut field: Field<'_>,
    what: &str,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0usize;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| bad_request(format!("could not read the {what} field: {e}")))?
    {
        len += chunk.len();
        if len > limit {
            return Err(too_large(what, limit));
        }
        chunks.push(chunk);
    }
    let mut out = Vec::with_capacity(len);
    for chunk in &chunks {
        out.extend_from_slice(chunk);
    }
    Ok(out)
}

pub(crate) fn utf8(bytes: Vec<u8>, field: &str) -> Result<String, ApiError> {
    String::from_utf8(bytes)
        .map_err(|_| bad_request(format!("the {field} field must be UTF-8 text")))
}

/// Parses the multipart body. `require_wasm`: whether the module must be in the form.
pub async fn parse(
    mut multipart: Multipart,
    limits: FormLimits,
    require_wasm: bool,
) -> Result<ExecuteForm, ApiError> {
    let mut form = ExecuteForm::default();
    let mut raw_args: Option<String> = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad_request(format!("the body is not valid multipart/form-data: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "wasm" | "wasm_file" => {
                form.wasm = Some(read_capped(field, "module", limits.max_wasm_bytes).await?);
            }
            "input" | "input_data" => {
                form.input = read_capped(field, "input", limits.max_input_bytes).await?;
            }
            "args" => {
                raw_args = Some(utf8(
                    read_capped(field, "args", MAX_SMALL_FIELD).await?,
                    "args",
                )?);
            }
            "env" => {
                let text = utf8(read_capped(field, "env", MAX_SMALL_FIELD).await?, "env")?;
                form.env = parse_env(&text)?;
            }
            "function" => {
                let text = utf8(
                    read_capped(field, "function", MAX_SMALL_FIELD).await?,
                    "function",
                )?;
                let text = text.trim();
                if !text.is_empty() {
                    form.function = Some(text.to_owned());
                }
            }
            // Unknown fields are ignored, as WasmWiz did (clients send extras like `filename`).
            _ => {
                read_capped(field, "field", MAX_SMALL_FIELD.max(limits.max_input_bytes)).await?;
            }
        }
    }
    if let Some(text) = raw_args {
        if form.function.is_some() {
            form.function_args = parse_numbers(&text)?;
        } else {
            form.args = parse_strings(&text)?;
        }
    }
    if require_wasm && form.wasm.as_ref().is_none_or(Vec::is_empty) {
        return Err(bad_request(
            "missing the module: send it as the multipart field `wasm` (or `wasm_file`)",
        ));
    }
    Ok(form)
}

fn parse_strings(text: &str) -> Result<Vec<String>, ApiError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(text).map_err(|_| {
        bad_request(r#"`args` must be a JSON array of strings, e.g. ["--verbose", "x"]"#)
    })
}

fn parse_numbers(text: &str) -> Result<Vec<serde_json::Number>, ApiError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(text).map_err(|_| {
        bad_request("with `function`, `args` must be a JSON array of numbers, e.g. [2, 40]")
    })
}

fn parse_env(text: &str) -> Result<Vec<(String, String)>, ApiError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let map: std::collections::BTreeMap<String, String> =
        serde_json::from_str(text).map_err(|_| {
            bad_request(r#"`env` must be a JSON object of strings, e.g. {"MODE": "fast"}"#)
        })?;
    if let Some(bad) = map
        .keys()
        .find(|k| k.is_empty() || k.contains('=') || k.contains('\0'))
    {
        return Err(bad_request(format!(
            "invalid environment variable name {bad:?}"
        )));
    }
    Ok(map.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_fields_parse_or_explain() {
        assert_eq!(parse_strings(r#"["a", "b"]"#).unwrap(), vec!["a", "b"]);
        assert_eq!(parse_strings("").unwrap(), Vec::<String>::new());
        assert!(parse_strings("[1]").is_err());
        assert_eq!(parse_numbers("[2, 40.5]").unwrap().len(), 2);
        assert!(parse_numbers(r#"["x"]"#).is_err());
        assert_eq!(
            parse_env(r#"{"B": "2", "A": "1"}"#).unwrap(),
            vec![
                ("A".to_owned(), "1".to_owned()),
                ("B".to_owned(), "2".to_owned())
            ]
        );
        assert!(parse_env(r#"{"A=B": "1"}"#).is_err());
        assert!(parse_env("[]").is_err());
    }
}
