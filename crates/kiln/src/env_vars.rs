//! Plain (non-secret) variables of a script version, visible to handlers as `ctx.env`.
//!
//! A version's variables are the `[vars]` table of a `kiln.toml` at the root of its bundle,
//! overridden by the deploy request's `vars` (`kiln deploy --var KEY=VALUE`). They are merged
//! once at deploy and recorded in the version's metadata (`meta.vars`), so a rollback or a
//! restart brings back exactly that version's variables without reading the bundle again. The
//! names follow environment-variable rules ([`check_name`]), shared with secrets, which are
//! laid over the variables per invocation (`crate::secrets`).

use std::collections::BTreeMap;

use serde::Deserialize;

/// The bundle file holding a script's variables.
pub const MANIFEST_FILE: &str = "kiln.toml";
/// Longest variable or secret name, in bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Most variables one version may have.
pub const MAX_VARS: usize = 200;
/// Largest variable value, in bytes (variables are configuration, not data).
pub const MAX_VAR_VALUE_BYTES: usize = 16 * 1024;

/// Checks a `ctx.env` name: `[A-Z_][A-Z0-9_]*`, at most [`MAX_NAME_BYTES`] bytes.
pub fn check_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let valid_start = bytes
        .next()
        .is_some_and(|b| b.is_ascii_uppercase() || b == b'_');
    let valid = valid_start
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && name.len() <= MAX_NAME_BYTES;
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid name {name:?}: use upper-case letters, digits and '_', not starting with a \
             digit, at most {MAX_NAME_BYTES} characters (like API_TOKEN)"
        ))
    }
}

/// The optional `kiln.toml` at the root of a bundle. Only `[vars]` is defined so far; unknown
/// keys are errors so that a typo does not silently drop a variable.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Manifest {
    /// Variables: string values only.
    #[serde(default)]
    vars: BTreeMap<String, String>,
}

/// The variables of a new version: `kiln.toml`'s `[vars]` (when the bundle has one) with
/// `overrides` (the deploy request's) laid over them. The error names the problem.
pub fn for_deploy(
    files: &[kiln_store::BundleFile],
    overrides: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let mut vars = match files.iter().find(|f| f.path == MANIFEST_FILE) {
        Some(file) => {
            let text = std::str::from_utf8(&file.content)
                .map_err(|_| format!("{MANIFEST_FILE}: not UTF-8 text"))?;
            let manifest: Manifest =
                toml::from_str(text).map_err(|e| format!("{MANIFEST_FILE}: {}", e.message()))?;
            for name in manifest.vars.keys() {
                check_name(name).map_err(|e| format!("{MANIFEST_FILE} [vars]: {e}"))?;
            }
            manifest.vars
        }
        None => BTreeMap::new(),
    };
    for name in overrides.keys() {
        check_name(name).map_err(|e| format!("deploy vars: {e}"))?;
    }
    vars.extend(overrides);
    if vars.len() > MAX_VARS {
        return Err(format!(
            "{} variables; a version may have at most {MAX_VARS}",
            vars.len()
        ));
    }
    if let Some((name, _)) = vars.iter().find(|(_, v)| v.len() > MAX_VAR_VALUE_BYTES) {
        return Err(format!(
            "variable {name} is longer than {MAX_VAR_VALUE_BYTES} bytes"
        ));
    }
    Ok(vars)
}

/// The variables recorded in a version's metadata (`meta.vars`); none for versions deployed
/// before variables existed.
pub fn from_meta(meta: &serde_json::Value) -> BTreeMap<String, String> {
    meta.get("vars")
        .and_then(serde_json::Value::as_object)
        .map(|vars| {
            vars.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Vec<kiln_store::BundleFile> {
        vec![
            kiln_store::BundleFile::new("main.js", "export function init() {}"),
            kiln_store::BundleFile::new(MANIFEST_FILE, text),
        ]
    }

    #[test]
    fn names_follow_environment_variable_rules() {
        for good in ["A", "_X", "API_TOKEN_2"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        let long = "A".repeat(MAX_NAME_BYTES + 1);
        for bad in [
            "",
            "2FA",
            "lower",
            "WITH-DASH",
            "SPACE X",
            "É",
            long.as_str(),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deploy_vars_override_the_manifest() {
        let files = manifest("[vars]\nMODE = \"staging\"\nREGION = \"eu\"\n");
        let vars = for_deploy(&files, BTreeMap::from([("MODE".into(), "prod".into())]));
        assert_eq!(
            vars,
            Ok(BTreeMap::from([
                ("MODE".into(), "prod".into()),
                ("REGION".into(), "eu".into())
            ]))
        );
        let meta = serde_json::json!({ "vars": vars.unwrap_or_default() });
        assert_eq!(from_meta(&meta)["REGION"], "eu");
        assert!(from_meta(&serde_json::json!({ "routes": [] })).is_empty());
    }

    #[test]
    fn bad_manifests_name_the_problem() {
        let problem = |text: &str| for_deploy(&manifest(text), BTreeMap::new()).unwrap_err();
        assert!(problem("[vars]\nlower = \"x\"\n").contains("kiln.toml [vars]: invalid name"));
        assert!(problem("[vars]\nN = 3\n").contains("kiln.toml"));
        assert!(problem("[other]\n").contains("unknown field `other`"));
        assert!(problem("[vars\n").starts_with("kiln.toml: "));
        let bad_flag = for_deploy(&[], BTreeMap::from([("a".into(), "x".into())]));
        assert!(
            bad_flag
                .unwrap_err()
                .starts_with("deploy vars: invalid name")
        );
    }
}
