-- Kiln storage schema, version 3 (SQLite): stored WebAssembly modules.
-- Forward-only: never edit a released migration; add a new numbered file instead.
-- Timestamps are unix milliseconds (INTEGER).

-- Module bytes, stored once per content (the SHA-256 of the bytes, lowercase hex). A row lives
-- exactly as long as some module points at it: the triggers below delete it, in the same
-- transaction, when the last such module is deleted (also by a cascade) or replaced.
CREATE TABLE module_contents (
    hash       TEXT    NOT NULL PRIMARY KEY,
    bytes      BLOB    NOT NULL,
    size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),
    created_at INTEGER NOT NULL
);

-- Modules: named per owner; never visible to another owner. Replacing a module keeps its id,
-- `created_at` and execution statistics.
CREATE TABLE modules (
    id               INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    owner_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             TEXT    NOT NULL,
    description      TEXT,
    hash             TEXT    NOT NULL REFERENCES module_contents (hash),
    size_bytes       INTEGER NOT NULL CHECK (size_bytes >= 0),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    execution_count  INTEGER NOT NULL DEFAULT 0,
    last_executed_at INTEGER,
    UNIQUE (owner_id, name)
);
CREATE INDEX modules_by_hash ON modules (hash);

CREATE TRIGGER module_contents_gc_on_delete AFTER DELETE ON modules
BEGIN
    DELETE FROM module_contents
    WHERE hash = OLD.hash AND NOT EXISTS (SELECT 1 FROM modules WHERE hash = OLD.hash);
END;

CREATE TRIGGER module_contents_gc_on_replace AFTER UPDATE OF hash ON modules
WHEN OLD.hash <> NEW.hash
BEGIN
    DELETE FROM module_contents
    WHERE hash = OLD.hash AND NOT EXISTS (SELECT 1 FROM modules WHERE hash = OLD.hash);
END;
