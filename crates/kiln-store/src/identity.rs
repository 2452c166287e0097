//! Identity records and the [`IdentityStore`] trait: users with roles and allowed tiers, OIDC
//! identities linked to users, login sessions, script ownership, tiers and API keys. Policy
//! (who may do what) lives in the server; this module only stores and enforces the invariants
//! that must hold under concurrency (unique emails, never zero active admins).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// The role that may manage everything; the store never lets the last active one go.
pub const ADMIN_ROLE: &str = "admin";

/// A user account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Store-assigned id, never reused.
    pub id: i64,
    /// Login email, stored lowercase; unique.
    pub email: String,
    /// Name shown in the console, if set.
    pub display_name: Option<String>,
    /// Argon2id PHC string; `None` for accounts that only sign in through OIDC.
    #[serde(skip_serializing)]
    pub password_hash: Option<String>,
    /// Roles, sorted: `admin`, `editor`, `user` or any custom name.
    pub roles: Vec<String>,
    /// Tiers this user may create API keys on, sorted.
    pub allowed_tiers: Vec<String>,
    /// A disabled user cannot sign in, and their sessions and keys stop working.
    pub disabled: bool,
    /// When the account was created (unix ms).
    pub created_at: i64,
    /// When the account was last changed (unix ms).
    pub updated_at: i64,
}

impl UserRecord {
    /// Whether the user holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// A user to create with [`IdentityStore::create_user`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewUser {
    /// Login email (lowercased by the store).
    pub email: String,
    /// Optional display name.
    pub display_name: Option<String>,
    /// Argon2id PHC string, if the user has a password.
    pub password_hash: Option<String>,
    /// Initial roles.
    pub roles: Vec<String>,
    /// Tiers the user may create keys on.
    pub allowed_tiers: Vec<String>,
}

/// A login session. The cookie holds a random token; the store keeps only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Hex SHA-256 of the session token (primary key).
    pub id_hash: String,
    /// The signed-in user.
    pub user_id: i64,
    /// The synchronizer token state-changing cookie requests must echo.
    pub csrf_token: String,
    /// When the session was created (unix ms).
    pub created_at: i64,
    /// When it was last used (unix ms; updated at most once a minute).
    pub last_seen_at: i64,
    /// Absolute expiry (unix ms), whatever the activity.
    pub expires_at: i64,
    /// Client address at sign-in.
    pub ip: Option<String>,
    /// Client user agent at sign-in.
    pub user_agent: Option<String>,
}

/// A usage tier: rate limits, quotas and resource limits for API keys on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierRecord {
    /// Unique name (`free`, `basic`, `pro`, …).
    pub name: String,
    /// Requests per minute (GCRA burst = the same number); 0 = unlimited.
    pub rate_per_minute: i64,
    /// Requests per UTC day; 0 = unlimited.
    pub quota_per_day: i64,
    /// CPU milliseconds per invocation.
    pub cpu_ms: i64,
    /// Memory per isolate / WASM instance, MiB.
    pub memory_mb: i64,
    /// Largest WASM module accepted, bytes.
    pub max_wasm_bytes: i64,
    /// Largest request input accepted, bytes.
    pub max_input_bytes: i64,
    /// Most executions running at once per key.
    pub max_concurrent: i64,
}

/// An API key as stored (the secret itself is never stored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Store-assigned id, never reused.
    pub id: i64,
    /// The visible start of the key (e.g. `kiln_3fa9c1d2`), for recognition and lookup.
    pub prefix: String,
    /// Hex keyed hash (HMAC-SHA-256 with the server secret) of the whole key.
    #[serde(skip_serializing)]
    pub hash: String,
    /// The owner.
    pub user_id: i64,
    /// Human label.
    pub name: String,
    /// Tier name.
    pub tier: String,
    /// Scopes, sorted: `execute`, `invoke`, `manage`.
    pub scopes: Vec<String>,
    /// When it was created (unix ms).
    pub created_at: i64,
    /// When it stops working (unix ms), if ever.
    pub expires_at: Option<i64>,
    /// When it was revoked (unix ms), if it was.
    pub revoked_at: Option<i64>,
    /// Last time it authenticated a request (unix ms; flushed in batches, so up to a minute
    /// behind).
    pub last_used_at: Option<i64>,
}

/// A key to create with [`IdentityStore::create_api_key`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewApiKey {
    /// Visible prefix.
    pub prefix: String,
    /// Keyed hash of the key.
    pub hash: String,
    /// Owner.
    pub user_id: i64,
    /// Label.
    pub name: String,
    /// Tier name (must exist).
    pub tier: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Optional expiry (unix ms).
    pub expires_at: Option<i64>,
}

/// Users, sessions, ownership, tiers and API keys. Part of [`Store`](crate::Store).
#[async_trait]
pub trait IdentityStore: Send + Sync {
    // ----- users -----

    /// Creates a user. [`StoreError::Conflict`] if the email is taken (case-insensitively);
    /// [`StoreError::NotFound`] if an allowed tier does not exist.
    async fn create_user(&self, user: &NewUser) -> Result<UserRecord, StoreError>;

    /// The user with `id`, if any.
    async fn get_user(&self, id: i64) -> Result<Option<UserRecord>, StoreError>;

    /// The user with `email` (case-insensitive), if any.
    async fn get_user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;

    /// All users, by id.
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError>;

    /// Number of users (any state).
    async fn count_users(&self) -> Result<i64, StoreError>;

