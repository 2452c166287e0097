//! `kiln usage` (hourly or daily usage aggregates from `/engine/api/usage`, as a table or raw
//! JSON) and `kiln tiers` (the tiers and their limits from `/engine/api/tiers`).

use clap::{Args, ValueEnum};
use kiln_store::TierRecord;
use serde::Deserialize;

use super::RemoteArgs;
use super::logs::parse_rfc3339;
use super::remote::ApiClient;
use super::table::render_table;
use super::users::{UserRef, parse_user_ref, resolve_user};

/// Options of `kiln usage`.
#[derive(Clone, Debug, Args)]
pub struct UsageArgs {
    /// Only requests made with this API key (its id, see `kiln keys list`).
    #[arg(long, value_name = "ID")]
    pub key: Option<i64>,
    /// Only requests of this user (id or email; admins for other users).
    #[arg(long, value_name = "ID_OR_EMAIL", value_parser = parse_user_ref)]
    pub user: Option<UserRef>,
    /// Only requests to this script.
    #[arg(long, value_name = "NAME")]
    pub script: Option<String>,
    /// Bucket size. Default: `hour`.
    #[arg(long, value_enum, value_name = "PERIOD")]
    pub period: Option<Period>,
    /// Start (RFC 3339, e.g. `2026-01-02T00:00:00Z`). Default: 24 hours ago for hourly
    /// buckets, 30 days ago for daily ones.
    #[arg(long, value_name = "TIME", value_parser = parse_rfc3339)]
    pub since: Option<String>,
    /// End, exclusive (RFC 3339). Default: now.
    #[arg(long, value_name = "TIME", value_parser = parse_rfc3339)]
    pub until: Option<String>,
    /// Print the server's JSON answer instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Bucket size of `kiln usage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Period {
    /// One row per UTC hour.
    Hour,
    /// One row per UTC day.
    Day,
}

impl Period {
    /// The name the API uses.
    fn as_str(self) -> &'static str {
        match self {
            Period::Hour => "hour",
            Period::Day => "day",
        }
    }
}

/// The server's answer.
#[derive(Debug, Deserialize)]
struct UsageReport {
    period: String,
    since: String,
    #[serde(default)]
    until: Option<String>,
    buckets: Vec<Bucket>,
}

/// One hour or day of usage.
#[derive(Debug, Default, Deserialize)]
struct Bucket {
    start: String,
    requests: i64,
    errors: i64,
    rate_limited: i64,
    cpu_ms: i64,
    bytes_in: i64,
    bytes_out: i64,
}

/// `GET /engine/api/tiers`.
#[derive(Deserialize)]
struct TierList {
    tiers: Vec<TierRecord>,
}

/// Prints the usage report.
pub(super) async fn usage(remote: &RemoteArgs, args: UsageArgs) -> anyhow::Result<()> {
    let client = ApiClient::new(remote)?;
    let mut query = Vec::new();
    if let Some(key) = args.key {
        query.push(("key_id", key.to_string()));
    }
    if let Some(user) = &args.user {
        query.push(("user_id", resolve_user(&client, user).await?.to_string()));
    }
    if let Some(script) = &args.script {
        query.push(("script", script.clone()));
    }
    if let Some(period) = args.period {
        query.push(("period", period.as_str().to_owned()));
    }
    if let Some(since) = &args.since {
        query.push(("since", since.clone()));
    }
    if let Some(until) = &args.until {
        query.push(("until", until.clone()));
    }
    let answer: serde_json::Value = client.get(&["usage"], &query).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    let report: UsageReport = serde_json::from_value(answer)
        .map_err(|err| anyhow::anyhow!("the server's usage report is not understood: {err}"))?;
    print!("{}", usage_text(&report));
    Ok(())
}

