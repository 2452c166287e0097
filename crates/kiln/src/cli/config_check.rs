//! `kiln config check`: loads the configuration exactly as `kiln serve` would (file <
//! environment, no other flags) and prints either the effective configuration as TOML, with
//! secrets redacted, or every problem found. Exit code 0 when valid, 2 otherwise.

use std::process::ExitCode;

use clap::Args;

use super::{ConfigFileArg, EXIT_CONFIG};
use crate::config::{CliOverrides, Config};

/// Options of `kiln config check`.
#[derive(Clone, Debug, Args)]
pub struct CheckArgs {
    /// The configuration file.
    #[command(flatten)]
    pub file: ConfigFileArg,
}

/// Checks the configuration, printing the outcome; returns the exit code.
pub(super) fn run(args: &CheckArgs) -> ExitCode {
    let overrides = CliOverrides {
        config: args.file.config.clone(),
        ..CliOverrides::default()
    };
    let result = Config::load(&overrides).map_err(|err| err.to_string());
    let rendered = result.and_then(|config| {
        toml::to_string(&config.redacted()).map_err(|err| format!("cannot print: {err}"))
    });
    match rendered {
        Ok(toml) => {
            let layers = match overrides.config_file() {
                Some(file) => format!("defaults < {} < KILN_* environment", file.display()),
                None => "defaults < KILN_* environment (no config file)".to_owned(),
            };
            println!("# Effective configuration: {layers}");
            print!("{toml}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}
