-- What each upstream CA account offers (certificate types, products,
-- organizations), as `acmegate backend sync` last fetched it: one JSON
-- document per backend, owned by the caller.
CREATE TABLE backend_catalogs (
    backend   text        NOT NULL PRIMARY KEY,
    catalog   bytea       NOT NULL,
    synced_at timestamptz NOT NULL
);