/// The report as a heading and a table with a total row.
fn usage_text(report: &UsageReport) -> String {
    let until = report.until.as_deref().unwrap_or("now");
    let heading = format!(
        "usage per {} from {} to {until}\n",
        report.period, report.since
    );
    if report.buckets.is_empty() {
        return format!("{heading}no requests recorded\n");
    }
    let row = |label: String, b: &Bucket| {
        [
            label,
            b.requests.to_string(),
            b.errors.to_string(),
            b.rate_limited.to_string(),
            b.cpu_ms.to_string(),
            human_bytes(b.bytes_in),
            human_bytes(b.bytes_out),
        ]
    };
    let mut total = Bucket::default();
    let mut rows: Vec<[String; 7]> = Vec::with_capacity(report.buckets.len() + 1);
    for b in &report.buckets {
        total.requests = total.requests.saturating_add(b.requests);
        total.errors = total.errors.saturating_add(b.errors);
        total.rate_limited = total.rate_limited.saturating_add(b.rate_limited);
        total.cpu_ms = total.cpu_ms.saturating_add(b.cpu_ms);
        total.bytes_in = total.bytes_in.saturating_add(b.bytes_in);
        total.bytes_out = total.bytes_out.saturating_add(b.bytes_out);
        rows.push(row(b.start.clone(), b));
    }
    if report.buckets.len() > 1 {
        rows.push(row("total".to_owned(), &total));
    }
    let table = render_table(
        &[
            "START",
            "REQUESTS",
            "ERRORS",
            "RATE LIMITED",
            "CPU MS",
            "BYTES IN",
            "BYTES OUT",
        ],
        &rows,
    );
    format!("{heading}{table}")
}

/// `512 B`, `1.5 KiB`, `3.0 MiB`…
fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[allow(clippy::cast_precision_loss)] // display only
    let mut value = bytes as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

/// Prints the tiers as a table.
pub(super) async fn tiers(remote: &RemoteArgs) -> anyhow::Result<()> {
    let client = ApiClient::new(remote)?;
    let list: TierList = client.get(&["tiers"], &[]).await?;
    if list.tiers.is_empty() {
        println!("no tiers defined");
    } else {
        print!("{}", tier_table(&list.tiers));
    }
    Ok(())
}

/// The tiers as a table; 0 means unlimited for the rate and the quota.
fn tier_table(tiers: &[TierRecord]) -> String {
    let limit = |n: i64| {
        if n == 0 {
            "unlimited".to_owned()
        } else {
            n.to_string()
        }
    };
    let rows: Vec<[String; 8]> = tiers
        .iter()
        .map(|t| {
            [
                t.name.clone(),
                limit(t.rate_per_minute),
                limit(t.quota_per_day),
                t.cpu_ms.to_string(),
                format!("{} MiB", t.memory_mb),
                human_bytes(t.max_input_bytes),
                human_bytes(t.max_wasm_bytes),
                t.max_concurrent.to_string(),
            ]
        })
        .collect();
    render_table(
        &[
            "NAME",
            "PER MINUTE",
            "PER DAY",
            "CPU MS",
            "MEMORY",
            "MAX INPUT",
            "MAX WASM",
            "CONCURRENT",
        ],
        &rows,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_human_readable() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn usage_renders_buckets_and_a_total() {
        let report: UsageReport = serde_json::from_str(
            r#"{"period":"hour","since":"2026-01-02T00:00:00Z","until":null,
                "filters":{"key_id":null,"user_id":null,"script":null},
                "buckets":[
                 {"start":"2026-01-02T00:00:00Z","requests":10,"errors":1,"rate_limited":2,
                  "cpu_ms":30,"duration_ms":50,"bytes_in":100,"bytes_out":2048,"by_class":{}},
                 {"start":"2026-01-02T01:00:00Z","requests":5,"errors":0,"rate_limited":0,
                  "cpu_ms":7,"duration_ms":9,"bytes_in":0,"bytes_out":10,"by_class":{"2xx":5}}]}"#,
        )
        .unwrap();
        assert_eq!(
            usage_text(&report),
            "usage per hour from 2026-01-02T00:00:00Z to now\n\
             START                 REQUESTS  ERRORS  RATE LIMITED  CPU MS  BYTES IN  BYTES OUT\n\
             2026-01-02T00:00:00Z  10        1       2             30      100 B     2.0 KiB\n\
             2026-01-02T01:00:00Z  5         0       0             7       0 B       10 B\n\
             total                 15        1       2             37      100 B     2.0 KiB\n"
        );
        let empty = UsageReport {
            buckets: Vec::new(),
            ..report
        };
        assert!(usage_text(&empty).ends_with("no requests recorded\n"));
    }

    #[test]
    fn tiers_render_unlimited_as_a_word() {
        let tiers = [TierRecord {
            name: "pro".into(),
            rate_per_minute: 0,
            quota_per_day: 50_000,
            cpu_ms: 10_000,
            memory_mb: 256,
            max_wasm_bytes: 52_428_800,
            max_input_bytes: 10_485_760,
            max_concurrent: 20,
        }];
        assert_eq!(
            tier_table(&tiers),
            "NAME  PER MINUTE  PER DAY  CPU MS  MEMORY   MAX INPUT  MAX WASM  CONCURRENT\n\
             pro   unlimited   50000    10000   256 MiB  10.0 MiB   50.0 MiB  20\n"
        );
    }
}
