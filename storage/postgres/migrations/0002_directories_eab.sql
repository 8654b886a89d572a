-- 0002_directories_eab: ACME directories and External Account Binding keys
-- (RFC 8555 §7.3.4), both managed by operators at run time.

-- One row per directory. settings is the protocol layer's JSON document;
-- json rather than jsonb keeps the bytes as written, and storage never
-- queries inside it.
CREATE TABLE directories (
    name       text        NOT NULL PRIMARY KEY,
    disabled   boolean     NOT NULL,
    settings   json,                 -- NULL when none
    source     text        NOT NULL, -- 'config' or 'runtime'
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- EAB keys. sealed_key is the HMAC key as the caller encrypted it, never
-- the plain key. bound counts the accounts the key bound: a key that is not
-- reusable binds while it is 0 only.
CREATE TABLE eab_keys (
    id           text        NOT NULL PRIMARY KEY,
    directory    text        NOT NULL,
    label        text        NOT NULL,
    sealed_key   bytea       NOT NULL,
    reusable     boolean     NOT NULL,
    expires_at   timestamptz,          -- NULL: never expires
    revoked_at   timestamptz,          -- NULL unless revoked
    bound        integer     NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz           -- NULL until it binds an account
);
-- ListEABKeys: a directory's keys newest first (a backward index scan).
CREATE INDEX eab_keys_directory_created ON eab_keys (directory, created_at, id);

-- RevokeEABKey finds the accounts a key bound. Accounts without a key
-- (eab_key_id '') stay out of the index; queries repeat the condition so
-- a generic plan may use it too.
CREATE INDEX accounts_eab_key ON accounts (eab_key_id) WHERE eab_key_id <> '';
