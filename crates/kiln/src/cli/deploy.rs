//! `kiln deploy DIR`: collects a script's files from a directory and uploads them as a new
//! version (`POST /engine/api/scripts/{name}/versions`). The walker skips what never belongs in
//! a bundle — hidden files and directories, `node_modules`, `kiln-data` and `target` — and
//! sends UTF-8 files as text and anything else as base64. `--var KEY=VALUE` (repeatable) sets
//! plain variables of the version, laid over the bundle's `kiln.toml` `[vars]`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine as _;
use clap::Args;
use serde::{Deserialize, Serialize};

use super::RemoteArgs;
use super::remote::ApiClient;

/// Directory names never descended into: dependencies, Kiln's own state, build output.
const SKIPPED_DIRS: &[&str] = &["node_modules", "kiln-data", "target"];

/// Options of `kiln deploy`.
#[derive(Clone, Debug, Args)]
pub struct DeployArgs {
    /// Directory holding the script (its entry file `main.ts`, `main.js`… and other files).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Script name; defaults to the directory's name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Upload the version without making it the active one.
    #[arg(long)]
    pub no_activate: bool,
    /// A plain variable of the version (`ctx.env.KEY`), overriding `kiln.toml`'s `[vars]`;
    /// repeatable. Not for secrets: use `kiln secrets set`.
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
}

/// Parses `KEY=VALUE` (the value may contain `=`).
fn parse_var(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// One file of the upload: a path relative to the bundle root with `/` separators, and its
/// content as text or base64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(super) struct BundleFile {
    /// Relative path, `/`-separated.
    pub path: String,
    /// The content.
    #[serde(flatten)]
    pub content: FileContent,
}

/// A file's content in the deploy request: `"content"` for UTF-8 text, `"content_base64"`
/// otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum FileContent {
    /// The file is valid UTF-8.
    Content(String),
    /// The file's bytes, base64-encoded (standard alphabet, padded).
    ContentBase64(String),
}

/// The deploy request body.
#[derive(Serialize)]
struct DeployRequest<'a> {
    files: &'a [BundleFile],
    activate: bool,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    vars: std::collections::BTreeMap<String, String>,
}

/// The server's answer to a deploy.
#[derive(Debug, Deserialize)]
struct Deployed {
    script: String,
    version: i64,
    active: bool,
    #[serde(default)]
    routes: Vec<Route>,
}

/// A route the new version registered.
#[derive(Debug, Deserialize)]
struct Route {
    method: String,
    path: String,
}

/// Uploads the directory and prints the new version and its routes.
pub(super) async fn run(remote: &RemoteArgs, args: DeployArgs) -> anyhow::Result<()> {
    let name = match args.name {
        Some(name) => name,
        None => default_name(&args.dir)?,
    };
    let files = collect_files(&args.dir)?;
    let client = ApiClient::new(remote)?;
    let request = DeployRequest {
        files: &files,
        activate: !args.no_activate,
        vars: args.vars.into_iter().collect(),
    };
    let deployed: Deployed = client
        .post(&["scripts", &name, "versions"], &request)
        .await?;
    print!("{}", render(&deployed));
    Ok(())
}

/// `deployed hello v3 (active)` followed by one indented line per route.
fn render(deployed: &Deployed) -> String {
    let state = if deployed.active {
        "active"
    } else {
        "not active"
    };
    let mut out = format!(
        "deployed {} v{} ({state})\n",
        deployed.script, deployed.version
    );
    if deployed.routes.is_empty() {
        out.push_str("  (no routes)\n");
    }
    let width = deployed
        .routes
        .iter()
        .map(|r| r.method.len())
        .max()
        .unwrap_or(0);
    for route in &deployed.routes {
        out.push_str(&format!("  {:width$}  {}\n", route.method, route.path));
    }
    out
}

