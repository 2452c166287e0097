//! The script route table: which script version answers a method + path.
//!
//! Built from every script's active version and swapped atomically (`ArcSwap`) on deploy,
//! rollback and delete, so a request sees either the old table or the new one, never a mix.
//! Paths use `:param` segments and an optional trailing `*`; matching is done by `matchit`
//! (the router axum uses) on a normalised pattern, so two scripts' routes that differ only
//! in parameter names are recognised as the same route.
//!
//! The table also holds the scripts' static assets ([`PublicFiles`]): a public file may not
//! share its path with another script's public file or route, nor with Kiln's own paths; a
//! script's own routes take precedence over its public files.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use kiln_js::ScriptVersion;

use crate::public_files::{Asset, PublicFiles};

/// Methods a route may be registered for (plus `ANY`).
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Paths Kiln itself serves (DESIGN.md section 4). A script may not register these.
const RESERVED_EXACT: [&str; 13] = [
    "/health",
    "/health/live",
    "/health/ready",
    "/metrics",
    "/execute",
    "/api/execute",
    "/api/modules",
    "/graphql",
    "/graphql/ws",
    "/graphql/sse",
    "/mcp",
    "/auth",
    "/engine",
];
/// Path prefixes Kiln itself serves.
const RESERVED_PREFIXES: [&str; 3] = ["/engine/", "/auth/", "/api/modules/"];

/// A deploy's routes clash with existing ones or with Kiln's own paths.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// Another script already serves this method and path.
    #[error(
        "route {method} {path} is already registered by script '{owner}' ({owner_method} {owner_path})"
    )]
    Collision {
        /// Method of the new route.
        method: String,
        /// Path of the new route.
        path: String,
        /// The script that owns the existing route.
        owner: String,
        /// Method of the existing route.
        owner_method: String,
        /// Path of the existing route.
        owner_path: String,
    },
    /// The path is one Kiln serves itself.
    #[error("route {method} {path} uses a path reserved by Kiln ({reserved})")]
    Reserved {
        /// Method of the route.
        method: String,
        /// Path of the route.
        path: String,
        /// The reserved path or prefix it hits.
        reserved: String,
    },
    /// A public file's path is already served by something else.
    #[error("public file {file} of script '{script}' (served at {path}) collides with {other}")]
    PublicCollision {
        /// The file's bundle path, e.g. `public/app.css`.
        file: String,
        /// The script shipping it.
        script: String,
        /// The request path it would be served at.
        path: String,
        /// What already serves that path.
        other: String,
    },
    /// The pattern cannot be routed (e.g. overlaps ambiguously with another pattern).
    #[error("route {method} {path} cannot be added: {reason}")]
    Invalid {
        /// Method of the route.
        method: String,
        /// Path of the route.
        path: String,
        /// Why.
        reason: String,
    },
}

/// One handler for a normalised path.
#[derive(Clone)]
struct Handler {
    method: String,
    script: Arc<ScriptVersion>,
    route: usize,
    /// Parameter names in order of appearance (`*` is named `*`).
    param_names: Vec<String>,
}

/// All handlers of one normalised path.
#[derive(Clone)]
struct PathEntry {
    handlers: Vec<Handler>,
}

/// The result of looking a request up.
pub enum Lookup<'a> {
    /// A handler: run route `route` of `script` with `params`.
    Found {
        /// The script version to run.
        script: &'a Arc<ScriptVersion>,
        /// The route index within the script.
        route: usize,
        /// Path parameters by name.
        params: Vec<(String, String)>,
    },
    /// The path exists for other methods.
    MethodNotAllowed {
        /// The value of the `Allow` header.
        allow: String,
    },
    /// No route matches the path.
    NotFound,
}

/// A route as listed by the management API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RouteInfo {
    /// Method or `ANY`.
    pub method: String,
    /// Path pattern as registered.
    pub path: String,
    /// Owning script.
    pub script: String,
    /// Active version of the owning script.
    pub version: i64,
}

/// A public file as the table serves it.
struct PublicEntry {
    asset: Arc<Asset>,
    script: String,
}

/// The immutable route table.
#[derive(Default)]
pub struct RouteTable {
    router: matchit::Router<usize>,
    entries: Vec<PathEntry>,
    scripts: BTreeMap<String, Arc<ScriptVersion>>,
    /// Each active version's public files (kept so rebuilding the table does not redo them).
    public: BTreeMap<String, Arc<PublicFiles>>,
    /// Every script's public files by request path.
    assets: HashMap<String, PublicEntry>,
}

