-- 0003_approvals_events_ari: the approval workflow of orders, order
-- timelines, the counts rate limits read, and ARI (RFC 9773) renewals.
--
-- New columns carry defaults that mean "none" ('' text, the zero time, 0),
-- which is what every existing row holds; the store writes every column
-- explicitly.

-- Approval: '' (none needed), pending, approved or rejected, with the
-- operator's decision and when a pending approval lapses. replaces is the
-- ARI certificate identifier the client sent, replaces_certificate_id the
-- certificate it names.
ALTER TABLE orders ADD COLUMN approval                TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN approval_by             TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN approval_reason         TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN approval_deadline       TEXT NOT NULL DEFAULT '0001-01-01T00:00:00.000000000Z';
ALTER TABLE orders ADD COLUMN replaces                TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN replaces_certificate_id TEXT NOT NULL DEFAULT '';

-- ExpireApprovals walks the lapsed approvals by deadline; ListPendingApprovals
-- reads the same few rows and sorts them. Only orders awaiting a decision
-- are in the index, and queries repeat its condition so SQLite may use it.
CREATE INDEX orders_approval_pending ON orders (approval_deadline)
    WHERE approval = 'pending' AND status = 'processing';

-- CountOrders of a whole directory is a range scan; of one account it uses
-- orders_account_created.
CREATE INDEX orders_directory_created ON orders (directory, created_at);

-- replaced_by is the order that renews the certificate through ARI's
-- "replaces" ('' until one does); renew_early the operator's flag.
ALTER TABLE certificates ADD COLUMN replaced_by TEXT    NOT NULL DEFAULT '';
ALTER TABLE certificates ADD COLUMN renew_early INTEGER NOT NULL DEFAULT 0;

-- CountFailedValidations counts an account's invalid challenges since a
-- time. Through authorizations it would visit every authorization the
-- account ever had (a large subscriber has millions, and nothing prunes
-- them) to find the few recent failures. The account of a challenge never
-- changes, so it is copied onto the challenge when it is inserted and the
-- count becomes a range scan of a partial index that holds failed
-- challenges only. A challenge is final once invalid, so its updated_at is
-- when it failed.
ALTER TABLE challenges ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
UPDATE challenges SET account_id =
    (SELECT a.account_id FROM authorizations a WHERE a.id = challenges.authz_id);
CREATE INDEX challenges_account_failed ON challenges (account_id, updated_at)
    WHERE status = 'invalid';

-- CountPendingAuthorizations: an account's pending authorizations that
-- have not expired. Pending ones are a minority; the partial index keeps
-- them apart from the valid ones authorizations_reuse mostly holds.
CREATE INDEX authorizations_pending ON authorizations (account_id, expires)
    WHERE status = 'pending';

-- Order timelines. An event belongs to an order, to an authorization (which
-- can serve several orders), or to both; '' where it does not. seq is the
-- rowid: insertion order, which orders events of the same instant. No
-- foreign keys: the timeline is a record and outlives any cleanup.
CREATE TABLE order_events (
    seq        INTEGER PRIMARY KEY,
    order_id   TEXT NOT NULL,
    authz_id   TEXT NOT NULL,
    at         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    identifier TEXT NOT NULL,
    detail     TEXT NOT NULL
) STRICT;
-- ListOrderEvents: the order's events and its authorizations', each an
-- index range in (at, seq) order (every SQLite index ends with the rowid).
CREATE INDEX order_events_order ON order_events (order_id, at) WHERE order_id <> '';
CREATE INDEX order_events_authz ON order_events (authz_id, at) WHERE authz_id <> '';