/// The script name for `dir` when `--name` is not given: the directory's own name.
fn default_name(dir: &Path) -> anyhow::Result<String> {
    let absolute =
        fs::canonicalize(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    match absolute.file_name().and_then(|name| name.to_str()) {
        Some(name) => Ok(name.to_owned()),
        None => bail!(
            "cannot take a script name from {}; pass --name",
            dir.display()
        ),
    }
}

/// Every file under `root` that belongs in the bundle, sorted by path. Symbolic links to files
/// are followed; symbolic links to directories are not (no cycles, nothing outside `root` by
/// surprise).
pub(super) fn collect_files(root: &Path) -> anyhow::Result<Vec<BundleFile>> {
    if !root.is_dir() {
        bail!("{} is not a directory", root.display());
    }
    let mut files = Vec::new();
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let entries =
            fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                bail!("{} has a name that is not UTF-8", path.display());
            };
            if name.starts_with('.') {
                continue;
            }
            let relative = format!("{prefix}{name}");
            let kind = entry
                .file_type()
                .with_context(|| format!("cannot read {}", path.display()))?;
            if kind.is_dir() {
                if !SKIPPED_DIRS.contains(&name.as_str()) {
                    pending.push((path, format!("{relative}/")));
                }
            } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
                let bytes =
                    fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
                files.push(BundleFile {
                    path: relative,
                    content: FileContent::from_bytes(bytes),
                });
            }
        }
    }
    if files.is_empty() {
        bail!("{} holds no files to deploy", root.display());
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

impl FileContent {
    /// Text when `bytes` is UTF-8, base64 otherwise.
    fn from_bytes(bytes: Vec<u8>) -> Self {
        match String::from_utf8(bytes) {
            Ok(text) => FileContent::Content(text),
            Err(err) => FileContent::ContentBase64(
                base64::engine::general_purpose::STANDARD.encode(err.into_bytes()),
            ),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, content: &[u8]) {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    #[test]
    fn walker_keeps_bundle_files_and_skips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "main.ts", b"export default 1;\n");
        write(
            root,
            "lib/util/strings.ts",
            "export const é = 'ü';".as_bytes(),
        );
        write(
            root,
            "static/logo.png",
            &[0x89, b'P', b'N', b'G', 0xff, 0x00],
        );
        write(root, ".env", b"SECRET=1");
        write(root, ".git/config", b"[core]");
        write(root, "lib/.hidden.ts", b"x");
        write(root, "node_modules/pkg/index.js", b"x");
        write(root, "lib/node_modules/pkg/index.js", b"x");
        write(root, "kiln-data/kiln.db", b"x");
        write(root, "target/debug/out", b"x");
        write(root, "lib/target.ts", b"// a file called target* is kept");

        let files = collect_files(root).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "lib/target.ts",
                "lib/util/strings.ts",
                "main.ts",
                "static/logo.png"
            ]
        );
        assert_eq!(
            files[1].content,
            FileContent::Content("export const é = 'ü';".into())
        );
        assert_eq!(
            files[3].content,
            FileContent::ContentBase64("iVBOR/8A".into())
        );
        let json = serde_json::to_value(&files[3]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"path": "static/logo.png", "content_base64": "iVBOR/8A"})
        );
        let json = serde_json::to_value(&files[2]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"path": "main.ts", "content": "export default 1;\n"})
        );
    }

    #[test]
    fn walker_rejects_empty_and_missing_directories() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), ".only-hidden", b"x");
        let err = collect_files(dir.path()).unwrap_err().to_string();
        assert!(err.ends_with("holds no files to deploy"), "{err}");
        let err = collect_files(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("is not a directory"), "{err}");
    }

    #[test]
    fn name_defaults_to_the_directory_name() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("hello")).unwrap();
        let name = default_name(&dir.path().join("hello/../hello/.")).unwrap();
        assert_eq!(name, "hello");
    }

    #[test]
    fn deploy_output_lists_routes() {
        let deployed: Deployed = serde_json::from_str(
            r#"{"script":"hello","version":3,"active":true,
                "routes":[{"method":"GET","path":"/hello/:name"},{"method":"DELETE","path":"/x"}]}"#,
        )
        .unwrap();
        assert_eq!(
            render(&deployed),
            "deployed hello v3 (active)\n  GET     /hello/:name\n  DELETE  /x\n"
        );
    }
}
