-- Scripts' secrets (`ctx.env` values set with `kiln secrets set`). Kiln encrypts each value
-- before it reaches the store (AES-256-GCM, a random 96-bit nonce per value, the script and
-- secret name as associated data), so this table only ever holds ciphertext. No foreign key to
-- `scripts`: `delete_script` deletes a script's secrets in the same transaction as the script.
CREATE TABLE script_secrets (
    script      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    nonce       BLOB    NOT NULL,
    ciphertext  BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (script, name)
) WITHOUT ROWID;
