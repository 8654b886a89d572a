-- 0006_account_notify: every change of an account row sends its id on the
-- channel acmegate_accounts, so that every instance sharing the database
-- drops the account from its cache (storage.AccountWatcher, watch.go
-- listens).
--
-- A trigger rather than a pg_notify in each of the store's statements: it
-- covers every statement and every binary that changes an account (a
-- method added later, an instance still running the previous release
-- during a rolling upgrade, an operator's psql session). NOTIFY is
-- transactional: the id is delivered when the change commits, never if it
-- rolls back, and identical ids of one transaction are delivered once.
-- Inserting an account notifies nothing: no instance can have cached an
-- account that did not exist. Instances of other schemas of the same
-- database hear these ids too; ids are random, so to them an id is only a
-- cache entry they do not have.
CREATE FUNCTION acmegate_account_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('acmegate_accounts', OLD.id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER accounts_notify AFTER UPDATE OR DELETE ON accounts
FOR EACH ROW EXECUTE FUNCTION acmegate_account_changed();