impl RouteTable {
    /// Builds a table from active script versions, computing their public files (last
    /// modified at the epoch: tests and tools; the server passes them in, see [`Self::with`]).
    pub fn build(
        scripts: impl IntoIterator<Item = Arc<ScriptVersion>>,
    ) -> Result<Self, RouteError> {
        RouteTable::build_with(scripts.into_iter().map(|script| {
            let public = Arc::new(PublicFiles::build(&script.bundle, UNIX_EPOCH));
            (script, public)
        }))
    }

    /// Builds a table from active script versions and their public files.
    pub fn build_with(
        scripts: impl IntoIterator<Item = (Arc<ScriptVersion>, Arc<PublicFiles>)>,
    ) -> Result<Self, RouteError> {
        let mut table = RouteTable::default();
        let mut by_pattern: BTreeMap<String, usize> = BTreeMap::new();
        for (script, public) in scripts {
            table.public.insert(script.name.clone(), public);
            for (index, spec) in script.routes.iter().enumerate() {
                let method = spec.method.to_ascii_uppercase();
                check_reserved(&method, &spec.path)?;
                let (pattern, param_names) =
                    normalise(&spec.path).map_err(|reason| RouteError::Invalid {
                        method: method.clone(),
                        path: spec.path.clone(),
                        reason,
                    })?;
                let entry_index = match by_pattern.get(&pattern) {
                    Some(i) => *i,
                    None => {
                        let i = table.entries.len();
                        insert_pattern(&mut table.router, &pattern, i).map_err(|reason| {
                            RouteError::Invalid {
                                method: method.clone(),
                                path: spec.path.clone(),
                                reason,
                            }
                        })?;
                        table.entries.push(PathEntry {
                            handlers: Vec::new(),
                        });
                        by_pattern.insert(pattern, i);
                        i
                    }
                };
                let entry = &mut table.entries[entry_index];
                if let Some(existing) = entry
                    .handlers
                    .iter()
                    .find(|h| h.method == method || h.method == "ANY" || method == "ANY")
                {
                    let owner_spec = &existing.script.routes[existing.route];
                    return Err(RouteError::Collision {
                        method,
                        path: spec.path.clone(),
                        owner: existing.script.name.clone(),
                        owner_method: existing.method.clone(),
                        owner_path: owner_spec.path.clone(),
                    });
                }
                entry.handlers.push(Handler {
                    method,
                    script: script.clone(),
                    route: index,
                    param_names,
                });
            }
            table.scripts.insert(script.name.clone(), script);
        }
        table.add_public_files()?;
        Ok(table)
    }

    /// Indexes every script's public files by path, refusing collisions (run after the routes
    /// are in, so a file is checked against every script's routes).
    fn add_public_files(&mut self) -> Result<(), RouteError> {
        let mut assets = HashMap::new();
        for (name, public) in &self.public {
            for (path, asset) in public.iter() {
                let collision = |other: String| RouteError::PublicCollision {
                    file: asset.file.clone(),
                    script: name.clone(),
                    path: path.clone(),
                    other,
                };
                if let Err(RouteError::Reserved { reserved, .. }) = check_reserved("GET", path) {
                    return Err(collision(format!("a path reserved by Kiln ({reserved})")));
                }
                if let Some(route) = self.route_of_other_script(path, name) {
                    return Err(collision(route));
                }
                let entry = PublicEntry {
                    asset: asset.clone(),
                    script: name.clone(),
                };
                if let Some(existing) = assets.insert(path.clone(), entry) {
                    return Err(collision(format!(
                        "public file {} of script '{}'",
                        existing.asset.file, existing.script
                    )));
                }
            }
        }
        self.assets = assets;
        Ok(())
    }

    /// A route of a script other than `script` matching `path` (any method), described.
    fn route_of_other_script(&self, path: &str, script: &str) -> Option<String> {
        let matched = self.router.at(path).ok()?;
        let entry = self.entries.get(*matched.value)?;
        let handler = entry.handlers.iter().find(|h| h.script.name != script)?;
        let spec = handler.script.routes.get(handler.route)?;
        Some(format!(
            "route {} {} of script '{}'",
            handler.method, spec.path, handler.script.name
        ))
    }

    /// The public file served at the (decoded) request `path`.
    pub fn public_file(&self, path: &str) -> Option<&Asset> {
        self.assets.get(path).map(|entry| &*entry.asset)
    }

