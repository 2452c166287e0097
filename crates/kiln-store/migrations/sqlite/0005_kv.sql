-- Per-script key/value storage (`kv` in scripts). `scope` is '' for the script's own space and
-- 'user:<id>' for `kv.user` (one space per signed-in user). Values are JSON text. Expired rows
-- are never returned and are swept in the background; until then they still count toward the
-- script's quota in `kv_usage`, which is kept in step with `kv_entries` in every write.
CREATE TABLE kv_entries (
    script      TEXT    NOT NULL,
    scope       TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    expires_at  INTEGER,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (script, scope, key)
) WITHOUT ROWID;

CREATE INDEX kv_entries_expiry ON kv_entries (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE kv_usage (
    script  TEXT    NOT NULL PRIMARY KEY,
    keys    INTEGER NOT NULL,
    bytes   INTEGER NOT NULL
);
