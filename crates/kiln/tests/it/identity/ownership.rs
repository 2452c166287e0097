//! Script ownership and sharing, the identity scripts see as `ctx.user` (including scripts that
//! try to change it), races for a name, and password changes.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{
    PASSWORD, Session, TestServer, assert_bearer_challenge, assert_mentions, expect_error,
    expect_status, fails, forbidden, json_status, key_of, strings, usage_totals,
};

use super::helpers::*;

// ---------------------------------------------------------------------------------------------
// Script ownership.

const APP: &str = r#"const VERSION = 1;
export function init() { registerWebHandler("GET", "/a-app", () => "a-app v" + VERSION); }"#;

fn app_version(n: u32) -> String {
    APP.replace("VERSION = 1", &format!("VERSION = {n}"))
}

/// The first admin and two editors, `a@example.com` and `b@example.com`.
async fn admin_and_editors(server: &TestServer) -> (Session, Session, Session) {
    let admin = server.first_admin().await;
    let (a, b) = server.two_editors(&admin).await;
    (admin, a, b)
}

/// The names of the scripts `session` sees, sorted.
async fn scripts_seen(server: &TestServer, session: &Session) -> Vec<String> {
    let listed = server.get_as(session, "/engine/api/scripts").await;
    let mut names = strings(&listed["scripts"], "name");
    names.sort();
    names
}