    /// A new table with `script` and its public files added (replacing any active version of
    /// the same name).
    pub fn with(
        &self,
        script: Arc<ScriptVersion>,
        public: Arc<PublicFiles>,
    ) -> Result<Self, RouteError> {
        let name = script.name.clone();
        RouteTable::build_with(
            self.active()
                .filter(|(s, _)| s.name != name)
                .chain(std::iter::once((script, public))),
        )
    }

    /// A new table without script `name`.
    pub fn without(&self, name: &str) -> Result<Self, RouteError> {
        RouteTable::build_with(self.active().filter(|(s, _)| s.name != name))
    }

    /// Every active version with its public files.
    fn active(&self) -> impl Iterator<Item = (Arc<ScriptVersion>, Arc<PublicFiles>)> + '_ {
        self.scripts.values().map(|script| {
            let public = self.public.get(&script.name).cloned().unwrap_or_default();
            (script.clone(), public)
        })
    }

    /// The active version of script `name`.
    pub fn script(&self, name: &str) -> Option<&Arc<ScriptVersion>> {
        self.scripts.get(name)
    }

    /// Every active script version.
    pub fn scripts(&self) -> impl Iterator<Item = &Arc<ScriptVersion>> {
        self.scripts.values()
    }

    /// Every route, sorted by path then method.
    pub fn routes(&self) -> Vec<RouteInfo> {
        let mut routes: Vec<RouteInfo> = self
            .scripts
            .values()
            .flat_map(|s| {
                s.routes.iter().map(|r| RouteInfo {
                    method: r.method.clone(),
                    path: r.path.clone(),
                    script: s.name.clone(),
                    version: s.version,
                })
            })
            .collect();
        routes.sort_by(|a, b| (&a.path, &a.method).cmp(&(&b.path, &b.method)));
        routes
    }

    /// Finds the handler for `method` and `path`. `HEAD` falls back to `GET`.
    pub fn lookup(&self, method: &str, path: &str) -> Lookup<'_> {
        let Ok(matched) = self.router.at(path) else {
            return Lookup::NotFound;
        };
        let Some(entry) = self.entries.get(*matched.value) else {
            return Lookup::NotFound;
        };
        let pick = |m: &str| entry.handlers.iter().find(|h| h.method == m);
        let handler = pick(method)
            .or_else(|| pick("ANY"))
            .or_else(|| if method == "HEAD" { pick("GET") } else { None });
        match handler {
            Some(h) => {
                let params = matched
                    .params
                    .iter()
                    .zip(&h.param_names)
                    .map(|((_, value), name)| (name.clone(), value.to_owned()))
                    .collect();
                Lookup::Found {
                    script: &h.script,
                    route: h.route,
                    params,
                }
            }
            None => {
                let mut allow: Vec<&str> = Vec::new();
                for h in &entry.handlers {
                    if h.method == "ANY" {
                        allow.extend(METHODS);
                    } else {
                        allow.push(&h.method);
                        if h.method == "GET" {
                            allow.push("HEAD");
                        }
                    }
                }
                allow.sort_unstable();
                allow.dedup();
                Lookup::MethodNotAllowed {
                    allow: allow.join(", "),
                }
            }
        }
    }
}

fn check_reserved(method: &str, path: &str) -> Result<(), RouteError> {
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let hit = RESERVED_EXACT
        .iter()
        .find(|r| **r == trimmed)
        .map(|r| r.to_string())
        .or_else(|| {
            RESERVED_PREFIXES
                .iter()
                .find(|p| path.starts_with(**p))
                .map(|p| format!("{p}*"))
        });
    match hit {
        Some(reserved) => Err(RouteError::Reserved {
            method: method.to_owned(),
            path: path.to_owned(),
            reserved,
        }),
        None => Ok(()),
    }
}

/// Turns `/users/:id/*` into the matchit pattern `/users/{p0}/{*p1}` and the names `[id, *]`.
fn normalise(path: &str) -> Result<(String, Vec<String>), String> {
    if !path.starts_with('/') {
        return Err("paths must start with '/'".into());
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    let mut pattern = String::with_capacity(path.len() + 8);
    let mut names = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        pattern.push('/');
        if let Some(name) = segment.strip_prefix(':') {
            if name.is_empty() {
                return Err("a ':' parameter needs a name".into());
            }
            pattern.push_str(&format!("{{p{}}}", names.len()));
            names.push(name.to_owned());
        } else if *segment == "*" {
            if i != segments.len() - 1 {
                return Err("'*' is only allowed as the last segment".into());
            }
            pattern.push_str(&format!("{{*p{}}}", names.len()));
            names.push("*".to_owned());
        } else {
            pattern.push_str(&segment.replace('{', "{{").replace('}', "}}"));
        }
    }
    Ok((pattern, names))
}

