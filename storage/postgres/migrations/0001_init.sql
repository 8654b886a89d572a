-- 0001_init: the first schema of acmegate's PostgreSQL store.
--
-- Timestamps are timestamptz (microsecond precision, returned in UTC by the
-- store); a time that may be absent is NULL when absent. Lists of strings are
-- text[]; identifiers are jsonb; problem documents are json, which keeps the
-- document's bytes as written while letting operators query it
-- (error->>'detail'). Key material, CSRs and PEM chains are bytea.

-- RFC 8555 §7.1.2. The key thumbprint (RFC 7638) is unique per directory:
-- the constraint's index also serves GetAccountByThumbprint.
CREATE TABLE accounts (
    id             text        NOT NULL PRIMARY KEY,
    directory      text        NOT NULL,
    status         text        NOT NULL,
    contact        text[]      NOT NULL,
    terms_agreed   boolean     NOT NULL,
    key_thumbprint text        NOT NULL,
    key_jwk        bytea       NOT NULL,
    eab_key_id     text        NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    CONSTRAINT accounts_directory_thumbprint UNIQUE (directory, key_thumbprint)
);

-- RFC 8555 §7.1.4. Challenges live in their own table, kept in the order
-- the authorization lists them.
CREATE TABLE authorizations (
    id               text        NOT NULL PRIMARY KEY,
    directory        text        NOT NULL,
    account_id       text        NOT NULL REFERENCES accounts (id),
    identifier_type  text        NOT NULL,
    identifier_value text        NOT NULL,
    wildcard         boolean     NOT NULL,
    status           text        NOT NULL,
    expires          timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
-- FindReusableAuthorization: equality on every column but expires, then the
-- latest expiry first (a backward range scan). Its leading column also
-- serves the foreign key to accounts.
CREATE INDEX authorizations_reuse
    ON authorizations (account_id, identifier_type, identifier_value, wildcard, status, expires);

-- RFC 8555 §8.
CREATE TABLE challenges (
    id         text        NOT NULL PRIMARY KEY,
    authz_id   text        NOT NULL REFERENCES authorizations (id) ON DELETE CASCADE,
    position   integer     NOT NULL,
    type       text        NOT NULL,
    status     text        NOT NULL,
    token      text        NOT NULL,
    validated  timestamptz,          -- NULL until valid
    error      json,                 -- problem document, NULL when none
    updated_at timestamptz NOT NULL,
    CONSTRAINT challenges_authz_position UNIQUE (authz_id, position)
);

-- RFC 8555 §7.1.3. An order's authorizations are only ever read with the
-- order, never searched by, so their ids are an array.
CREATE TABLE orders (
    id             text        NOT NULL PRIMARY KEY,
    directory      text        NOT NULL,
    account_id     text        NOT NULL REFERENCES accounts (id),
    status         text        NOT NULL,
    expires        timestamptz NOT NULL,
    not_before     timestamptz,          -- NULL when the client did not ask
    not_after      timestamptz,          -- NULL when the client did not ask
    identifiers    jsonb       NOT NULL, -- [{"type","value"}]
    authz_ids      text[]      NOT NULL,
    error          json,                 -- problem document, NULL when none
    csr            bytea,                -- DER, NULL until finalization
    certificate_id text        NOT NULL,
    profile        text        NOT NULL,
    upstream_ref   text        NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
-- ListOrderIDs: an account's orders newest first, keyset-paginated (a
-- backward index scan).
CREATE INDEX orders_account_created ON orders (account_id, created_at, id);

-- The inventory. No foreign keys: a certificate outlives any cleanup of the
-- order that produced it.
CREATE TABLE certificates (
    id                text        NOT NULL PRIMARY KEY,
    directory         text        NOT NULL,
    account_id        text        NOT NULL,
    order_id          text        NOT NULL,
    serial            text        NOT NULL, -- lower-case hex, no leading zeros
    issuer            text        NOT NULL,
    names             text[]      NOT NULL,
    not_before        timestamptz NOT NULL,
    not_after         timestamptz NOT NULL,
    chain_pem         bytea       NOT NULL,
    alternates        bytea[]     NOT NULL,
    profile           text        NOT NULL,
    backend           text        NOT NULL,
    upstream_ref      text        NOT NULL,
    status            text        NOT NULL,
    revoked_at        timestamptz,          -- NULL unless revoked
    revocation_reason integer     NOT NULL,
    created_at        timestamptz NOT NULL,
    CONSTRAINT certificates_serial UNIQUE (serial)
);
-- "Expiring in 30 days in directory X" is an index range scan.
CREATE INDEX certificates_directory_not_after ON certificates (directory, not_after);
CREATE INDEX certificates_account ON certificates (account_id);
CREATE INDEX certificates_order ON certificates (order_id);

-- Persisted background work, leased rather than owned. A free job has
-- lease_owner '' and lease_until NULL.
CREATE TABLE jobs (
    id          text        NOT NULL PRIMARY KEY,
    kind        text        NOT NULL,
    ref         text        NOT NULL,
    run_at      timestamptz NOT NULL,
    attempts    integer     NOT NULL,
    lease_owner text        NOT NULL,
    lease_until timestamptz,
    deadline    timestamptz NOT NULL,
    last_error  text        NOT NULL,
    created_at  timestamptz NOT NULL
);
-- LeaseJobs walks due jobs in (run_at, id) order and stops after n. The
-- index is not restricted to free jobs: jobs with an expired lease are due
-- too, and one ordered scan finds both.
CREATE INDEX jobs_run_at ON jobs (run_at, id);
-- CompleteOrder and FailOrder drop an order's issue jobs.
CREATE INDEX jobs_kind_ref ON jobs (kind, ref);
-- ReleaseJobs finds a worker's leases; free jobs stay out of the index.
CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE lease_owner <> '';

-- Redeemed nonces; a row exists for each redemption until it is purged. The
-- primary key makes a redemption exactly-once across instances.
CREATE TABLE nonces (
    id      text        NOT NULL PRIMARY KEY,
    expires timestamptz NOT NULL
);
CREATE INDEX nonces_expires ON nonces (expires);

-- Small named secrets shared by every instance (the nonce key).
CREATE TABLE secrets (
    name  text  NOT NULL PRIMARY KEY,
    value bytea NOT NULL
);