/// The emails of script `name`'s owners as `session` sees them, sorted.
async fn owners(server: &TestServer, session: &Session, name: &str) -> Vec<String> {
    let path = format!("/engine/api/scripts/{name}/owners");
    let mut emails = strings(&server.get_as(session, &path).await["owners"], "email");
    emails.sort();
    emails
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editors_manage_only_the_scripts_they_own() {
    let server = TestServer::start().await;
    let (admin, a, b) = admin_and_editors(&server).await;
    server.deploy_ok_as(&a, "a-app", &app_version(1)).await;
    server.deploy_ok_as(&a, "a-app", &app_version(2)).await;
    assert_eq!(server.get_text("/a-app").await, "a-app v2");

    // B can do nothing to A's script.
    let denied = forbidden(server.deploy_request_as(&b, "a-app", &app_version(666))).await;
    assert_mentions(&denied, "a-app");
    let a_owner = format!("/engine/api/scripts/a-app/owners/{}", a.id());
    for (method, path) in [
        (Method::GET, "/engine/api/scripts/a-app"),
        (Method::GET, "/engine/api/scripts/a-app/versions"),
        (Method::GET, "/engine/api/scripts/a-app/versions/1"),
        (Method::GET, "/engine/api/scripts/a-app/logs"),
        (Method::GET, "/engine/api/scripts/a-app/owners"),
        (Method::POST, "/engine/api/scripts/a-app/rollback"),
        (Method::POST, "/engine/api/scripts/a-app/owners"),
        (Method::DELETE, "/engine/api/scripts/a-app"),
        (Method::DELETE, &a_owner),
    ] {
        let body = if path.ends_with("rollback") {
            json!({ "version": 1 })
        } else {
            json!({ "email": "b@example.com" })
        };
        let request = server.with_session(method.clone(), path, &b);
        let request = if method == Method::POST {
            request.json(&body)
        } else {
            request
        };
        forbidden(request).await;
    }
    // Still A's, still version 2, still serving.
    assert_eq!(server.get_text("/a-app").await, "a-app v2");
    let seen = scripts_seen(&server, &b).await;
    assert!(seen.is_empty(), "{seen:?}");
    let routes = server.get_as(&b, "/engine/api/routes").await;
    assert_eq!(routes["routes"], json!([]), "{routes}");
    // B's own script is B's.
    let b_app = r#"export function init() { registerWebHandler("GET", "/b-app", () => "b"); }"#;
    server.deploy_ok_as(&b, "b-app", b_app).await;
    assert_eq!(scripts_seen(&server, &b).await, ["b-app"]);
    assert_eq!(scripts_seen(&server, &a).await, ["a-app"]);
    // A may read, roll back and delete its own.
    server
        .get_as(&a, "/engine/api/scripts/a-app/versions/1")
        .await;
    let rollback = |session: &Session, name: &str| {
        let path = format!("/engine/api/scripts/{name}/rollback");
        server
            .with_session(Method::POST, &path, session)
            .json(&json!({ "version": 1 }))
    };
    let rolled = json_status(rollback(&a, "a-app"), 200).await;
    assert_eq!(rolled["active_version"], 1);
    assert_eq!(server.get_text("/a-app").await, "a-app v1");

    // The admin sees and manages everything.
    assert_eq!(scripts_seen(&server, &admin).await, ["a-app", "b-app"]);
    server.deploy_ok_as(&admin, "a-app", &app_version(3)).await;
    assert_eq!(server.get_text("/a-app").await, "a-app v3");
    json_status(rollback(&admin, "b-app"), 200).await;
    let delete = server.with_session(Method::DELETE, "/engine/api/scripts/b-app", &admin);
    expect_status(delete, 204).await;
    expect_error(server.get("/b-app").await, 404, "ROUTE_NOT_FOUND").await;
    // A still owns its script after the admin's deploy; B never became an owner.
    let emails = owners(&server, &a, "a-app").await;
    assert!(emails.iter().any(|e| e == "a@example.com"), "{emails:?}");
    assert!(!emails.iter().any(|e| e == "b@example.com"), "{emails:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_without_the_editor_role_cannot_deploy() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let user = server.new_account(&admin, "u@example.com", &["user"]).await;
    let empty = "export function init() {}";
    // Not as files, not even as a raw JavaScript body.
    for request in [
        server.deploy_request_as(&user, "mine", empty),
        server
            .with_session(Method::POST, "/engine/api/scripts/mine/versions", &user)
            .header("content-type", "application/javascript")
            .body(empty),
    ] {
        forbidden(request).await;
    }
    let seen = scripts_seen(&server, &user).await;
    assert!(seen.is_empty(), "{seen:?}");
    forbidden(server.with_session(Method::GET, "/engine/api/users", &user)).await;
    // Nothing was claimed: an editor can still take the name.
    let editor = server
        .new_account(&admin, "e@example.com", &["editor"])
        .await;
    server.deploy_ok_as(&editor, "mine", empty).await;
    // The user may still manage their own keys.
    let key = server.create_key(&user, json!({ "name": "mine" })).await;
    assert_eq!(key["user_id"], user.user["id"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_can_share_a_script_with_another_editor() {
    let server = TestServer::start().await;
    let (_, a, b) = admin_and_editors(&server).await;
    server.deploy_ok_as(&a, "a-app", &app_version(1)).await;
    forbidden(server.deploy_request_as(&b, "a-app", &app_version(2))).await;
    let add_owner = |email: &str| {
        server
            .with_session(Method::POST, "/engine/api/scripts/a-app/owners", &a)
            .json(&json!({ "email": email }))
    };
    fails(add_owner("nobody@example.com"), 404, "USER_NOT_FOUND").await;
    expect_status(add_owner("b@example.com"), 204).await;
    let emails = owners(&server, &b, "a-app").await;
    assert_eq!(emails.len(), 2, "{emails:?}");
    server.deploy_ok_as(&b, "a-app", &app_version(2)).await;
    assert_eq!(server.get_text("/a-app").await, "a-app v2");
    assert_eq!(scripts_seen(&server, &b).await, ["a-app"]);
    // Removed again, B is locked out again.
    let b_owner = format!("/engine/api/scripts/a-app/owners/{}", b.id());
    expect_status(server.with_session(Method::DELETE, &b_owner, &a), 204).await;
    forbidden(server.deploy_request_as(&b, "a-app", &app_version(3))).await;
    assert_eq!(server.get_text("/a-app").await, "a-app v2");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// `ctx.user` in scripts.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_see_the_signed_in_user() {
    let server = TestServer::start().await;
    let admin = server.first_admin_with_whoami().await;
    let editor = server
        .new_account(&admin, "ed@example.com", &["editor"])
        .await;

    let me = server.browse(&editor, "/whoami").await;
    assert_eq!(
        me,
        json!({
            "email": "ed@example.com",
            "roles": ["editor"],
            "isAdmin": false,
            "userIsNull": false,
            "apiKey": null,
        })
    );
    let me = server.browse(&admin, "/whoami").await;
    assert_eq!(me["email"], "admin@example.com");
    assert_eq!(me["isAdmin"], true);

    // An API key acts as its owner.
    let key = server
        .create_key(&editor, json!({ "name": "script", "scopes": ["invoke"] }))
        .await;
    let me = server.get_with_key(&key_of(&key), "/whoami").await;
    assert_eq!(me["email"], "ed@example.com");
    assert_eq!(me["roles"], json!(["editor"]));
    assert_eq!(me["isAdmin"], false);
    assert_eq!(me["apiKey"]["prefix"], key["prefix"]);

    // Anonymous callers are refused before the script runs.
    let response = server.get("/whoami").await;
    assert_bearer_challenge(&response);
    expect_error(response, 401, "UNAUTHORIZED").await;
    // On a public route they are null.
    let me = server.get_json("/public").await;
    assert_eq!(me["userIsNull"], true);
    assert_eq!(me["apiKey"], Value::Null);
    let me = server.browse(&editor, "/public").await;
    assert_eq!(me["email"], "ed@example.com");
    // A foreign Authorization scheme is the script's business, not an error.
    let basic = server
        .client
        .get(server.url("/public"))
        .header("authorization", "Basic dXNlcjpwYXNz");
    let me = json_status(basic, 200).await;
    assert_eq!(me["userIsNull"], true);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_routes_need_the_role() {
    let server = TestServer::start().await;
    let admin = server.first_admin_with_whoami().await;
    let user = server.new_account(&admin, "u@example.com", &["user"]).await;
    let id = user.id();
    expect_error(server.get("/auditors").await, 401, "UNAUTHORIZED").await;
    // Admin is not a wildcard for custom roles.
    for session in [&user, &admin] {
        forbidden(server.cookie_only(Method::GET, "/auditors", session)).await;
    }
    json_status(
        role_request(&server, Method::PUT, id, "auditor", &admin),
        200,
    )
    .await;
    // Effective on the next request of the existing session.
    let me = server.browse(&user, "/auditors").await;
    assert_eq!(me["email"], "u@example.com");
    assert_eq!(me["roles"], json!(["auditor", "user"]));
    json_status(
        role_request(&server, Method::DELETE, id, "auditor", &admin),
        200,
    )
    .await;
    forbidden(server.cookie_only(Method::GET, "/auditors", &user)).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_posts_to_script_routes_need_the_csrf_token() {
    let server = TestServer::start().await;
    let admin = server.first_admin_with_whoami().await;
    let user = server.new_account(&admin, "u@example.com", &["user"]).await;
    let post = |path: &str| server.cookie_only(Method::POST, path, &user);
    for request in [
        post("/whoami"),
        post("/whoami").header("x-csrf-token", &admin.csrf),
    ] {
        fails(request, 403, "CSRF_TOKEN_INVALID").await;
    }
    let me = json_status(server.with_session(Method::POST, "/whoami", &user), 200).await;
    assert_eq!(me["email"], "u@example.com");
    // A public route runs, but a forgeable cookie-only POST is anonymous.
    let me = json_status(post("/public"), 200).await;
    assert_eq!(me["userIsNull"], true, "{me}");
    assert_eq!(me["email"], Value::Null);
    let me = json_status(server.with_session(Method::POST, "/public", &user), 200).await;
    assert_eq!(me["email"], "u@example.com");
    // Safe methods need no token.
    let me = server.browse(&user, "/whoami").await;
    assert_eq!(me["email"], "u@example.com");
    server.stop().await;
}

/// A script doing everything it can to change the identity later requests receive.
const SPOOF: &str = r#"
const FORGED = { id: 1, email: "forged@evil.example", name: null, roles: ["admin", "auditor"] };
let stash = null;
let requests = 0;

function poison() {
  Object.freeze = (o) => o;
  JSON.parse = () => ({ user: FORGED, apiKey: null });
  Array.prototype.includes = function () { return true; };
  Array.isArray = () => false;
  Object.defineProperty(Object.prototype, "user", {
    get() { return FORGED; }, set(v) {}, configurable: true,
  });
  Object.defineProperty(Object.prototype, "roles", {
    get() { return ["admin"]; }, set(v) {}, configurable: true,
  });
  Object.prototype.hasRole = () => true;
  globalThis.user = FORGED;
}
poison();

function who(req, ctx) {
  requests += 1;
  const tried = [];
  try { ctx.user.roles.push("admin"); tried.push("push"); } catch (e) {}
  try { ctx.user.roles[0] = "admin"; tried.push("index"); } catch (e) {}
  try { ctx.user.email = "forged@evil.example"; tried.push("email"); } catch (e) {}
  try { ctx.user.hasRole = () => true; tried.push("hasRole"); } catch (e) {}
  try { Object.setPrototypeOf(ctx.user, { hasRole: () => true }); tried.push("proto"); } catch (e) {}
  const roles = [];
  for (let i = 0; i < ctx.user.roles.length; i++) roles[roles.length] = ctx.user.roles[i];
  const answer = {
    email: ctx.user.email,
    roles,
    isAdmin: ctx.user.hasRole("admin"),
    isAuditor: ctx.user.hasRole("auditor"),
    frozen: Object.isFrozen(ctx.user) && Object.isFrozen(ctx.user.roles),
    stashed: stash === null ? null : stash.email,
    tried,
    requests,
  };
  // Keep the first caller around, and try to hand it (or a forgery) to the next request.
  if (stash === null) stash = ctx.user;
  ctx.user = FORGED;
  poison();
  return answer;
}

export function init() {
  poison();
  registerWebHandler("GET", "/spoof", who, { auth: "user" });
  registerWebHandler("GET", "/spoof-admin", (req, ctx) => ({ email: ctx.user.email }), { auth: "role:admin" });
}"#;

/// Asserts a SPOOF answer shows the real caller, untouched.
fn assert_acts_as(me: &Value, email: &str, roles: &Value, is_admin: bool, round: usize) {
    assert_eq!(me["email"], email, "round {round}: {me}");
    assert_eq!(me["roles"], *roles, "round {round}: {me}");
    assert_eq!(me["isAdmin"], is_admin, "round {round}: {me}");
    assert_eq!(me["isAuditor"], false, "round {round}: {me}");
    assert_eq!(me["frozen"], true, "{me}");
    assert_eq!(me["tried"], json!([]), "mutations must fail: {me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_cannot_change_who_they_act_as() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    server.deploy_ok_as(&admin, "spoof", SPOOF).await;
    let user = server.new_account(&admin, "u@example.com", &["user"]).await;
    let key = server
        .mint_key(&user, json!({ "name": "k", "scopes": ["invoke"] }))
        .await;
    let (admin_roles, user_roles) = (json!(["admin"]), json!(["user"]));

    // Alternate callers several times so that every worker has been poisoned by the admin's
    // requests before it serves the user's.
    for round in 0..4 {
        for (request, email, roles, is_admin) in [
            (
                server.cookie_only(Method::GET, "/spoof", &admin),
                "admin@example.com",
                &admin_roles,
                true,
            ),
            (
                server.cookie_only(Method::GET, "/spoof", &user),
                "u@example.com",
                &user_roles,
                false,
            ),
            (
                server.bearer(Method::GET, "/spoof", &key),
                "u@example.com",
                &user_roles,
                false,
            ),
        ] {
            let me = json_status(request, 200).await;
            assert_acts_as(&me, email, roles, is_admin, round);
        }
        // The host decides role routes, whatever the script did to itself.
        forbidden(server.cookie_only(Method::GET, "/spoof-admin", &user)).await;
        let me = server.browse(&admin, "/spoof-admin").await;
        assert_eq!(me["email"], "admin@example.com");
        expect_error(server.get("/spoof").await, 401, "UNAUTHORIZED").await;
    }
    // The script kept its own memory (the stash), which is fine: it is not an identity.
    let me = server.browse(&user, "/spoof").await;
    assert!(
        me["stashed"] == "admin@example.com" || me["stashed"] == "u@example.com",
        "{me}"
    );
    assert!(me["requests"].as_u64().unwrap() >= 2, "{me}");
    // Usage is charged to whoever really called: the host's record, not the script's objects.
    let (admin_id, user_id) = (
        admin.user["id"].as_i64().unwrap(),
        user.user["id"].as_i64().unwrap(),
    );
    let key_id = server.get_with_key(&key, "/auth/me").await["api_key"]["id"].clone();
    usage_totals(
        &server,
        &admin,
        &format!("script=spoof&user_id={admin_id}"),
        8,
    )
    .await;
    usage_totals(
        &server,
        &admin,
        &format!("script=spoof&user_id={user_id}"),
        9,
    )
    .await;
    usage_totals(&server, &admin, &format!("script=spoof&key_id={key_id}"), 4).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_editors_racing_for_a_new_name_never_both_own_it() {
    let server = TestServer::start().await;
    let (admin, a, b) = admin_and_editors(&server).await;
    for round in 0..6 {
        let name = format!("race-{round}");
        let source = format!(
            "export function init() {{ registerWebHandler('GET', '/{name}', () => 'ok'); }}"
        );
        let (ra, rb) = tokio::join!(
            server.deploy_as(&a, &name, &source),
            server.deploy_as(&b, &name, &source)
        );
        let (sa, sb) = (ra.status().as_u16(), rb.status().as_u16());
        for (status, response) in [(sa, ra), (sb, rb)] {
            if status != 201 {
                expect_error(response, 403, "FORBIDDEN").await;
            }
        }
        assert!(
            !(sa == 201 && sb == 201),
            "round {round}: both editors deployed {name}"
        );
        let winners: Vec<&str> = [(sa, "a@example.com"), (sb, "b@example.com")]
            .into_iter()
            .filter(|(status, _)| *status == 201)
            .map(|(_, email)| email)
            .collect();
        let emails = owners(&server, &admin, &name).await;
        assert_eq!(emails, winners, "round {round}: owners of {name}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_deploy_does_not_claim_the_name() {
    let server = TestServer::start().await;
    let (admin, a, b) = admin_and_editors(&server).await;
    let response = server
        .deploy_as(&a, "squat", "export function init( { syntax error")
        .await;
    let status = response.status();
    assert!(status.is_client_error(), "{status}");
    let emails = owners(&server, &admin, "squat").await;
    assert!(emails.is_empty(), "{emails:?}");
    let empty = "export function init() {}";
    server.deploy_ok_as(&b, "squat", empty).await;
    // Now it is B's.
    forbidden(server.deploy_request_as(&a, "squat", empty)).await;
    server.stop().await;
}

#[tokio::test]
async fn changing_your_password_needs_the_current_one_and_ends_every_session() {
    const NEW: &str = "a brand new passphrase";
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    let user = server
        .new_account(&admin, "pat@example.com", &["user"])
        .await;
    let other_browser = server.login("pat@example.com").await;
    let id = user.id();

    // Without (or with a wrong) current password: refused, nothing changes.
    for body in [
        json!({ "password": NEW }),
        json!({ "password": NEW, "current_password": "not it at all" }),
    ] {
        let refused = server.patch_user(&user, id, &body);
        fails(refused, 403, "CURRENT_PASSWORD_REQUIRED").await;
    }
    server.get_as(&other_browser, "/auth/me").await;

    let change = json!({ "password": NEW, "current_password": PASSWORD });
    json_status(server.patch_user(&user, id, &change), 200).await;
    // Every session of the account ended, the old password no longer works, the new one does.
    for session in [&user, &other_browser] {
        assert_ended(&server, session).await;
    }
    let old = server.login_request("pat@example.com", PASSWORD);
    fails(old, 401, "INVALID_CREDENTIALS").await;
    expect_status(server.login_request("pat@example.com", NEW), 200).await;

    // An admin resets someone else's password without knowing it.
    let reset = json!({ "password": PASSWORD });
    json_status(server.patch_user(&admin, id, &reset), 200).await;
    server.login("pat@example.com").await;
}

#[tokio::test]
async fn a_refused_update_changes_nothing() {
    let server = TestServer::start().await;
    let admin = server.first_admin().await;
    // Disabling the last admin is refused (409), and the password in the same request is not set.
    let body = json!({ "disabled": true, "password": "another long passphrase", "current_password": PASSWORD });
    fails(
        server.patch_user(&admin, admin.id(), &body),
        409,
        "CONFLICT",
    )
    .await;
    server.login("admin@example.com").await;
}
