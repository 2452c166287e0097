-- Kiln storage schema, version 1 (SQLite).
-- Forward-only: never edit a released migration; add a new numbered file instead.
-- Timestamps are unix milliseconds (INTEGER).

-- One row per script. `latest_version` is the per-script version counter: the next deploy gets
-- latest_version + 1, so numbers are never reused, even after a rollback.
-- `active_version` is 0 until a version has been activated.
CREATE TABLE scripts (
    name           TEXT    NOT NULL PRIMARY KEY,
    active_version INTEGER NOT NULL DEFAULT 0,
    latest_version INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

-- One immutable row per deployed version. `meta` is JSON text (routes, handlers, …).
CREATE TABLE script_versions (
    script     TEXT    NOT NULL REFERENCES scripts (name) ON DELETE CASCADE,
    version    INTEGER NOT NULL CHECK (version > 0),
    created_at INTEGER NOT NULL,
    entry      TEXT    NOT NULL,
    size_bytes INTEGER NOT NULL,
    file_count INTEGER NOT NULL,
    meta       TEXT    NOT NULL DEFAULT '{}',
    PRIMARY KEY (script, version)
);

-- The files of a version's bundle; a path appears once per version.
CREATE TABLE version_files (
    script  TEXT    NOT NULL,
    version INTEGER NOT NULL,
    path    TEXT    NOT NULL,
    content BLOB    NOT NULL,
    PRIMARY KEY (script, version, path),
    FOREIGN KEY (script, version) REFERENCES script_versions (script, version) ON DELETE CASCADE
);

-- Console output of scripts. No foreign key to `scripts`: a log batch must not fail because its
-- script was deleted meanwhile; `delete_script` removes a script's logs explicitly.
-- AUTOINCREMENT so that ids are never reused (followers poll with `id > last seen`).
-- `level`: 0 debug, 1 info, 2 warn, 3 error.
CREATE TABLE script_logs (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    script     TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    level      INTEGER NOT NULL CHECK (level BETWEEN 0 AND 3),
    message    TEXT    NOT NULL,
    request_id TEXT,
    time       INTEGER NOT NULL
);
CREATE INDEX script_logs_by_script ON script_logs (script, id);
CREATE INDEX script_logs_by_request ON script_logs (request_id) WHERE request_id IS NOT NULL;

-- Engine settings editable at runtime (e.g. the hashed admin token).
CREATE TABLE settings (
    key        TEXT    NOT NULL PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
