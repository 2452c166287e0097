//! Metering over real HTTP: tiers and their rate limits, day quotas, CPU, input and concurrency
//! caps for API keys; per-IP limits for anonymous callers; usage accounting and its filters;
//! the audit log.
//!
//! The limiter's arithmetic (GCRA waits, the day quota biting across minute windows and
//! resetting at UTC midnight, denied requests consuming nothing, concurrent checks) is proven
//! on a manual clock by the unit tests in `src/rate_limit.rs`; these tests check the plumbing
//! from a tier to the headers and status codes a client sees.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{
    Session, TestServer, assert_mentions, expect_error, forbidden, header, header_u64, json_status,
    key_of, totals, usage, usage_totals,
};

/// Every metered route, plus public twins.
const METERED: &str = r#"
function busy(req, ctx) {
  const ms = Number(ctx.query.ms ?? "200");
  const end = Date.now() + ms;
  let n = 0;
  while (Date.now() < end) { n++; }
  return "spun " + n;
}
export function init() {
  registerWebHandler("GET", "/m/ok", () => "ok", { auth: "apiKey" });
  registerWebHandler("POST", "/m/echo", async (req) => await req.text(), { auth: "apiKey" });
  registerWebHandler("GET", "/m/throw", () => { throw new Error("boom"); }, { auth: "apiKey" });
  registerWebHandler("GET", "/m/busy", busy, { auth: "apiKey" });
  registerWebHandler("GET", "/m/slow", async () => {
    await new Promise((resolve) => setTimeout(resolve, 500));
    return "slow";
  }, { auth: "apiKey" });
  registerWebHandler("GET", "/p/busy", busy);
  registerWebHandler("GET", "/p/hello", () => "hello");
}"#;

/// A second script, for the per-script usage filter.
const OTHER: &str = r#"
export function init() {
  registerWebHandler("GET", "/o/ok", () => "other", { auth: "apiKey" });
}"#;

/// A tier body: `rate`/min, `quota`/day, generous resource limits.
fn tier(rate: u32, quota: u32) -> Value {
    json!({
        "rate_per_minute": rate,
        "quota_per_day": quota,
        "cpu_ms": 1000,
        "memory_mb": 64,
        "max_wasm_bytes": 5_242_880,
        "max_input_bytes": 1_048_576,
        "max_concurrent": 10,
    })
}

/// A server with the metered script deployed and its admin signed in.
async fn metered_server(tweak: impl FnOnce(&mut kiln::config::Config)) -> (TestServer, Session) {
    let server = TestServer::start_with(tweak).await;
    let admin = server.first_admin().await;
    server.deploy_ok_as(&admin, "metered", METERED).await;
    (server, admin)
}

/// Creates or replaces tier `name` as `admin`; asserts success.
async fn put_tier(server: &TestServer, admin: &Session, name: &str, body: Value) {
    let path = format!("/engine/api/tiers/{name}");
    let request = server.with_session(Method::PUT, &path, admin).json(&body);
    let stored = json_status(request, 200).await;
    assert_eq!(stored["name"], name);
    assert_eq!(stored["rate_per_minute"], body["rate_per_minute"]);
}

/// An `invoke` key on `tier` owned by `session`'s user: `(secret, id)`.
async fn key_on(server: &TestServer, session: &Session, tier: &str) -> (String, i64) {
    let created = server
        .create_key(
            session,
            json!({ "name": format!("{tier} key"), "tier": tier, "scopes": ["invoke"] }),
        )
        .await;
    assert_eq!(created["tier"], tier);
    (key_of(&created), created["id"].as_i64().expect("id"))
}

/// A GET of `path` with API key `key`.
async fn get_with(server: &TestServer, key: &str, path: &str) -> reqwest::Response {
    let request = server.bearer(Method::GET, path, key);
    request.send().await.expect("request")
}

/// A POST of `body` to `/m/echo` with API key `key`.
async fn echo(server: &TestServer, key: &str, body: &str) -> reqwest::Response {
    let request = server.bearer(Method::POST, "/m/echo", key);
    request.body(body.to_owned()).send().await.expect("request")
}

/// Asserts a 200 and returns `RateLimit-Remaining`.
async fn ok_remaining(response: reqwest::Response) -> u64 {
    let status = response.status();
    let remaining = header(&response, "ratelimit-remaining").and_then(|v| v.parse().ok());
    let text = response.text().await.expect("body");
    assert_eq!(status, 200, "{text}");
    remaining.expect("RateLimit-Remaining on a metered success")
}

