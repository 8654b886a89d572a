-- 0005_operators: what the operators' surfaces need: admin tokens, the
-- audit trail, webhooks and their deliveries, once-per-period sweeps, the
-- indexes of the inventory listings, and the request id of order events.
--
-- As in 0003, a new NOT NULL column keeps a constant default, so adding it
-- rewrites no row and instances still running the previous version keep
-- inserting during a rolling upgrade.

-- The HTTP request an event came from ('' for background work).
ALTER TABLE order_events ADD COLUMN request_id text NOT NULL DEFAULT '';

-- Admin API bearer tokens. Only the SHA-256 of the secret part is stored. A
-- name stays taken after its token is revoked: it is the actor the audit
-- trail knows the token by.
CREATE TABLE admin_tokens (
    id           text        NOT NULL PRIMARY KEY,
    name         text        NOT NULL,
    role         text        NOT NULL,
    hash         bytea       NOT NULL,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,          -- NULL: never expires
    revoked_at   timestamptz,          -- NULL while usable
    last_used_at timestamptz,          -- NULL until first use
    CONSTRAINT admin_tokens_name UNIQUE (name)
);

-- The audit trail: append-only, each entry chained to the previous one by
-- its hash (storage.AuditHash). prev_hash is NULL for the first entry.
-- Nothing in the store updates or deletes a row.
CREATE TABLE audit_log (
    seq       bigint      NOT NULL PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor     text        NOT NULL,
    directory text        NOT NULL,
    action    text        NOT NULL,
    object    text        NOT NULL,
    outcome   text        NOT NULL,
    client_ip text        NOT NULL,
    detail    text        NOT NULL,
    prev_hash bytea,
    hash      bytea       NOT NULL
);
-- The head of the chain: its one row holds the last seq and hash. An
-- append locks it (SELECT … FOR UPDATE) before it reads them, so appends
-- from every instance queue on that row lock and each chains to the one
-- before: the chain never forks. An advisory lock would do the same but
-- needs a key every instance derives alike; the row is found by name in
-- whatever schema the instance uses. The primary key on audit_log(seq)
-- remains the last guard.
CREATE TABLE audit_head (
    one  boolean NOT NULL PRIMARY KEY DEFAULT true CHECK (one),
    seq  bigint  NOT NULL,
    hash bytea
);
INSERT INTO audit_head (one, seq, hash) VALUES (true, 0, NULL);
-- ListAudit walks seq backwards; a selective filter walks its own index.
-- Actions are compared in the "C" collation, bytewise, so that an action
-- prefix ("order.") is an exact index range whatever the database's
-- collation.
CREATE INDEX audit_log_directory ON audit_log (directory, seq);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_object ON audit_log (object, seq);
CREATE INDEX audit_log_action ON audit_log ((action COLLATE "C"), seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- Webhooks. directory '' receives the events of every directory; events
-- lists event types, empty for all. sealed_secret is the signing secret as
-- the caller encrypted it.
CREATE TABLE webhooks (
    id            text        NOT NULL PRIMARY KEY,
    directory     text        NOT NULL,
    url           text        NOT NULL,
    sealed_secret bytea       NOT NULL,
    events        text[]      NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX webhooks_directory ON webhooks (directory);

-- The delivery log of notifications. No foreign key to webhooks: the log
-- outlives a deleted webhook. webhook_id is '' for e-mail. The payload is
-- kept as the bytes the caller wrote.
CREATE TABLE deliveries (
    id           text        NOT NULL PRIMARY KEY,
    webhook_id   text        NOT NULL,
    channel      text        NOT NULL,
    target       text        NOT NULL,
    event        text        NOT NULL,
    directory    text        NOT NULL,
    payload      bytea       NOT NULL,
    status       text        NOT NULL,
    attempts     integer     NOT NULL,
    last_error   text        NOT NULL,
    last_status  integer     NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    delivered_at timestamptz           -- NULL until delivered
);
-- ListDeliveries: newest first, of one webhook or of all, keyset-paginated.
CREATE INDEX deliveries_webhook_created ON deliveries (webhook_id, created_at, id);
CREATE INDEX deliveries_created ON deliveries (created_at, id);

-- When each periodic sweep last ran, shared by every instance.
CREATE TABLE sweeps (
    name     text        NOT NULL PRIMARY KEY,
    last_run timestamptz NOT NULL
);

-- The inventory listings page newest first on (created_at, id), or by
-- expiry on (not_after, id), with an index for each sort with and without
-- a directory. The directory indexes gain id so a page boundary inside one
-- instant is an index seek too; their leading columns still serve
-- CountOrders and the expiry scans.
DROP INDEX orders_directory_created;
CREATE INDEX orders_directory_created ON orders (directory, created_at, id);
CREATE INDEX orders_created ON orders (created_at, id);
-- "Failed in the last 24 hours": a status and an updated_at range.
CREATE INDEX orders_status_updated ON orders (status, updated_at);

CREATE INDEX accounts_directory_created ON accounts (directory, created_at, id);
CREATE INDEX accounts_created ON accounts (created_at, id);

DROP INDEX certificates_directory_not_after;
CREATE INDEX certificates_directory_not_after ON certificates (directory, not_after, id);
CREATE INDEX certificates_not_after ON certificates (not_after, id);
CREATE INDEX certificates_directory_created ON certificates (directory, created_at, id);
CREATE INDEX certificates_created ON certificates (created_at, id);
-- CountExpiringCertificates and the "valid, expiring soon" views.
CREATE INDEX certificates_status_not_after ON certificates (status, not_after, id);

-- ListFailingJobs: the few jobs that failed at least once, newest first.
CREATE INDEX jobs_failing ON jobs (created_at, id) WHERE last_error <> '';
