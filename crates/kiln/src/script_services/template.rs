//! `render(path, data)` for scripts: Jinja-style templates (minijinja) from the script's bundle.
//!
//! Each script version gets one minijinja [`Environment`] whose loader reads templates from
//! that version's immutable bundle; environments are cached by version id, so a template is
//! parsed once per version and reused by every request. Output is HTML-escaped for templates
//! named `*.html`, `*.htm`, `*.xml`, `*.svg`, `*.jinja` and `*.j2`. Rendering runs on tokio's
//! blocking pool under a fuel limit (minijinja's instruction counter), so a runaway loop ends
//! with `TEMPLATE_ERROR` instead of holding a thread. Errors name the template and the line.

use std::sync::Arc;
use std::time::Duration;

use kiln_js::{Bundle, HostCall, HostError, HostResult};
use minijinja::{AutoEscape, Environment, ErrorKind, Value as TemplateValue};
use serde_json::Value;

/// Template instructions one `render` may execute (minijinja fuel): ample for real pages, and
/// it stops templates that loop forever or build huge outputs.
const RENDER_FUEL: u64 = 5_000_000;

/// Script versions whose environments are kept (least recently used ones are dropped).
const CACHED_VERSIONS: u64 = 256;

/// An environment unused this long is dropped (its version may have been replaced).
const IDLE: Duration = Duration::from_secs(600);

/// The template environments of the deployed versions, by version id.
pub struct Templates {
    envs: moka::sync::Cache<u64, Arc<Environment<'static>>>,
}

impl Default for Templates {
    fn default() -> Self {
        Templates {
            envs: moka::sync::Cache::builder()
                .max_capacity(CACHED_VERSIONS)
                .time_to_idle(IDLE)
                .build(),
        }
    }
}

/// Whether output of template `name` is HTML-escaped.
fn auto_escape(name: &str) -> AutoEscape {
    const HTML: [&str; 6] = [".html", ".htm", ".xml", ".svg", ".jinja", ".j2"];
    if HTML.iter().any(|ext| name.ends_with(ext)) {
        AutoEscape::Html
    } else {
        AutoEscape::None
    }
}

/// Resolves `./x` and `../x` in an include or extends relative to the including template.
fn join(name: &str, parent: &str) -> String {
    if !(name.starts_with("./") || name.starts_with("../")) {
        return name.to_owned();
    }
    let mut segments: Vec<&str> = parent.split('/').collect();
    segments.pop();
    for segment in name.split('/') {
        match segment {
            "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    segments.join("/")
}

fn environment(bundle: Arc<Bundle>) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(auto_escape);
    env.set_path_join_callback(|name, parent| join(name, parent).into());
    env.set_fuel(Some(RENDER_FUEL));
    env.set_loader(move |name| {
        if kiln_js::bundle::check_path(name).is_err() {
            return Ok(None);
        }
        match bundle.file(name) {
            None => Ok(None),
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => Ok(Some(
                    text.strip_prefix('\u{feff}').unwrap_or(text).to_owned(),
                )),
                Err(_) => Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("template '{name}' is not UTF-8 text"),
                )),
            },
        }
    });
    env
}

/// `TEMPLATE_NOT_FOUND` or `TEMPLATE_ERROR`, naming the template and line where known.
fn template_error(error: &minijinja::Error, path: &str) -> HostError {
    let what = match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    };
    let place = match (error.name(), error.line()) {
        (Some(name), Some(line)) => format!("{name}:{line}: "),
        (Some(name), None) => format!("{name}: "),
        _ => String::new(),
    };
    let code = if error.kind() == ErrorKind::TemplateNotFound {
        "TEMPLATE_NOT_FOUND"
    } else {
        "TEMPLATE_ERROR"
    };
    let message = if place.is_empty() && error.kind() == ErrorKind::TemplateNotFound {
        format!("the script's bundle has no template '{path}'")
    } else {
        format!("{place}{what}")
    };
    HostError::new(code, message)
}

impl Templates {
    /// Runs `template.render`: `{ path, data }` → the rendered text.
    pub(super) async fn render(self: Arc<Self>, call: HostCall) -> HostResult {
        let path = call.args["path"]
            .as_str()
            .ok_or_else(|| {
                HostError::new("TEMPLATE_NOT_FOUND", "the template path must be a string")
            })?
            .to_owned();
        if let Err(why) = kiln_js::bundle::check_path(&path) {
            return Err(HostError::new(
                "TEMPLATE_NOT_FOUND",
                format!("'{path}' is not a valid bundle path: {why}"),
            ));
        }
        let script = call.script.clone();
        let env = self
            .envs
            .get_with(script.id, || Arc::new(environment(script.bundle.clone())));
        let data = TemplateValue::from_serialize(&call.args["data"]);
        let rendered = tokio::task::spawn_blocking(move || {
            let template = env
                .get_template(&path)
                .map_err(|e| template_error(&e, &path))?;
            template.render(data).map_err(|e| template_error(&e, &path))
        })
        .await
        .map_err(|e| HostError::new("TEMPLATE_ERROR", format!("rendering failed: {e}")))??;
        Ok(Value::String(rendered))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_names_join_the_including_templates_directory() {
        assert_eq!(
            join("./part.html", "templates/page.html"),
            "templates/part.html"
        );
        assert_eq!(
            join("../base.html", "templates/a/page.html"),
            "templates/base.html"
        );
        assert_eq!(join("templates/x.html", "a/b.html"), "templates/x.html");
    }

    #[test]
    fn html_like_names_are_escaped() {
        assert!(matches!(auto_escape("t/page.html"), AutoEscape::Html));
        assert!(matches!(auto_escape("page.jinja"), AutoEscape::Html));
        assert!(matches!(auto_escape("mail.txt"), AutoEscape::None));
    }
}
