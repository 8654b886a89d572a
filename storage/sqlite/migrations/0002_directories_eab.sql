-- 0002_directories_eab: ACME directories and External Account Binding keys
-- (RFC 8555 §7.3.4), both managed by operators at run time.

-- One row per directory. settings is the protocol layer's JSON document,
-- kept as the bytes it wrote (NULL when empty); storage never reads it.
CREATE TABLE directories (
    name       TEXT    NOT NULL PRIMARY KEY,
    disabled   INTEGER NOT NULL,
    settings   BLOB,             -- JSON document, NULL when none
    source     TEXT    NOT NULL, -- 'config' or 'runtime'
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
) STRICT;

-- EAB keys. sealed_key is the HMAC key as the caller encrypted it, never
-- the plain key. The zero time in expires_at means "never expires", in
-- revoked_at "not revoked" and in last_used_at "never used". bound counts
-- the accounts the key bound: a key that is not reusable binds while it is
-- 0 only.
CREATE TABLE eab_keys (
    id           TEXT    NOT NULL PRIMARY KEY,
    directory    TEXT    NOT NULL,
    label        TEXT    NOT NULL,
    sealed_key   BLOB    NOT NULL,
    reusable     INTEGER NOT NULL,
    expires_at   TEXT    NOT NULL,
    revoked_at   TEXT    NOT NULL,
    bound        INTEGER NOT NULL,
    created_at   TEXT    NOT NULL,
    last_used_at TEXT    NOT NULL
) STRICT;
-- ListEABKeys: a directory's keys newest first.
CREATE INDEX eab_keys_directory_created ON eab_keys (directory, created_at, id);

-- RevokeEABKey finds the accounts a key bound. Accounts without a key
-- (eab_key_id '') stay out of the index; queries repeat the condition so
-- SQLite may use it.
CREATE INDEX accounts_eab_key ON accounts (eab_key_id) WHERE eab_key_id <> '';