/// GETs `path` with `key`; asserts a 200 and returns `RateLimit-Remaining`.
async fn remaining_after(server: &TestServer, key: &str, path: &str) -> u64 {
    ok_remaining(get_with(server, key, path).await).await
}

/// GETs `path` with `key`; asserts it fails with `status` / `code`, returns the error.
async fn call_fails(server: &TestServer, key: &str, path: &str, status: u16, code: &str) -> Value {
    expect_error(get_with(server, key, path).await, status, code).await
}

/// Seconds from now to the next 00:00 UTC.
fn secs_to_utc_midnight() -> i64 {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    86_400 - now.rem_euclid(86_400)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_minute_limit_counts_down_then_answers_429_with_headers() {
    let (server, admin) = metered_server(|_| {}).await;
    put_tier(&server, &admin, "three", tier(3, 1000)).await;
    let (key, _) = key_on(&server, &admin, "three").await;

    for expected in [2, 1, 0] {
        let response = get_with(&server, &key, "/m/ok").await;
        assert_eq!(header(&response, "ratelimit-limit"), Some("3"));
        assert_eq!(header_u64(&response, "ratelimit-remaining"), expected);
        let reset = header_u64(&response, "ratelimit-reset");
        assert!((1..=60).contains(&reset), "reset {reset}");
        assert_eq!(
            header(&response, "ratelimit-policy"),
            Some("3;w=60, 1000;w=86400")
        );
        assert!(response.headers().get("retry-after").is_none());
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "ok");
    }

    let response = get_with(&server, &key, "/m/ok").await;
    let retry = header_u64(&response, "retry-after");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(header(&response, "ratelimit-limit"), Some("3"));
    assert_eq!(header(&response, "ratelimit-remaining"), Some("0"));
    let reset = header_u64(&response, "ratelimit-reset");
    assert!(
        (retry..=60).contains(&reset),
        "reset {reset}, retry {retry}"
    );
    assert_eq!(
        header(&response, "ratelimit-policy"),
        Some("3;w=60, 1000;w=86400")
    );
    let error = expect_error(response, 429, "RATE_LIMITED").await;
    assert_mentions(&error, "per-minute");
    // A denied request does not run the script and stays denied.
    call_fails(&server, &key, "/m/ok", 429, "RATE_LIMITED").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_quota_answers_429_until_utc_midnight_and_is_per_key() {
    // (That the quota bites across minute windows and resets at 00:00 UTC is proven on a
    // manual clock in `rate_limit::tests::day_quota_bites_across_minutes_and_resets_at_utc_midnight`.)
    let (server, admin) = metered_server(|_| {}).await;
    put_tier(&server, &admin, "daily", tier(1000, 3)).await;
    let (first, _) = key_on(&server, &admin, "daily").await;
    let (second, _) = key_on(&server, &admin, "daily").await;

    for expected in [2, 1, 0] {
        let response = get_with(&server, &first, "/m/ok").await;
        // The day is closer to exhaustion than the minute: it is the window reported.
        assert_eq!(header(&response, "ratelimit-limit"), Some("3"));
        assert_eq!(
            header(&response, "ratelimit-policy"),
            Some("1000;w=60, 3;w=86400")
        );
        let reset = i64::try_from(header_u64(&response, "ratelimit-reset")).unwrap();
        assert!((reset - secs_to_utc_midnight()).abs() <= 5, "reset {reset}");
        assert_eq!(ok_remaining(response).await, expected);
    }

    let response = get_with(&server, &first, "/m/ok").await;
    let retry = i64::try_from(header_u64(&response, "retry-after")).unwrap();
    let midnight = secs_to_utc_midnight();
    assert!(
        (retry - midnight).abs() <= 5,
        "Retry-After {retry}, midnight in {midnight}"
    );
    assert_eq!(header(&response, "ratelimit-limit"), Some("3"));
    assert_eq!(header(&response, "ratelimit-remaining"), Some("0"));
    let error = expect_error(response, 429, "QUOTA_EXCEEDED").await;
    assert_mentions(&error, "daily quota");

    // Another key on the same tier has its own quota.
    assert_eq!(remaining_after(&server, &second, "/m/ok").await, 2);
    call_fails(&server, &first, "/m/ok", 429, "QUOTA_EXCEEDED").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_quota_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let admin = server.first_admin().await;
    server.deploy_ok_as(&admin, "metered", METERED).await;
    put_tier(&server, &admin, "daily", tier(1000, 3)).await;
    let (key, _) = key_on(&server, &admin, "daily").await;
    for expected in [2, 1] {
        assert_eq!(remaining_after(&server, &key, "/m/ok").await, expected);
    }
    // Stopping flushes the usage events to the database.
    server.stop().await;

    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let response = get_with(&server, &key, "/m/ok").await;
    assert_eq!(header(&response, "ratelimit-limit"), Some("3"));
    assert_eq!(ok_remaining(response).await, 0);
    call_fails(&server, &key, "/m/ok", 429, "QUOTA_EXCEEDED").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tier_change_applies_to_the_next_request() {
    let (server, admin) = metered_server(|c| c.limits.cpu_ms = 1_000).await;
    put_tier(&server, &admin, "flex", tier(2, 0)).await;
    let (key, _) = key_on(&server, &admin, "flex").await;
    for expected in [1, 0] {
        assert_eq!(remaining_after(&server, &key, "/m/ok").await, expected);
    }
    let response = get_with(&server, &key, "/m/ok").await;
    assert_eq!(header(&response, "ratelimit-policy"), Some("2;w=60"));
    expect_error(response, 429, "RATE_LIMITED").await;

    // Upgraded: the very next request runs under 10/min.
    put_tier(&server, &admin, "flex", tier(10, 0)).await;
    let response = get_with(&server, &key, "/m/ok").await;
    assert_eq!(header(&response, "ratelimit-limit"), Some("10"));
    assert_eq!(header(&response, "ratelimit-policy"), Some("10;w=60"));
    assert_eq!(ok_remaining(response).await, 9);

    // Resource limits follow too: 100 ms of spinning fits the tier's 1 s of CPU, not 5 ms.
    assert_eq!(remaining_after(&server, &key, "/m/busy?ms=100").await, 8);
    let mut tight = tier(10, 0);
    tight["cpu_ms"] = json!(5);
    put_tier(&server, &admin, "flex", tight).await;
    call_fails(&server, &key, "/m/busy?ms=100", 504, "SCRIPT_TIMEOUT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tier_cpu_limit_applies_to_keys_not_to_anonymous_twins() {
    let (server, admin) = metered_server(|c| c.limits.cpu_ms = 2_000).await;
    let mut small = tier(100, 0);
    small["cpu_ms"] = json!(20);
    put_tier(&server, &admin, "small", small).await;
    let (key, _) = key_on(&server, &admin, "small").await;

    let error = call_fails(&server, &key, "/m/busy?ms=200", 504, "SCRIPT_TIMEOUT").await;
    assert_mentions(&error, "CPU");
    // The same code on a public route runs under the script's own 2 s budget.
    let text = server.get_text("/p/busy?ms=200").await;
    assert!(text.starts_with("spun "), "{text}");
    // And the key still works for cheap work.
    assert_eq!(remaining_after(&server, &key, "/m/busy?ms=1").await, 98);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tier_input_limit_answers_413() {
    let (server, admin) = metered_server(|_| {}).await;
    let mut narrow = tier(100, 0);
    narrow["max_input_bytes"] = json!(100);
    put_tier(&server, &admin, "narrow", narrow).await;
    let (key, _) = key_on(&server, &admin, "narrow").await;

    let small = "x".repeat(100);
    let response = echo(&server, &key, &small).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), small);

    let big = "x".repeat(101);
    let response = echo(&server, &key, &big).await;
    assert!(response.headers().get("ratelimit-limit").is_some());
    let error = expect_error(response, 413, "PAYLOAD_TOO_LARGE").await;
    assert_mentions(&error, "100");

    // Another tier with the default limit takes the same body.
    put_tier(&server, &admin, "wide", tier(100, 0)).await;
    let (wide, _) = key_on(&server, &admin, "wide").await;
    let response = echo(&server, &wide, &big).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrency_cap_refuses_a_second_call_without_using_quota() {
    let (server, admin) = metered_server(|_| {}).await;
    let mut single = tier(1000, 3);
    single["max_concurrent"] = json!(1);
    put_tier(&server, &admin, "single", single).await;
    let (key, _) = key_on(&server, &admin, "single").await;

    let (a, b) = tokio::join!(
        get_with(&server, &key, "/m/slow"),
        get_with(&server, &key, "/m/slow")
    );
    let (ok, refused) = if a.status() == 200 { (a, b) } else { (b, a) };
    assert_eq!(ok.status(), 200);
    assert_eq!(header(&refused, "retry-after"), Some("1"));
    let error = expect_error(refused, 429, "CONCURRENCY_LIMIT").await;
    assert_mentions(&error, "1");
    assert_eq!(ok.text().await.unwrap(), "slow");

    // The slot is free again, and the refused call took none of the day quota (3): two more
    // calls pass before the quota answers.
    assert_eq!(remaining_after(&server, &key, "/m/ok").await, 1);
    assert_eq!(remaining_after(&server, &key, "/m/ok").await, 0);
    call_fails(&server, &key, "/m/ok", 429, "QUOTA_EXCEEDED").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_callers_are_limited_per_address_and_keys_are_not() {
    let (server, admin) = metered_server(|c| c.auth.anonymous_per_minute = 2).await;
    for expected in ["1", "0"] {
        let response = server.get("/p/hello").await;
        assert_eq!(header(&response, "ratelimit-limit"), Some("2"));
        assert_eq!(header(&response, "ratelimit-remaining"), Some(expected));
        assert_eq!(header(&response, "ratelimit-policy"), Some("2;w=60"));
        assert_eq!(response.text().await.unwrap(), "hello");
    }
    let response = server.get("/p/hello").await;
    let retry = header_u64(&response, "retry-after");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(header(&response, "ratelimit-limit"), Some("2"));
    assert_eq!(header(&response, "ratelimit-remaining"), Some("0"));
    assert_eq!(header(&response, "ratelimit-policy"), Some("2;w=60"));
    expect_error(response, 429, "RATE_LIMITED").await;

    // A key is metered by its tier, not by the address.
    put_tier(&server, &admin, "roomy", tier(50, 0)).await;
    let (key, _) = key_on(&server, &admin, "roomy").await;
    for expected in [49, 48, 47] {
        let response = get_with(&server, &key, "/p/hello").await;
        assert_eq!(header(&response, "ratelimit-limit"), Some("50"));
        assert_eq!(ok_remaining(response).await, expected);
    }
    // The address is still limited.
    expect_error(server.get("/p/hello").await, 429, "RATE_LIMITED").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_anonymous_limits_public_routes_are_unmetered() {
    let (server, _admin) = metered_server(|_| {}).await;
    for _ in 0..5 {
        let response = server.get("/p/hello").await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("ratelimit-limit").is_none());
        assert!(response.headers().get("ratelimit-policy").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_accounted_per_class_and_filtered() {
    let (server, admin) = metered_server(|c| c.limits.cpu_ms = 1_000).await;
    server.deploy_ok_as(&admin, "other", OTHER).await;
    let mut metered = tier(5, 0);
    metered["cpu_ms"] = json!(100);
    put_tier(&server, &admin, "acct", metered).await;
    let (key, key_id) = key_on(&server, &admin, "acct").await;

    // Five calls within 5/min: three successes, a thrown error, a CPU timeout; then a 429.
    assert_eq!(get_with(&server, &key, "/m/ok").await.status(), 200);
    let response = echo(&server, &key, "hello usage").await;
    assert_eq!(response.text().await.unwrap(), "hello usage");
    assert_eq!(get_with(&server, &key, "/m/busy?ms=30").await.status(), 200);
    call_fails(&server, &key, "/m/throw", 500, "SCRIPT_ERROR").await;
    call_fails(&server, &key, "/m/busy?ms=1000", 504, "SCRIPT_TIMEOUT").await;
    call_fails(&server, &key, "/m/ok", 429, "RATE_LIMITED").await;

    let sum = usage_totals(&server, &admin, &format!("key_id={key_id}"), 6).await;
    assert_eq!(sum["errors"], 3, "{sum}");
    assert_eq!(sum["rate_limited"], 1, "{sum}");
    assert_eq!(
        sum["by_class"],
        json!({"success": 3, "execution_error": 1, "time_limit_exceeded": 1, "rate_limited": 1}),
        "{sum}"
    );
    // The timeout is charged its whole budget; the 30 ms spin some CPU of its own.
    assert!(sum["cpu_ms"].as_i64().unwrap() >= 100, "{sum}");
    assert!(sum["duration_ms"].as_i64().unwrap() > 0, "{sum}");
    assert_eq!(sum["bytes_in"], "hello usage".len(), "{sum}");
    assert!(sum["bytes_out"].as_i64().unwrap() >= 2 + 11 + 5, "{sum}");

    // The CPU of the successful busy call alone: a fresh key, one call.
    let (busy_key, busy_id) = key_on(&server, &admin, "acct").await;
    assert_eq!(
        get_with(&server, &busy_key, "/m/busy?ms=30").await.status(),
        200
    );
    let busy = usage_totals(&server, &admin, &format!("key_id={busy_id}"), 1).await;
    assert!(busy["cpu_ms"].as_i64().unwrap() > 0, "{busy}");

    // Per script and per user.
    assert_eq!(get_with(&server, &busy_key, "/o/ok").await.status(), 200);
    let other = usage_totals(&server, &admin, "script=other", 1).await;
    assert_eq!(other["by_class"], json!({"success": 1}));
    usage_totals(&server, &admin, "script=metered", 7).await;
    usage_totals(
        &server,
        &admin,
        &format!("key_id={busy_id}&script=metered"),
        1,
    )
    .await;
    let admin_id = admin.id();
    usage_totals(&server, &admin, &format!("user_id={admin_id}"), 8).await;

    let user = server
        .new_account(&admin, "user@example.com", &["user"])
        .await;
    let user_id = user.id();
    let (user_key, user_key_id) = key_on(&server, &user, "free").await;
    assert_eq!(get_with(&server, &user_key, "/m/ok").await.status(), 200);
    usage_totals(&server, &admin, &format!("user_id={user_id}"), 1).await;
    usage_totals(&server, &admin, "", 9).await;

    // Daily buckets: one bucket per UTC day, starting at midnight.
    let (status, body) = usage(&server, &admin, &format!("period=day&key_id={key_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["period"], "day");
    let buckets = body["buckets"].as_array().unwrap();
    assert!(!buckets.is_empty() && buckets.len() <= 2, "{body}");
    for bucket in buckets {
        assert!(
            bucket["start"].as_str().unwrap().ends_with("T00:00:00Z"),
            "{bucket}"
        );
    }
    assert_eq!(totals(&body)["requests"], 6);

    // A user sees only their own usage.
    let mine = usage_totals(&server, &user, "", 1).await;
    assert_eq!(mine["by_class"], json!({"success": 1}));
    usage_totals(&server, &user, &format!("user_id={user_id}"), 1).await;
    usage_totals(&server, &user, &format!("key_id={user_key_id}"), 1).await;
    let (status, body) = usage(&server, &user, &format!("user_id={admin_id}")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "FORBIDDEN");
    let (status, body) = usage(&server, &user, &format!("key_id={key_id}")).await;
    assert_eq!(status, 403, "{body}");
    // Even the other script's filter only shows the user's calls (none there).
    let (status, body) = usage(&server, &user, "script=other").await;
    assert_eq!(status, 200);
    assert_eq!(totals(&body)["requests"], 0, "{body}");

    let (status, body) = usage(&server, &admin, "period=week").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = usage(&server, &admin, "since=yesterday").await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_shows_security_events_to_admins_only() {
    let (server, admin) = metered_server(|_| {}).await;
    put_tier(&server, &admin, "audited", tier(10, 100)).await;
    key_on(&server, &admin, "audited").await;
    let user = server
        .new_account(&admin, "user@example.com", &["user"])
        .await;

    let body = server.get_as(&admin, "/engine/api/audit").await;
    let events = body["events"].as_array().expect("events");
    let find = |action: &str| {
        events
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} event in {body}"))
            .clone()
    };
    let tier_updated = find("tier_updated");
    assert_eq!(tier_updated["target"], "audited");
    assert_eq!(tier_updated["actor"], "admin@example.com");
    assert_eq!(tier_updated["ip"], "127.0.0.1");
    assert_eq!(tier_updated["detail"]["quota_per_day"], 100);
    let key_created = find("key_created");
    assert_eq!(key_created["detail"]["tier"], "audited");
    assert_eq!(key_created["actor_user_id"], admin.user["id"]);
    let login = find("login");
    assert_eq!(login["detail"]["method"], "password");
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "login" && e["target"] == "user@example.com"),
        "{body}"
    );
    // Newest first.
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");

    // Filtered by action.
    let events = server.audit(&admin, "tier_updated").await;
    assert_eq!(events.len(), 1, "{events:?}");

    forbidden(server.with_session(Method::GET, "/engine/api/audit", &user)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_timeout_is_charged_the_budget_it_exceeded() {
    // The script's own budget (50 ms, the default) is tighter than the tier's (1 s): the
    // invocation stops at 50 ms and that is what its usage shows.
    let (server, admin) = metered_server(|_| {}).await;
    put_tier(&server, &admin, "roomy", tier(100, 0)).await;
    let (key, key_id) = key_on(&server, &admin, "roomy").await;
    let error = call_fails(&server, &key, "/m/busy?ms=400", 504, "SCRIPT_TIMEOUT").await;
    assert_mentions(&error, "50 ms");
    let sum = usage_totals(&server, &admin, &format!("key_id={key_id}"), 1).await;
    assert_eq!(sum["by_class"], json!({"time_limit_exceeded": 1}), "{sum}");
    assert_eq!(sum["cpu_ms"], 50, "{sum}");
}