fn insert_pattern(
    router: &mut matchit::Router<usize>,
    pattern: &str,
    index: usize,
) -> Result<(), String> {
    router.insert(pattern, index).map_err(|e| e.to_string())?;
    // A trailing `*` also matches the bare prefix (`/static/*` serves `/static/`).
    if let Some(prefix) = pattern.strip_suffix(&format!("{{*p{}}}", pattern.matches("{p").count()))
    {
        let _ = router.insert(prefix, index);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_js::{Bundle, BundleFile, BundleLimits, Limits, RouteSpec};

    fn script(name: &str, routes: &[(&str, &str)]) -> Arc<ScriptVersion> {
        let bundle = Bundle::build(
            vec![BundleFile {
                path: "main.js".into(),
                content: b"export function init() {}".to_vec(),
            }],
            &BundleLimits::default(),
        )
        .expect("bundle");
        let routes = routes
            .iter()
            .map(|(m, p)| RouteSpec {
                method: m.to_string(),
                path: p.to_string(),
                options: serde_json::Value::Null,
            })
            .collect();
        Arc::new(ScriptVersion::new(
            name,
            1,
            Arc::new(bundle),
            Limits::default(),
            Default::default(),
            routes,
        ))
    }

    type Found = (String, usize, Vec<(String, String)>);

    fn found(table: &RouteTable, method: &str, path: &str) -> Option<Found> {
        match table.lookup(method, path) {
            Lookup::Found {
                script,
                route,
                params,
            } => Some((script.name.clone(), route, params)),
            _ => None,
        }
    }

    #[test]
    fn literal_param_and_wildcard_routes_match() {
        let t = RouteTable::build([script(
            "a",
            &[
                ("GET", "/hello"),
                ("GET", "/hello/:name"),
                ("ANY", "/files/*"),
                ("POST", "/u/:id/posts/:post"),
            ],
        )])
        .expect("table");
        assert_eq!(found(&t, "GET", "/hello").map(|f| f.1), Some(0));
        assert_eq!(
            found(&t, "GET", "/hello/kiln").map(|f| f.2),
            Some(vec![("name".to_string(), "kiln".to_string())])
        );
        assert_eq!(
            found(&t, "DELETE", "/files/a/b.txt").map(|f| f.2),
            Some(vec![("*".to_string(), "a/b.txt".to_string())])
        );
        assert!(found(&t, "GET", "/files/").is_some());
        assert_eq!(
            found(&t, "POST", "/u/7/posts/9").map(|f| f.2),
            Some(vec![("id".into(), "7".into()), ("post".into(), "9".into())])
        );
        assert!(matches!(t.lookup("GET", "/nope"), Lookup::NotFound));
    }

    #[test]
    fn head_falls_back_to_get_and_405_lists_allowed_methods() {
        let t = RouteTable::build([script("a", &[("GET", "/x"), ("POST", "/x")])]).expect("table");
        assert!(found(&t, "HEAD", "/x").is_some());
        match t.lookup("DELETE", "/x") {
            Lookup::MethodNotAllowed { allow } => assert_eq!(allow, "GET, HEAD, POST"),
            _ => panic!("expected 405"),
        }
    }

    #[test]
    fn second_script_claiming_a_route_is_rejected_naming_the_owner() {
        let t = RouteTable::build([script("first", &[("GET", "/users/:id")])]).expect("table");
        let err = t
            .with(script("second", &[("GET", "/users/:name")]), Arc::default())
            .err()
            .expect("collision");
        assert!(err.to_string().contains("script 'first'"), "{err}");
        // Different method on the same path is fine; ANY overlaps everything.
        assert!(
            t.with(
                script("second", &[("POST", "/users/:name")]),
                Arc::default()
            )
            .is_ok()
        );
        assert!(
            t.with(script("second", &[("ANY", "/users/:x")]), Arc::default())
                .is_err()
        );
        // Redeploying the same script replaces its own routes instead of colliding.
        assert!(
            t.with(script("first", &[("GET", "/users/:id")]), Arc::default())
                .is_ok()
        );
    }

    #[test]
    fn reserved_paths_are_rejected() {
        for path in [
            "/health",
            "/engine/api/x",
            "/mcp",
            "/api/execute",
            "/auth/login",
        ] {
            let err = RouteTable::build([script("a", &[("GET", path)])]).err();
            assert!(matches!(err, Some(RouteError::Reserved { .. })), "{path}");
        }
        assert!(RouteTable::build([script("a", &[("GET", "/api/things")])]).is_ok());
    }
}
