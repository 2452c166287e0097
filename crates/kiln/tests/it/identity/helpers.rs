//! Helpers shared by the identity tests: planting sessions, reading cookies, form logins.

use kiln_store::IdentityStore;
use reqwest::{Method, RequestBuilder};

use crate::common::{Session, TestServer, fails, find_cookie, no_redirects};

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Opens the server's own database (to plant or inspect records).
pub(super) async fn open_store(server: &TestServer) -> kiln_store::SqliteStore {
    kiln_store::SqliteStore::open(&server.data_dir.join("kiln.db"))
        .await
        .expect("open the server's database")
}

/// Plants session `token` of account `user_id` straight into the database.
pub(super) async fn plant_session(
    store: &kiln_store::SqliteStore,
    token: &str,
    user_id: i64,
    (created_at, last_seen_at, expires_at): (i64, i64, i64),
) {
    let record = kiln_store::SessionRecord {
        id_hash: kiln::auth::session_hash(token),
        user_id,
        csrf_token: format!("csrf-{token}"),
        created_at,
        last_seen_at,
        expires_at,
        ip: Some("127.0.0.1".into()),
        user_agent: None,
    };
    store
        .create_session(&record)
        .await
        .expect("plant a session");
}

/// The `Set-Cookie` header (whole) of cookie `name`.
pub(super) fn raw_cookie(response: &reqwest::Response, name: &str) -> String {
    find_cookie(response, name)
        .unwrap_or_else(|| panic!("no {name} cookie set"))
        .1
}

/// The attributes of a `Set-Cookie` header, lowercased and trimmed.
pub(super) fn attributes(raw: &str) -> Vec<String> {
    raw.split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

/// Whether a `Set-Cookie` header has the (lowercase) attribute `wanted`.
pub(super) fn has_attribute(raw: &str, wanted: &str) -> bool {
    attributes(raw).iter().any(|a| a == wanted)
}

/// Posts the HTML sign-in form with `fields`; the redirect it answers is not followed.
pub(super) async fn form_login<const N: usize>(
    server: &TestServer,
    fields: [(&str, &str); N],
) -> reqwest::Response {
    let request = no_redirects()
        .post(server.url("/auth/login"))
        .form(&fields[..]);
    request.send().await.expect("request")
}

/// Asserts `session` is over: `SESSION_EXPIRED` on `/auth/me` and on the management API.
pub(super) async fn assert_ended(server: &TestServer, session: &Session) {
    for request in [
        server.cookie_only(Method::GET, "/auth/me", session),
        server.with_session(Method::GET, "/engine/api/scripts", session),
    ] {
        fails(request, 401, "SESSION_EXPIRED").await;
    }
}

/// Grants (`PUT`) or revokes (`DELETE`) `role` of account `id`, as `by` (not sent).
pub(super) fn role_request(
    server: &TestServer,
    method: Method,
    id: i64,
    role: &str,
    by: &Session,
) -> RequestBuilder {
    server.with_session(method, &format!("/engine/api/users/{id}/roles/{role}"), by)
}