    /// Number of enabled users holding the admin role.
    async fn count_active_admins(&self) -> Result<i64, StoreError>;

    /// Replaces a user's password hash. [`StoreError::NotFound`] for an unknown user.
    async fn set_password_hash(&self, user_id: i64, hash: Option<&str>) -> Result<(), StoreError>;

    /// Grants `role` (idempotent) and returns the updated user.
    async fn grant_role(&self, user_id: i64, role: &str) -> Result<UserRecord, StoreError>;

    /// Revokes `role` (idempotent) and returns the updated user. [`StoreError::Conflict`] if
    /// that would leave no enabled admin.
    async fn revoke_role(&self, user_id: i64, role: &str) -> Result<UserRecord, StoreError>;

    /// Enables or disables a user. Disabling deletes the user's sessions.
    /// [`StoreError::Conflict`] if that would leave no enabled admin.
    async fn set_user_disabled(
        &self,
        user_id: i64,
        disabled: bool,
    ) -> Result<UserRecord, StoreError>;

    /// Replaces the tiers a user may create keys on. [`StoreError::NotFound`] for an unknown
    /// user or tier.
    async fn set_allowed_tiers(
        &self,
        user_id: i64,
        tiers: &[String],
    ) -> Result<UserRecord, StoreError>;

    // ----- OIDC identities -----

    /// The user linked to the OIDC identity `(issuer, subject)`, if any.
    async fn find_user_by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<UserRecord>, StoreError>;

    /// Links `(issuer, subject)` to a user (idempotent for the same user;
    /// [`StoreError::Conflict`] if linked to another; [`StoreError::NotFound`] for an unknown
    /// user).
    async fn link_identity(
        &self,
        issuer: &str,
        subject: &str,
        user_id: i64,
    ) -> Result<(), StoreError>;

    // ----- sessions -----

    /// Stores a new session. [`StoreError::NotFound`] for an unknown user;
    /// [`StoreError::Conflict`] if a session with the same `id_hash` exists.
    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError>;

    /// The session with this token hash, if any (expired ones included; the caller checks).
    async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// Records activity on a session: `last_seen_at` becomes `now` unless it is already later.
    /// An unknown session is ignored.
    async fn touch_session(&self, id_hash: &str, now: i64) -> Result<(), StoreError>;

    /// Deletes one session; returns whether it existed.
    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError>;

    /// Deletes every session of a user; returns how many.
    async fn delete_user_sessions(&self, user_id: i64) -> Result<u64, StoreError>;

    /// Deletes sessions past their absolute expiry or idle since before `idle_before`.
    async fn prune_sessions(&self, now: i64, idle_before: i64) -> Result<u64, StoreError>;

    // ----- script ownership -----

    /// Records `user_id` as an owner of `script` (idempotent). The script need not exist yet:
    /// a deploy claims its name before the first version is stored. [`StoreError::NotFound`] for
    /// an unknown user.
    async fn add_script_owner(&self, script: &str, user_id: i64) -> Result<(), StoreError>;

    /// Removes an owner; returns whether it was one.
    async fn remove_script_owner(&self, script: &str, user_id: i64) -> Result<bool, StoreError>;

    /// The owners of `script`, by user id.
    async fn script_owners(&self, script: &str) -> Result<Vec<i64>, StoreError>;

    /// Names of the scripts `user_id` owns, sorted.
    async fn owned_scripts(&self, user_id: i64) -> Result<Vec<String>, StoreError>;

    // ----- tiers -----

    /// All tiers, by name.
    async fn list_tiers(&self) -> Result<Vec<TierRecord>, StoreError>;

    /// The tier called `name`, if any.
    async fn get_tier(&self, name: &str) -> Result<Option<TierRecord>, StoreError>;

    /// Creates or replaces a tier. [`StoreError::Conflict`] if a limit is out of range (negative
    /// rate or quota, or any other limit not positive).
    async fn upsert_tier(&self, tier: &TierRecord) -> Result<(), StoreError>;

    /// Deletes a tier; [`StoreError::Conflict`] while keys use it. Returns whether it existed.
    async fn delete_tier(&self, name: &str) -> Result<bool, StoreError>;

    // ----- API keys -----

    /// Stores a new key. [`StoreError::NotFound`] for an unknown user or tier;
    /// [`StoreError::Conflict`] if the hash is already stored or a scope is empty or contains
    /// whitespace.
    async fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRecord, StoreError>;

    /// The keys whose visible prefix is `prefix` (normally one), by id.
    async fn api_keys_by_prefix(&self, prefix: &str) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// The key with `id`, if any.
    async fn get_api_key(&self, id: i64) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Keys of one user, or of everyone with `None`; by id.
    async fn list_api_keys(&self, user_id: Option<i64>) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Revokes a key at `now` (idempotent: the first revocation time stays). Returns the key;
    /// [`StoreError::NotFound`] if it does not exist.
    async fn revoke_api_key(&self, id: i64, now: i64) -> Result<ApiKeyRecord, StoreError>;

    /// Moves a key to another tier. [`StoreError::NotFound`] for an unknown key or tier.
    async fn set_api_key_tier(&self, id: i64, tier: &str) -> Result<ApiKeyRecord, StoreError>;

    /// Records `last_used_at` for a batch of keys (`(id, unix ms)`); never moves it backwards.
    async fn touch_api_keys(&self, uses: &[(i64, i64)]) -> Result<(), StoreError>;
}
