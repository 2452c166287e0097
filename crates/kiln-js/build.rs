//! Concatenates the prelude's JavaScript files (`src/js/*.js`, in name order) into one classic
//! module, `$OUT_DIR/prelude.js`: `export default function (host, global) { … return internal; }`.
//! The engine compiles it to bytecode once per process and loads that into every isolate.
use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("src/js");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "js"))
        .collect();
    files.sort();
    let mut out = String::from("export default function (host, global) {\n\"use strict\";\n");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push_str(&format!("// ---- {name} ----\n"));
        out.push_str(&fs::read_to_string(file)?);
        out.push('\n');
    }
    out.push_str("return internal;\n}\n");
    fs::write(PathBuf::from(env::var("OUT_DIR")?).join("prelude.js"), out)?;
    Ok(())
}
