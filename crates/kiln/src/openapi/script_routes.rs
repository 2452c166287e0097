//! Script routes as OpenAPI path items: `/notes/:id` becomes `/notes/{id}` with a required
//! string parameter, a trailing `*` becomes a `{wildcard}` parameter, `ANY` becomes every
//! method, and the route's options become the operation's summary, description, tags, request
//! and response schemas and security requirements (`x-kiln-script` and `x-kiln-auth` keep what
//! OpenAPI cannot say).

use serde_json::{Map, Value, json};

use crate::routing::RouteTable;

/// Methods an `ANY` route is listed under.
const ANY_METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// Name of the parameter standing for a trailing `*`.
const WILDCARD: &str = "wildcard";

/// The `paths` object for every route of `table` (of the `visible` scripts, when given).
pub fn paths(table: &RouteTable, visible: Option<&[String]>) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    let mut scripts: Vec<_> = table
        .scripts()
        .filter(|s| visible.is_none_or(|names| names.contains(&s.name)))
        .collect();
    scripts.sort_by(|a, b| a.name.cmp(&b.name));
    for script in scripts {
        for route in &script.routes {
            let (path, parameters) = openapi_path(&route.path);
            let item = paths
                .entry(path)
                .or_insert_with(|| Value::Object(Map::new()));
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            let methods: Vec<String> = match route.method.as_str() {
                "ANY" => ANY_METHODS.iter().map(|m| (*m).to_owned()).collect(),
                other => vec![other.to_ascii_lowercase()],
            };
            for method in methods {
                if item.contains_key(&method) {
                    continue; // an explicit method wins over ANY
                }
                let operation = operation(
                    &script.name,
                    &method,
                    &route.path,
                    &parameters,
                    &route.options,
                );
                item.insert(method, operation);
            }
        }
    }
    Value::Object(paths)
}

/// The OpenAPI form of a route pattern and its path parameters' names.
pub fn openapi_path(pattern: &str) -> (String, Vec<String>) {
    let mut parameters = Vec::new();
    let mut out = String::new();
    for segment in pattern.split('/').skip(1) {
        out.push('/');
        if let Some(name) = segment.strip_prefix(':') {
            out.push_str(&format!("{{{name}}}"));
            parameters.push(name.to_owned());
        } else if segment == "*" {
            out.push_str(&format!("{{{WILDCARD}}}"));
            parameters.push(WILDCARD.to_owned());
        } else {
            out.push_str(segment);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    (out, parameters)
}

fn operation(
    script: &str,
    method: &str,
    pattern: &str,
    parameters: &[String],
    options: &Value,
) -> Value {
    let text = |key: &str| options.get(key).and_then(Value::as_str);
    let mut op = Map::new();
    op.insert(
        "operationId".into(),
        json!(format!("{script}.{method}.{}", operation_path(pattern))),
    );
    if let Some(summary) = text("summary") {
        op.insert("summary".into(), json!(summary));
    }
    let description = match (
        text("description"),
        options.get("wasm").and_then(Value::as_str),
    ) {
        (Some(description), _) => Some(description.to_owned()),
        (None, Some(module)) => Some(format!("Served by the WebAssembly module `{module}`.")),
        (None, None) => None,
    };
    if let Some(description) = description {
        op.insert("description".into(), json!(description));
    }
    let tags = match options.get("tags").and_then(Value::as_array) {
        Some(tags) if !tags.is_empty() => Value::Array(tags.clone()),
        _ => json!([script]),
    };
    op.insert("tags".into(), tags);
    if !parameters.is_empty() {
        let list: Vec<Value> = parameters
            .iter()
            .map(|name| {
                let mut parameter = json!({
                    "name": name, "in": "path", "required": true, "schema": { "type": "string" },
                });
                if name == WILDCARD {
                    parameter["description"] =
                        json!("The rest of the path (`ctx.params[\"*\"]`); may contain `/`.");
                }
                parameter
            })
            .collect();
        op.insert("parameters".into(), Value::Array(list));
    }
    if let Some(schema) = options.get("requestSchema").filter(|s| !s.is_null())
        && !matches!(method, "get" | "head")
    {
        op.insert(
            "requestBody".into(),
            json!({ "required": true, "content": { "application/json": { "schema": schema } } }),
        );
    }
    let responses = match options.get("responseSchema").filter(|s| !s.is_null()) {
        Some(schema) => json!({
            "200": { "description": "Success", "content": { "application/json": { "schema": schema } } },
            "default": { "description": "An error: `{\"error\": {code, message, request_id}}`" },
        }),
        None => json!({ "default": { "description": "The handler's response" } }),
    };
    op.insert("responses".into(), responses);
    let auth = text("auth").unwrap_or("public");
    let security = match auth {
        "public" => None,
        "apiKey" => Some(json!([{ "apiKey": [] }])),
        _ => Some(json!([{ "session": [] }, { "apiKey": [] }])),
    };
    if let Some(security) = security {
        op.insert("security".into(), security);
    }
    op.insert("x-kiln-script".into(), json!(script));
    op.insert("x-kiln-auth".into(), json!(auth));
    Value::Object(op)
}

/// A route pattern as a readable operation id part: `/notes/:id` → `notes_id`.
fn operation_path(pattern: &str) -> String {
    let mut cleaned = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        if c.is_ascii_alphanumeric() {
            cleaned.push(c);
        } else if !cleaned.ends_with('_') {
            cleaned.push('_');
        }
    }
    let trimmed = cleaned.trim_matches('_');
    if trimmed.is_empty() {
        "root".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::openapi_path;

    #[test]
    fn patterns_become_openapi_paths_with_their_parameters() {
        assert_eq!(openapi_path("/"), ("/".to_owned(), vec![]));
        assert_eq!(
            openapi_path("/notes/:id/tags/:tag"),
            (
                "/notes/{id}/tags/{tag}".to_owned(),
                vec!["id".to_owned(), "tag".to_owned()]
            )
        );
        assert_eq!(
            openapi_path("/static/*"),
            ("/static/{wildcard}".to_owned(), vec!["wildcard".to_owned()])
        );
    }
}
