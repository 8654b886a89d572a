package postgres

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/storagetest"
)

// BenchmarkRedeemNonce measures one nonce redemption, the write every ACME
// POST makes: sequentially (the latency one request pays) and from
// GOMAXPROCS×4 goroutines sharing the default pool (the throughput of one
// instance). select1 is a bare round trip through the same pool, the floor
// of any statement.
func BenchmarkRedeemNonce(b *testing.B) {
	url := serverURL(b)
	s := openStore(b, url, freshSchema(b, url))
	ctx := testCtx(b)
	expires := time.Now().Add(time.Hour)
	var seq atomic.Int64
	redeem := func(b *testing.B) {
		if err := s.RedeemNonce(ctx, strconv.FormatInt(seq.Add(1), 36), expires); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("sequential", func(b *testing.B) {
		for b.Loop() {
			redeem(b)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				redeem(b)
			}
		})
	})
	b.Run("select1", func(b *testing.B) {
		for b.Loop() {
			var one int
			if err := s.queryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStore runs the storage hot-path benchmarks of storagetest.Bench
// on a fresh schema each.
func BenchmarkStore(b *testing.B) {
	url := serverURL(b)
	storagetest.Bench(b, func(b *testing.B) storage.Store {
		return openStore(b, url, freshSchema(b, url))
	})
}
