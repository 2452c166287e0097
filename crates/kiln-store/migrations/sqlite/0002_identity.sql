-- Kiln storage schema, version 2 (SQLite): identity, access and metering.
-- Forward-only: never edit a released migration; add a new numbered file instead.
-- Timestamps are unix milliseconds (INTEGER).

-- Usage tiers: rate limits, quotas and resource limits for API keys. 0 = unlimited for the
-- two rate columns.
CREATE TABLE tiers (
    name            TEXT    NOT NULL PRIMARY KEY,
    rate_per_minute INTEGER NOT NULL CHECK (rate_per_minute >= 0),
    quota_per_day   INTEGER NOT NULL CHECK (quota_per_day >= 0),
    cpu_ms          INTEGER NOT NULL CHECK (cpu_ms > 0),
    memory_mb       INTEGER NOT NULL CHECK (memory_mb > 0),
    max_wasm_bytes  INTEGER NOT NULL CHECK (max_wasm_bytes > 0),
    max_input_bytes INTEGER NOT NULL CHECK (max_input_bytes > 0),
    max_concurrent  INTEGER NOT NULL CHECK (max_concurrent > 0),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- The WasmWiz tiers.
INSERT INTO tiers VALUES
    ('free',  10,  500,   1000, 64,  5242880,  1048576,  2, 0, 0),
    ('basic', 100, 10000, 5000, 128, 10485760, 5242880,  5, 0, 0),
    ('pro',   500, 50000, 10000, 256, 52428800, 10485760, 20, 0, 0);

-- Accounts. `email` is stored lowercase (the store lowercases on write and on lookup), so the
-- UNIQUE constraint is case-insensitive. `password_hash` is an argon2id PHC string, NULL for
-- OIDC-only accounts.
CREATE TABLE users (
    id            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,
    display_name  TEXT,
    password_hash TEXT,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- Roles of users (`admin`, `editor`, `user` or custom names). The store refuses changes that
-- would leave no enabled admin, checking and changing in one write transaction.
CREATE TABLE user_roles (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT    NOT NULL,
    PRIMARY KEY (user_id, role)
);

-- Tiers a user may create API keys on (admins may use any). Deleting a tier drops it from
-- these lists.
CREATE TABLE user_tiers (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tier    TEXT    NOT NULL REFERENCES tiers (name) ON DELETE CASCADE,
    PRIMARY KEY (user_id, tier)
);

-- OIDC identities (issuer + subject) linked to accounts.
CREATE TABLE user_identities (
    issuer     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject)
);

-- Login sessions; the cookie carries a random token, the row only its SHA-256.
CREATE TABLE sessions (
    id_hash      TEXT    NOT NULL PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    ip           TEXT,
    user_agent   TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Script owners. No foreign key to `scripts`: a deploy claims a name before its first version
-- exists; `delete_script` removes the rows explicitly.
CREATE TABLE script_owners (
    script     TEXT    NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (script, user_id)
);
CREATE INDEX script_owners_by_user ON script_owners (user_id);

-- API keys: only a keyed hash of the key is stored; `prefix` is its visible start (not unique).
-- `scopes` is a space-separated sorted list. `tier` has no ON DELETE action: a tier cannot be
-- deleted while keys (revoked ones included) are on it.
CREATE TABLE api_keys (
    id           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    prefix       TEXT    NOT NULL,
    hash         TEXT    NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    tier         TEXT    NOT NULL REFERENCES tiers (name),
    scopes       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER
);
CREATE INDEX api_keys_by_prefix ON api_keys (prefix);
CREATE INDEX api_keys_by_user ON api_keys (user_id);

-- Metered calls, written in batches off the request path. No foreign keys: usage history
-- outlives the keys, users and scripts it mentions. `error_class` is `success`,
-- `execution_error`, `time_limit_exceeded`, `memory_limit_exceeded`, `validation_error` or
-- `rate_limited`.
CREATE TABLE usage_events (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    time        INTEGER NOT NULL,
    key_id      INTEGER,
    user_id     INTEGER,
    script      TEXT,
    kind        TEXT    NOT NULL,
    route       TEXT,
    status      INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    cpu_ms      INTEGER NOT NULL,
    bytes_in    INTEGER NOT NULL,
    bytes_out   INTEGER NOT NULL,
    error_class TEXT    NOT NULL
);
CREATE INDEX usage_events_by_time ON usage_events (time);
CREATE INDEX usage_events_by_key ON usage_events (key_id, time) WHERE key_id IS NOT NULL;
CREATE INDEX usage_events_by_user ON usage_events (user_id, time) WHERE user_id IS NOT NULL;
CREATE INDEX usage_events_by_script ON usage_events (script, time) WHERE script IS NOT NULL;

-- Security-relevant events (logins, key changes, role changes, deploys). `detail` is JSON text.
-- No foreign key on `actor_user_id`: the log outlives deleted users. Read newest (highest id)
-- first.
CREATE TABLE audit_log (
    id            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    time          INTEGER NOT NULL,
    actor_user_id INTEGER,
    actor         TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    target        TEXT,
    ip            TEXT,
    detail        TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_by_time ON audit_log (time);
CREATE INDEX audit_log_by_action ON audit_log (action, id);
