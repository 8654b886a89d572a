-- 0005_operators: what the operators' surfaces need: admin tokens, the
-- audit trail, webhooks and their deliveries, once-per-period sweeps, the
-- indexes of the inventory listings, and the request id of order events.

-- The HTTP request an event came from ('' for background work).
ALTER TABLE order_events ADD COLUMN request_id TEXT NOT NULL DEFAULT '';

-- Admin API bearer tokens. Only the SHA-256 of the secret part is stored.
-- The zero time in expires_at means "never", in revoked_at "usable" and in
-- last_used_at "never used". A name stays taken after its token is revoked:
-- it is the actor the audit trail knows the token by.
CREATE TABLE admin_tokens (
    id           TEXT NOT NULL PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    hash         BLOB NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    revoked_at   TEXT NOT NULL,
    last_used_at TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX admin_tokens_name ON admin_tokens (name);

-- The audit trail: append-only, each entry chained to the previous one by
-- its hash (storage.AuditHash). seq is the rowid, assigned by AppendAudit
-- as the last seq + 1 inside the write transaction, so the single writer
-- gives a chain without forks or gaps. prev_hash is NULL for the first
-- entry. Nothing in the store updates or deletes a row.
CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    directory TEXT NOT NULL,
    action    TEXT NOT NULL,
    object    TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash BLOB,
    hash      BLOB NOT NULL
) STRICT;
-- ListAudit walks seq backwards; a selective filter walks its own index
-- instead (every SQLite index ends with the rowid, here seq, so each is in
-- seq order within one value).
CREATE INDEX audit_log_directory ON audit_log (directory);
CREATE INDEX audit_log_actor ON audit_log (actor);
CREATE INDEX audit_log_object ON audit_log (object);
CREATE INDEX audit_log_action ON audit_log (action);
CREATE INDEX audit_log_at ON audit_log (at);

-- Webhooks. directory '' receives the events of every directory; events is
-- a JSON array of event types, [] for all. sealed_secret is the signing
-- secret as the caller encrypted it.
CREATE TABLE webhooks (
    id            TEXT NOT NULL PRIMARY KEY,
    directory     TEXT NOT NULL,
    url           TEXT NOT NULL,
    sealed_secret BLOB NOT NULL,
    events        TEXT NOT NULL, -- JSON array
    created_at    TEXT NOT NULL
) STRICT;
CREATE INDEX webhooks_directory ON webhooks (directory);

-- The delivery log of notifications. No foreign key to webhooks: the log
-- outlives a deleted webhook. webhook_id is '' for e-mail.
CREATE TABLE deliveries (
    id           TEXT    NOT NULL PRIMARY KEY,
    webhook_id   TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    event        TEXT    NOT NULL,
    directory    TEXT    NOT NULL,
    payload      BLOB    NOT NULL,
    status       TEXT    NOT NULL,
    attempts     INTEGER NOT NULL,
    last_error   TEXT    NOT NULL,
    last_status  INTEGER NOT NULL,
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    delivered_at TEXT    NOT NULL
) STRICT;
-- ListDeliveries: newest first, of one webhook or of all, keyset-paginated.
CREATE INDEX deliveries_webhook_created ON deliveries (webhook_id, created_at, id);
CREATE INDEX deliveries_created ON deliveries (created_at, id);

-- When each periodic sweep last ran, shared by every instance.
CREATE TABLE sweeps (
    name     TEXT NOT NULL PRIMARY KEY,
    last_run TEXT NOT NULL
) STRICT;

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
