//! `files` for scripts: read-only access to the calling script's own bundle
//! (`files.read`, `files.text`, `files.list`).
//!
//! The bundle is the immutable, in-memory bundle of the calling version ([`HostCall::script`]),
//! so a script can only ever see its own files, as deployed. Paths are checked with the
//! bundle's own rules (relative, forward slashes, no `.`/`..` segments, no control characters)
//! before any lookup, and lookups are exact matches in the bundle's index: nothing outside the
//! bundle is reachable, whatever the path.

use bytes::Bytes;
use kiln_js::{Bundle, HostCall, HostError, HostResult};
use serde_json::{Value, json};

/// A path argument that is not a valid bundle path.
fn invalid_path(path: &str, why: &str) -> HostError {
    HostError::new(
        "FILES_INVALID_PATH",
        format!("'{path}' is not a valid bundle path: {why}"),
    )
}

fn not_found(path: &str) -> HostError {
    HostError::new(
        "FILES_NOT_FOUND",
        format!("the script's bundle has no file '{path}'"),
    )
}

/// The `path` argument, checked.
fn file_path(args: &Value) -> Result<&str, HostError> {
    let path = args["path"]
        .as_str()
        .ok_or_else(|| HostError::new("FILES_INVALID_PATH", "the path must be a string"))?;
    kiln_js::bundle::check_path(path).map_err(|why| invalid_path(path, &why))?;
    Ok(path)
}

/// The `dir` argument, checked and without its trailing `/`; `""` is the bundle's root.
fn dir_path(args: &Value) -> Result<&str, HostError> {
    let dir = match &args["dir"] {
        Value::Null => "",
        value => value.as_str().ok_or_else(|| {
            HostError::new("FILES_INVALID_PATH", "the directory must be a string")
        })?,
    };
    let trimmed = dir.strip_suffix('/').unwrap_or(dir);
    if trimmed.is_empty() || trimmed == "." {
        return Ok("");
    }
    kiln_js::bundle::check_path(trimmed).map_err(|why| invalid_path(dir, &why))?;
    Ok(trimmed)
}

/// The entries directly inside `dir`: files with their size, directories with the total size
/// of the files beneath them; sorted by name.
fn list(bundle: &Bundle, dir: &str) -> Result<Value, HostError> {
    if !dir.is_empty() && bundle.file(dir).is_some() {
        return Err(HostError::new(
            "FILES_NOT_FOUND",
            format!("'{dir}' is a file, not a directory; read it with files.read or files.text"),
        ));
    }
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    // The bundle's files are sorted by path, so a directory's files are adjacent.
    let mut entries: Vec<(String, bool, usize)> = Vec::new();
    for file in bundle.files() {
        let Some(rest) = file.path.strip_prefix(&prefix) else {
            continue;
        };
        let (name, is_dir) = match rest.split_once('/') {
            Some((name, _)) => (name, true),
            None => (rest, false),
        };
        match entries.last_mut() {
            Some((last, true, size)) if is_dir && last == name => *size += file.content.len(),
            _ => entries.push((name.to_owned(), is_dir, file.content.len())),
        }
    }
    if entries.is_empty() && !dir.is_empty() {
        return Err(HostError::new(
            "FILES_NOT_FOUND",
            format!("the script's bundle has no directory '{dir}'"),
        ));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Value::Array(
        entries
            .into_iter()
            .map(|(name, is_dir, size)| {
                json!({ "path": format!("{prefix}{name}"), "name": name, "isDir": is_dir, "size": size })
            })
            .collect(),
    ))
}

/// Runs one `files.*` operation.
pub(super) async fn call(call: HostCall) -> HostResult {
    let bundle = &call.script.bundle;
    match call.op.as_str() {
        "files.read" => {
            let path = file_path(&call.args)?;
            let content = bundle.file(path).ok_or_else(|| not_found(path))?;
            call.reply.set(Bytes::copy_from_slice(content));
            Ok(Value::Null)
        }
        "files.text" => {
            let path = file_path(&call.args)?;
            let content = bundle.file(path).ok_or_else(|| not_found(path))?;
            let text = std::str::from_utf8(content).map_err(|e| {
                HostError::new(
                    "FILES_NOT_TEXT",
                    format!(
                        "'{path}' is not UTF-8 text (invalid byte at offset {}); read it with files.read",
                        e.valid_up_to()
                    ),
                )
            })?;
            Ok(Value::String(
                text.strip_prefix('\u{feff}').unwrap_or(text).to_owned(),
            ))
        }
        "files.list" => list(bundle, dir_path(&call.args)?),
        other => Err(HostError::new(
            "UNKNOWN_OPERATION",
            format!("'{other}' is not a files operation"),
        )),
    }
}
