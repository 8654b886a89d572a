-- What each upstream CA account offers (certificate types, products,
-- organizations), as `acmegate backend sync` last fetched it: one JSON
-- document per backend, owned by the caller.
CREATE TABLE backend_catalogs (
    backend   TEXT NOT NULL PRIMARY KEY,
    catalog   BLOB NOT NULL,
    synced_at TEXT NOT NULL
) STRICT;
