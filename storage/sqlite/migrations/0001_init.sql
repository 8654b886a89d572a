-- 0001_init: the first schema of acmegate's SQLite store.
--
-- Timestamps are TEXT, UTC, fixed width with nanoseconds
-- (2006-01-02T15:04:05.000000000Z) so that text order is time order; the
-- zero time is 0001-01-01T00:00:00.000000000Z. JSON columns hold string
-- lists and identifiers. Tables are STRICT so a wrongly typed bind fails
-- instead of being stored.

-- RFC 8555 §7.1.2. The key thumbprint (RFC 7638) is unique per directory.
CREATE TABLE accounts (
    id             TEXT    NOT NULL PRIMARY KEY,
    directory      TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    contact        TEXT    NOT NULL, -- JSON array of URLs
    terms_agreed   INTEGER NOT NULL,
    key_thumbprint TEXT    NOT NULL,
    key_jwk        BLOB    NOT NULL,
    eab_key_id     TEXT    NOT NULL,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
) STRICT;
CREATE UNIQUE INDEX accounts_directory_thumbprint ON accounts (directory, key_thumbprint);

-- RFC 8555 §7.1.4. Challenges live in their own table, kept in the order
-- the authorization lists them.
CREATE TABLE authorizations (
    id               TEXT    NOT NULL PRIMARY KEY,
    directory        TEXT    NOT NULL,
    account_id       TEXT    NOT NULL REFERENCES accounts (id),
    identifier_type  TEXT    NOT NULL,
    identifier_value TEXT    NOT NULL,
    wildcard         INTEGER NOT NULL,
    status           TEXT    NOT NULL,
    expires          TEXT    NOT NULL,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
) STRICT;
-- FindReusableAuthorization: equality on every column but expires, then the
-- latest expiry first.
CREATE INDEX authorizations_reuse
    ON authorizations (account_id, identifier_type, identifier_value, wildcard, status, expires);

-- RFC 8555 §8.
CREATE TABLE challenges (
    id         TEXT    NOT NULL PRIMARY KEY,
    authz_id   TEXT    NOT NULL REFERENCES authorizations (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    type       TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    token      TEXT    NOT NULL,
    validated  TEXT    NOT NULL,
    error      BLOB,             -- problem document JSON, NULL when none
    updated_at TEXT    NOT NULL
) STRICT;
CREATE UNIQUE INDEX challenges_authz_position ON challenges (authz_id, position);

-- RFC 8555 §7.1.3. identifiers and authz_ids are JSON arrays: an order's
-- authorizations are only ever read with the order, never searched by.
CREATE TABLE orders (
    id             TEXT NOT NULL PRIMARY KEY,
    directory      TEXT NOT NULL,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    status         TEXT NOT NULL,
    expires        TEXT NOT NULL,
    not_before     TEXT NOT NULL,
    not_after      TEXT NOT NULL,
    identifiers    TEXT NOT NULL, -- JSON array of {"type","value"}
    authz_ids      TEXT NOT NULL, -- JSON array of authorization ids
    error          BLOB,          -- problem document JSON, NULL when none
    csr            BLOB,          -- DER, NULL until finalization
    certificate_id TEXT NOT NULL,
    profile        TEXT NOT NULL,
    upstream_ref   TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
) STRICT;
-- ListOrderIDs: an account's orders newest first, keyset-paginated.
CREATE INDEX orders_account_created ON orders (account_id, created_at, id);

-- The inventory. No foreign keys: a certificate outlives any cleanup of
-- the order that produced it.
CREATE TABLE certificates (
    id                TEXT    NOT NULL PRIMARY KEY,
    directory         TEXT    NOT NULL,
    account_id        TEXT    NOT NULL,
    order_id          TEXT    NOT NULL,
    serial            TEXT    NOT NULL, -- lower-case hex, no leading zeros
    issuer            TEXT    NOT NULL,
    names             TEXT    NOT NULL, -- JSON array
    not_before        TEXT    NOT NULL,
    not_after         TEXT    NOT NULL,
    chain_pem         BLOB    NOT NULL,
    alternates        TEXT    NOT NULL, -- JSON array of base64 PEM chains
    profile           TEXT    NOT NULL,
    backend           TEXT    NOT NULL,
    upstream_ref      TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    revoked_at        TEXT    NOT NULL,
    revocation_reason INTEGER NOT NULL,
    created_at        TEXT    NOT NULL
) STRICT;
CREATE UNIQUE INDEX certificates_serial ON certificates (serial);
-- "Expiring in 30 days in directory X" is an index range scan.
CREATE INDEX certificates_directory_not_after ON certificates (directory, not_after);
CREATE INDEX certificates_account ON certificates (account_id);
CREATE INDEX certificates_order ON certificates (order_id);

-- Persisted background work, leased rather than owned. A free lease has
-- lease_owner '' and the zero lease_until.
CREATE TABLE jobs (
    id          TEXT    NOT NULL PRIMARY KEY,
    kind        TEXT    NOT NULL,
    ref         TEXT    NOT NULL,
    run_at      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL,
    lease_owner TEXT    NOT NULL,
    lease_until TEXT    NOT NULL,
    deadline    TEXT    NOT NULL,
    last_error  TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
) STRICT;
CREATE INDEX jobs_run_at ON jobs (run_at);
CREATE INDEX jobs_kind_ref ON jobs (kind, ref);
CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE lease_owner <> '';

-- Redeemed nonces; a row exists for each redemption until it is purged.
CREATE TABLE nonces (
    id      TEXT NOT NULL PRIMARY KEY,
    expires TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX nonces_expires ON nonces (expires);

-- Small named secrets shared by every instance (the nonce key).
CREATE TABLE secrets (
    name  TEXT NOT NULL PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;
