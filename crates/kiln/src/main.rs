//! The `kiln` binary: parses the command line, runs it with [`kiln::cli::run`], and on failure
//! prints the error with its chain of causes and exits with a meaningful code
//! (see [`kiln::cli::exit_code`]).

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = kiln::cli::Cli::parse();
    match kiln::cli::run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            kiln::cli::exit_code(&err)
        }
    }
}
