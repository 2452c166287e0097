//! `kiln serve`: loads the configuration, sets up logging (pretty on a terminal, JSON
//! otherwise), binds the listener, and runs [`crate::server::run`] until Ctrl-C or SIGTERM.
//! Everything that can fail at start-up fails here, before the server starts, with a message
//! that says what to change.

use std::future::Future;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use super::ConfigFileArg;
use crate::config::{CliOverrides, Config, LogFormat};

/// Options of `kiln serve`; they override `kiln.toml` and `KILN_*` variables.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. `0.0.0.0:8080` (config `listen`).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Directory for Kiln's state (config `data_dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The configuration file.
    #[command(flatten)]
    pub file: ConfigFileArg,
    /// Log format; `auto` is pretty on a terminal and JSON otherwise (config `log_format`).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
}

impl ServeArgs {
    /// The flags as configuration overrides.
    pub fn overrides(&self) -> CliOverrides {
        CliOverrides {
            config: self.file.config.clone(),
            listen: self.listen,
            data_dir: self.data_dir.clone(),
            log_format: self.log_format,
        }
    }
}

/// Runs the server until a shutdown signal.
pub(super) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let overrides = args.overrides();
    let config = Config::load(&overrides)?;
    init_tracing(config.log_format, &config.log_level)?;
    let listener = bind(config.listen).await?;
    let shutdown = shutdown_signal()?;
    let file = overrides
        .config_file()
        .map(|path| path.display().to_string());
    tracing::info!(version = env!("CARGO_PKG_VERSION"), config_file = ?file, "starting kiln");
    crate::server::run(config, listener, shutdown).await?;
    tracing::info!("kiln stopped");
    Ok(())
}

/// Installs the global `tracing` subscriber writing to standard output.
fn init_tracing(format: LogFormat, level: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::builder()
        .parse(level)
        .with_context(|| format!("invalid log_level {level:?}"))?;
    let terminal = std::io::stdout().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    let json = match format {
        LogFormat::Auto => !terminal,
        LogFormat::Pretty => false,
        LogFormat::Json => true,
    };
    let installed = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.with_ansi(terminal).try_init()
    };
    installed.map_err(|err| anyhow::anyhow!("cannot install the log subscriber: {err}"))
}

/// Binds `addr`, explaining the usual failures (port taken, privileged port, foreign address).
async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|err| {
        let hint = match err.kind() {
            std::io::ErrorKind::AddrInUse => {
                "the address is already in use by another process; stop it or choose another \
                 address with --listen ADDR or KILN_LISTEN"
            }
            std::io::ErrorKind::PermissionDenied => {
                "permission denied; ports below 1024 need extra privileges"
            }
            std::io::ErrorKind::AddrNotAvailable => "the address does not belong to this machine",
            _ => "the address cannot be bound",
        };
        anyhow::Error::new(err).context(format!("cannot listen on {addr}: {hint}"))
    })
}

/// A future that resolves on Ctrl-C or (on Unix) SIGTERM. The handlers are installed now, so a
/// signal arriving while the server starts is not lost.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    Ok(async move {
        let ctrl_c = async {
            if let Err(err) = tokio::signal::ctrl_c().await {
                tracing::warn!(%err, "cannot listen for Ctrl-C; stop kiln with SIGTERM");
                std::future::pending::<()>().await;
            }
        };
        #[cfg(unix)]
        let terminate = async move {
            sigterm.recv().await;
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => tracing::info!("Ctrl-C received; shutting down"),
            () = terminate => tracing::info!("SIGTERM received; shutting down"),
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_taken_port_is_a_clear_error() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let err = bind(addr).await.unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("cannot listen on {addr}: ")),
            "{message}"
        );
        assert!(message.contains("already in use"), "{message}");
        assert!(message.contains("--listen"), "{message}");
    }
}
