-- 0006_account_epoch: a counter of account changes, so that a process can
-- tell when another one (the acmegate CLI, a second server on the same
-- file) changed an account it may have cached (storage.AccountWatcher,
-- watch.go polls it).
--
-- Triggers bump it in the transaction of every change of an account row,
-- whatever statement or binary made the change: a method added later, an
-- older binary during an upgrade, an operator's sqlite3 session.
-- Inserting an account does not bump it: no process can have cached an
-- account that did not exist.
CREATE TABLE account_epoch (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
) STRICT;
INSERT INTO account_epoch (id, n) VALUES (1, 0);

CREATE TRIGGER accounts_epoch_update AFTER UPDATE ON accounts
BEGIN
    UPDATE account_epoch SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER accounts_epoch_delete AFTER DELETE ON accounts
BEGIN
    UPDATE account_epoch SET n = n + 1 WHERE id = 1;
END;
