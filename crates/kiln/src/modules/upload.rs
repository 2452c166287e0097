//! The `multipart/form-data` body of `POST /api/modules`: the module (`wasm`, alias
//! `wasm_file`, like `/execute`), its `name` and an optional `description`. The module is read
//! in chunks against the caller's size cap, so an oversized upload is refused (413) without
//! being buffered whole; other fields are ignored, as `/execute` does.

use axum::extract::Multipart;

use crate::error::ApiError;
use crate::execute::form::{MAX_SMALL_FIELD, bad_request, read_capped, utf8};

/// What a caller uploads.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UploadForm {
    /// The module bytes.
    pub wasm: Vec<u8>,
    /// The module's name.
    pub name: String,
    /// Its description, when the field was sent (empty clears it on a replace).
    pub description: Option<String>,
}

/// Parses the body; `max_wasm_bytes` caps the module.
pub async fn parse(
    mut multipart: Multipart,
    max_wasm_bytes: usize,
) -> Result<UploadForm, ApiError> {
    let mut wasm = None;
    let mut name = None;
    let mut description = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad_request(format!("the body is not valid multipart/form-data: {e}")))?
    {
        let field_name = field.name().unwrap_or_default().to_owned();
        match field_name.as_str() {
            "wasm" | "wasm_file" => {
                wasm = Some(read_capped(field, "module", max_wasm_bytes).await?)
            }
            "name" => {
                let text = utf8(read_capped(field, "name", MAX_SMALL_FIELD).await?, "name")?;
                name = Some(text.trim().to_owned());
            }
            "description" => {
                let bytes = read_capped(field, "description", MAX_SMALL_FIELD).await?;
                description = Some(utf8(bytes, "description")?.trim().to_owned());
            }
            _ => {
                read_capped(field, "field", MAX_SMALL_FIELD).await?;
            }
        }
    }
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Err(bad_request(
            "missing the module's name: send it as the multipart field `name`",
        ));
    };
    let Some(wasm) = wasm.filter(|w| !w.is_empty()) else {
        return Err(bad_request(
            "missing the module: send it as the multipart field `wasm` (or `wasm_file`)",
        ));
    };
    Ok(UploadForm {
        wasm,
        name,
        description,
    })
}
