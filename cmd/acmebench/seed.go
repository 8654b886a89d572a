package main

// `acmebench seed` fills an acmegate database with what a long-running
// installation has accumulated, so that throughput can be compared on an
// empty and on a full database (issue 7's scale target). Rows are written
// with bulk SQL (PostgreSQL COPY, SQLite prepared INSERTs in large
// transactions), never through the ACME API, in the encodings the stores
// write; the seeded rows are read back through the stores' own methods in
// seed_test.go.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// seedOptions are the flags of `acmebench seed`.
type seedOptions struct {
	db        string
	n         int
	accounts  int
	directory string
	window    time.Duration
	batch     int
	workers   int
	events    bool
	audit     bool
}

// seedSchemaVersion is the migration that added the last column the seeder
// writes; an older schema is refused.
const seedSchemaVersion = 5

// runSeed is `acmebench seed`: it returns the exit code like run.
func runSeed(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseSeedFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "acmebench seed: %v\n", err)
		return 2
	}
	res, err := seed(ctx, o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "acmebench seed: %v\n", err)
		return 1
	}
	if err := res.write(stdout); err != nil {
		fmt.Fprintf(stderr, "acmebench seed: %v\n", err)
		return 1
	}
	return 0
}

func parseSeedFlags(args []string, stderr io.Writer) (*seedOptions, error) {
	o := &seedOptions{}
	fs := flag.NewFlagSet("acmebench seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: acmebench seed -db PATH|URL [flags]

Fills an acmegate database whose schema is migrated (acmegate migrate) with
N orders, N authorizations (3 challenges each), N certificates, N/100
accounts and, by default, their timelines and audit entries, in one
directory. acmegate must not be running on it: the audit chain is extended
from its last entry.

`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.db, "db", "", "the database: a SQLite file, or a postgres:// or postgresql:// URL (required)")
	fs.IntVar(&o.n, "n", 1_000_000, "orders, authorizations and certificates")
	fs.IntVar(&o.accounts, "accounts", 0, "accounts (0: n/100, at least 1)")
	fs.StringVar(&o.directory, "directory", "default", "the ACME directory every row belongs to")
	fs.DurationVar(&o.window, "window", 90*24*time.Hour, "orders are created over this much time before now")
	fs.IntVar(&o.batch, "batch", 2000, "orders per transaction")
	fs.IntVar(&o.workers, "workers", runtime.GOMAXPROCS(0), "goroutines making rows (keys, CSRs, certificates)")
	fs.BoolVar(&o.events, "events", true, "write the orders' timelines (order_events), as acmegate does")
	fs.BoolVar(&o.audit, "audit", true, "write audit entries (account.create, order.create, challenge.validate, certificate.issue/revoke), chained")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	case o.db == "":
		return nil, errors.New("-db is required")
	case o.n < 1:
		return nil, errors.New("-n must be at least 1")
	case o.accounts < 0:
		return nil, errors.New("-accounts cannot be negative")
	case o.directory == "":
		return nil, errors.New("-directory cannot be empty")
	case o.window < time.Hour:
		return nil, errors.New("-window must be at least 1h")
	case o.batch < 1 || o.workers < 1:
		return nil, errors.New("-batch and -workers must be at least 1")
	}
	if o.accounts == 0 {
		o.accounts = max(1, o.n/100)
	}
	return o, nil
}

// isPostgresURL tells a PostgreSQL URL from a SQLite path.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// seedSink writes generated rows into one kind of database.
type seedSink interface {
	// auditHead returns the last entry of the audit chain (0, nil when
	// the chain is empty).
	auditHead(ctx context.Context) (int64, []byte, error)
	// writeAccounts inserts the accounts and their audit entries.
	writeAccounts(ctx context.Context, accounts []*storage.Account, audit []*storage.AuditEntry) error
	// writeBatch inserts one batch in one transaction.
	writeBatch(ctx context.Context, b *seedBatch) error
	// finish does what a long-running database has had done to it
	// (statistics, vacuum) and records the audit chain's new head.
	finish(ctx context.Context, seq int64, hash []byte) error
	Close() error
}

// seedResult is what a seed wrote and how long it took.
type seedResult struct {
	Store    string        `json:"store"`
	Counts   seedCounts    `json:"counts"`
	Elapsed  time.Duration `json:"-"`
	ElapsedS float64       `json:"elapsed_s"`
	// FinishS is the part of ElapsedS spent on statistics and vacuum.
	FinishS  float64 `json:"finish_s"`
	RowsPerS float64 `json:"rows_per_s"`
}

// seedCounts counts rows by table.
type seedCounts struct {
	Accounts       int `json:"accounts"`
	Orders         int `json:"orders"`
	Authorizations int `json:"authorizations"`
	Challenges     int `json:"challenges"`
	Certificates   int `json:"certificates"`
	Events         int `json:"order_events"`
	Audit          int `json:"audit_log"`
}

func (c *seedCounts) total() int {
	return c.Accounts + c.Orders + c.Authorizations + c.Challenges + c.Certificates + c.Events + c.Audit
}

func (c *seedCounts) add(b *seedBatch) {
	c.Orders += len(b.orders)
	c.Authorizations += len(b.authzs)
	for _, a := range b.authzs {
		c.Challenges += len(a.Challenges)
	}
	c.Certificates += len(b.certs)
	c.Events += len(b.events)
	c.Audit += len(b.audit)
}

// write prints the result as a table and, last, one JSON line
// ("schema": "acmebench-seed/1").
func (r *seedResult) write(w io.Writer) error {
	c := r.Counts
	fmt.Fprintf(w, "seeded %s in %.1f s (%.1f s of it statistics and vacuum): %d rows, %.0f rows/s\n",
		r.Store, r.ElapsedS, r.FinishS, c.total(), r.RowsPerS)
	for _, row := range []struct {
		name string
		n    int
	}{{"accounts", c.Accounts}, {"orders", c.Orders}, {"authorizations", c.Authorizations}, {"challenges", c.Challenges},
		{"certificates", c.Certificates}, {"order_events", c.Events}, {"audit_log", c.Audit}} {
		fmt.Fprintf(w, "  %-15s %9d\n", row.name, row.n)
	}
	line := struct {
		Schema string `json:"schema"`
		*seedResult
	}{"acmebench-seed/1", r}
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// seed generates and writes everything o asks for.
func seed(ctx context.Context, o *seedOptions, log io.Writer) (*seedResult, error) {
	var sink seedSink
	var err error
	store := "sqlite"
	if isPostgresURL(o.db) {
		store = "postgres"
		sink, err = openPostgresSink(ctx, o.db)
	} else {
		sink, err = openSQLiteSink(ctx, o.db)
	}
	if err != nil {
		return nil, err
	}
	started := time.Now()
	plan, err := newSeedPlan(o, started)
	if err != nil {
		return nil, errors.Join(err, sink.Close())
	}
	res := &seedResult{Store: store}
	err = seedInto(ctx, sink, plan, o, res, log)
	if cerr := sink.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close: %w", cerr))
	}
	if err != nil {
		return nil, err
	}
	res.Elapsed = time.Since(started)
	res.ElapsedS = res.Elapsed.Seconds()
	res.RowsPerS = float64(res.Counts.total()) / res.ElapsedS
	return res, nil
}

// seedInto runs the pipeline: o.workers goroutines make batches, the sink
// writes them in order (the audit chain and the timelines follow time).
func seedInto(ctx context.Context, sink seedSink, plan *seedPlan, o *seedOptions, res *seedResult, log io.Writer) error {
	seq, prev, err := sink.auditHead(ctx)
	if err != nil {
		return err
	}
	chain := &auditChain{seq: seq, prev: prev}
	accounts, accountAudit := plan.accountRows()
	if !o.audit {
		accountAudit = nil
	}
	chain.link(accountAudit)
	if err := sink.writeAccounts(ctx, accounts, accountAudit); err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	res.Counts.Accounts, res.Counts.Audit = len(accounts), len(accountAudit)
	fmt.Fprintf(log, "acmebench seed: %d accounts written, %d orders to go in batches of %d\n", len(accounts), o.n, o.batch)

	// pctx ends the pipeline: when the sink fails, or once it is done.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		index int
		out   chan *seedBatch
	}
	nb := (o.n + o.batch - 1) / o.batch
	jobs := make(chan job)
	inOrder := make(chan chan *seedBatch, 2*o.workers)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(inOrder)
		defer close(jobs)
		for i := range nb {
			j := job{i, make(chan *seedBatch, 1)}
			select {
			case inOrder <- j.out:
			case <-pctx.Done():
				return
			}
			select {
			case jobs <- j:
			case <-pctx.Done():
				return
			}
		}
	})
	for range o.workers {
		wg.Go(func() {
			for j := range jobs {
				j.out <- plan.batch(j.index)
			}
		})
	}
	err = func() error {
		lastReport := time.Now()
		for out := range inOrder {
			var b *seedBatch
			select {
			case b = <-out:
			case <-pctx.Done():
				return pctx.Err()
			}
			if b.err != nil {
				return b.err
			}
			if !o.events {
				b.events = nil
			}
			if !o.audit {
				b.audit = nil
			}
			chain.link(b.audit)
			if err := sink.writeBatch(pctx, b); err != nil {
				return fmt.Errorf("batch %d: %w", b.index, err)
			}
			res.Counts.add(b)
			if time.Since(lastReport) >= 10*time.Second {
				lastReport = time.Now()
				fmt.Fprintf(log, "acmebench seed: %d/%d orders, %d rows in %.0f s\n",
					res.Counts.Orders, o.n, res.Counts.total(), time.Since(plan.started).Seconds())
			}
		}
		return pctx.Err()
	}()
	cancel()
	// Workers blocked on nothing: every out channel has room for its batch.
	wg.Wait()
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "acmebench seed: %d rows in %.0f s; statistics and vacuum\n", res.Counts.total(), time.Since(plan.started).Seconds())
	finishing := time.Now()
	if err := sink.finish(ctx, chain.seq, chain.prev); err != nil {
		return err
	}
	res.FinishS = time.Since(finishing).Seconds()
	return nil
}

// auditChain extends the audit trail as AppendAudit would: each entry's
// Seq is the last one + 1, PrevHash the last Hash, Hash storage.AuditHash.
type auditChain struct {
	seq  int64
	prev []byte
}

func (c *auditChain) link(entries []*storage.AuditEntry) {
	for _, e := range entries {
		c.seq++
		e.At = e.At.UTC().Truncate(time.Microsecond)
		e.Seq, e.PrevHash = c.seq, c.prev
		e.Hash = storage.AuditHash(e)
		c.prev = e.Hash
	}
}

// jwkThumbprint returns the RFC 7638 thumbprint and the JWK document of
// a P-256 public key, as acmegate stores them (go-jose's member order).
func jwkThumbprint(k *ecdsa.PublicKey) (string, []byte, error) {
	pub, err := k.ECDH()
	if err != nil {
		return "", nil, err
	}
	raw := pub.Bytes() // 0x04 || X || Y
	x, y := b64(raw[1:33]), b64(raw[33:65])
	canonical := `{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return b64(sum[:]), []byte(`{"kty":"EC","crv":"P-256","x":"` + x + `","y":"` + y + `"}`), nil
}

// newP256 makes a P-256 key.
func newP256() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// checkSQLitePath refuses a path that is not an existing file: seeding
// never creates a database (its schema would be missing).
func checkSQLitePath(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("-db %s: %w (create it with acmegate migrate first)", path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("-db %s is not a file", path)
	}
	return nil
}
