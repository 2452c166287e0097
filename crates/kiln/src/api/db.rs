//! `GET /engine/api/scripts/{name}/db/export`: a consistent copy of a script's database as a
//! SQLite file (admins and the script's owners, like every per-script route). 404
//! `DB_NOT_FOUND` when the script never used `db`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::error::ApiError;
use crate::script_db::error as db_error;
use crate::server::AppState;

/// Media type of SQLite database files.
pub const SQLITE_MEDIA_TYPE: &str = "application/vnd.sqlite3";

/// Handler.
pub async fn export(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    super::scripts::existing_script(&state, &name).await?;
    let copy = state
        .scripts
        .dbs()
        .export(&name)
        .await
        .map_err(|error| match error.code {
            db_error::UNAVAILABLE => ApiError::internal(error),
            _ => ApiError::new(StatusCode::CONFLICT, error.code, error.message),
        })?;
    let Some(bytes) = copy else {
        return Err(ApiError::not_found(
            "DB_NOT_FOUND",
            format!("script '{name}' has no database (it never used db and has no migrations)"),
        ));
    };
    // Script names are [a-z0-9_-]: safe in a quoted file name.
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}.sqlite\""))
        .map_err(ApiError::internal)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(SQLITE_MEDIA_TYPE),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}
