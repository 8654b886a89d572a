-- 0003_approvals_events_ari: the approval workflow of orders, order
-- timelines, the counts rate limits read, and ARI (RFC 9773) renewals.
--
-- New NOT NULL columns keep a default that means "none" ('' or false).
-- Adding a column with a constant default rewrites no row (PostgreSQL 11+),
-- and keeping the default lets instances still running the previous
-- version insert rows during a rolling upgrade. The store itself writes
-- every column explicitly.

-- Approval: '' (none needed), pending, approved or rejected, with the
-- operator's decision and when a pending approval lapses (NULL when the
-- order never awaited one). replaces is the ARI certificate identifier the
-- client sent, replaces_certificate_id the certificate it names.
ALTER TABLE orders
    ADD COLUMN approval                text NOT NULL DEFAULT '',
    ADD COLUMN approval_by             text NOT NULL DEFAULT '',
    ADD COLUMN approval_reason         text NOT NULL DEFAULT '',
    ADD COLUMN approval_deadline       timestamptz,
    ADD COLUMN replaces                text NOT NULL DEFAULT '',
    ADD COLUMN replaces_certificate_id text NOT NULL DEFAULT '';

-- ExpireApprovals walks the lapsed approvals by deadline;
-- ListPendingApprovals reads the same few rows and sorts them. Only orders
-- awaiting a decision are in the index; queries repeat its condition as
-- literals, so generic plans use it too.
CREATE INDEX orders_approval_pending ON orders (approval_deadline)
    WHERE approval = 'pending' AND status = 'processing';

-- CountOrders of a whole directory is a range scan; of one account it uses
-- orders_account_created.
CREATE INDEX orders_directory_created ON orders (directory, created_at);

-- replaced_by is the order that renews the certificate through ARI's
-- "replaces" ('' until one does); renew_early the operator's flag.
ALTER TABLE certificates
    ADD COLUMN replaced_by text    NOT NULL DEFAULT '',
    ADD COLUMN renew_early boolean NOT NULL DEFAULT false;

-- CountFailedValidations counts an account's invalid challenges since a
-- time. Through authorizations it would visit every authorization the
-- account ever had (a large subscriber has millions, and nothing prunes
-- them) to find the few recent failures. The account of a challenge never
-- changes, so it is copied onto the challenge when it is inserted and the
-- count becomes a range scan of a partial index that holds failed
-- challenges only. A challenge is final once invalid, so its updated_at is
-- when it failed. The backfill rewrites the challenges once.
ALTER TABLE challenges ADD COLUMN account_id text NOT NULL DEFAULT '';
UPDATE challenges c SET account_id = a.account_id FROM authorizations a WHERE a.id = c.authz_id;
CREATE INDEX challenges_account_failed ON challenges (account_id, updated_at)
    WHERE status = 'invalid';

-- CountPendingAuthorizations: an account's pending authorizations that
-- have not expired. Pending ones are a minority; the partial index keeps
-- them apart from the valid ones authorizations_reuse mostly holds.
CREATE INDEX authorizations_pending ON authorizations (account_id, expires)
    WHERE status = 'pending';

-- Order timelines. An event belongs to an order, to an authorization (which
-- can serve several orders), or to both; '' where it does not. seq is the
-- insertion order, which orders the events of one instant. No foreign
-- keys: the timeline is a record and outlives any cleanup.
CREATE TABLE order_events (
    seq        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id   text        NOT NULL,
    authz_id   text        NOT NULL,
    at         timestamptz NOT NULL,
    kind       text        NOT NULL,
    actor      text        NOT NULL,
    identifier text        NOT NULL,
    detail     text        NOT NULL
);
-- ListOrderEvents: the order's events and its authorizations', each an
-- index range in (at, seq) order.
CREATE INDEX order_events_order ON order_events (order_id, at, seq) WHERE order_id <> '';
CREATE INDEX order_events_authz ON order_events (authz_id, at, seq) WHERE authz_id <> '';
