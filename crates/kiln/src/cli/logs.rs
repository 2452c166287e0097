//! `kiln logs NAME`: prints a script's stored log lines (`GET
//! /engine/api/scripts/{name}/logs`) as `time level [request_id] message`, oldest first.
//! `--follow` keeps polling every second for lines after the last one seen, until Ctrl-C.

use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::RemoteArgs;
use super::remote::ApiClient;

/// Pause between two polls of `--follow`.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);
/// Most lines one request may ask for (the server's cap).
const MAX_LIMIT: u32 = 1000;

/// Options of `kiln logs`.
#[derive(Clone, Debug, Args)]
pub struct LogsArgs {
    /// The script.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Only lines at this level or above.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub level: Option<Level>,
    /// Only lines logged while handling this request.
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,
    /// Only lines logged at or after this time (RFC 3339, e.g. `2026-01-02T03:04:05Z`).
    #[arg(long, value_name = "TIME", value_parser = parse_rfc3339)]
    pub since: Option<String>,
    /// Most lines to show (the newest ones); the server's default when absent.
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_LIMIT)))]
    pub limit: Option<u32>,
    /// Keep printing new lines as they are logged, until Ctrl-C.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

/// A log level, for `--level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Level {
    /// Everything.
    Debug,
    /// `console.log`, `console.info` and above.
    Info,
    /// Warnings and errors.
    Warn,
    /// Errors only.
    Error,
}

impl Level {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// The server's answer.
#[derive(Deserialize)]
struct LogPage {
    logs: Vec<LogLine>,
}

/// One stored log line.
#[derive(Deserialize)]
struct LogLine {
    id: i64,
    time: String,
    level: String,
    message: String,
    #[serde(default)]
    request_id: Option<String>,
}

/// Prints the lines, then with `--follow` polls for new ones until Ctrl-C.
pub(super) async fn run(remote: &RemoteArgs, args: LogsArgs) -> anyhow::Result<()> {
    let client = ApiClient::new(remote)?;
    let mut last_id = print_page(&client, &args, None).await?;
    if !args.follow {
        return Ok(());
    }
    let follow = async {
        loop {
            let previous = last_id;
            last_id = print_page(&client, &args, last_id).await?.or(last_id);
            // New lines may mean more are waiting: poll again at once; pause only when idle.
            if last_id == previous {
                tokio::time::sleep(FOLLOW_INTERVAL).await;
            }
        }
    };
    tokio::select! {
        result = follow => result,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// Fetches one page (lines after `after` when given), prints it oldest first, and returns the
/// id of the newest line printed.
async fn print_page(
    client: &ApiClient,
    args: &LogsArgs,
    after: Option<i64>,
) -> anyhow::Result<Option<i64>> {
    let path = ["scripts", args.name.as_str(), "logs"];
    let page: LogPage = client.get(&path, &query(args, after)).await?;
    let mut logs = page.logs;
    logs.sort_by_key(|line| line.id);
    for line in &logs {
        println!("{}", format_line(line));
    }
    Ok(logs.last().map(|line| line.id))
}

/// The query string: only the filters that were given, plus `after` when following.
fn query(args: &LogsArgs, after: Option<i64>) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    if let Some(level) = args.level {
        query.push(("level", level.as_str().to_owned()));
    }
    if let Some(id) = &args.request_id {
        query.push(("request_id", id.clone()));
    }
    if let Some(since) = &args.since {
        query.push(("since", since.clone()));
    }
    if let Some(limit) = args.limit {
        query.push(("limit", limit.to_string()));
    }
    if let Some(after) = after {
        query.push(("after", after.to_string()));
    }
    query
}

/// `time level [request_id] message`; the request id is left out when the line has none.
fn format_line(line: &LogLine) -> String {
    match &line.request_id {
        Some(id) => format!("{} {:5} [{id}] {}", line.time, line.level, line.message),
        None => format!("{} {:5} {}", line.time, line.level, line.message),
    }
}

/// Accepts an RFC 3339 timestamp and keeps it as given (the server parses it again).
pub(super) fn parse_rfc3339(value: &str) -> Result<String, String> {
    OffsetDateTime::parse(value, &Rfc3339)
        .map(|_| value.to_owned())
        .map_err(|err| format!("not an RFC 3339 time ({err}); e.g. 2026-01-02T03:04:05Z"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn lines_print_time_level_request_and_message() {
        let page: LogPage = serde_json::from_str(
            r#"{"logs":[{"id":7,"time":"2026-01-02T03:04:05.123Z","level":"warn",
                "message":"slow","request_id":"r-1","version":2},
               {"id":8,"time":"2026-01-02T03:04:06Z","level":"info","message":"init done",
                "request_id":null,"version":2}]}"#,
        )
        .unwrap();
        assert_eq!(
            format_line(&page.logs[0]),
            "2026-01-02T03:04:05.123Z warn  [r-1] slow"
        );
        assert_eq!(
            format_line(&page.logs[1]),
            "2026-01-02T03:04:06Z info  init done"
        );
    }

    #[test]
    fn query_holds_only_given_filters() {
        let args = LogsArgs {
            name: "hello".into(),
            level: Some(Level::Error),
            request_id: None,
            since: Some("2026-01-02T03:04:05Z".into()),
            limit: None,
            follow: true,
        };
        let query = query(&args, Some(41));
        assert_eq!(
            query,
            [
                ("level", "error".to_owned()),
                ("since", "2026-01-02T03:04:05Z".to_owned()),
                ("after", "41".to_owned()),
            ]
        );
    }
}
