//go:build linux && (amd64 || arm64)

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	xacme "golang.org/x/crypto/acme"
)

// TestFaultDiskFull takes the disk away from acmegate on SQLite while a
// generator runs. Requests then fail with serverInternal and a Retry-After,
// the request's log line says the disk failed, and the process stays up;
// once the disk is back the same process serves a clean run at once, and
// after a shutdown the database passes PRAGMA integrity_check and a new
// process serves from it.
//
// rlimit: the server's RLIMIT_FSIZE drops to one byte (prlimit), so every
// write of the database and its WAL fails with EFBIG. Needs nothing.
//
// tmpfs: the data directory is a 32 MiB tmpfs, filled up by a file of the
// test's: a real ENOSPC. Then, the server stopped, the tmpfs is remounted
// read-only: acmegate refuses to start, saying so. Needs the privilege to
// mount (root with CAP_SYS_ADMIN, as CI has).
func TestFaultDiskFull(t *testing.T) {
	skipIfShort(t)
	t.Parallel()
	t.Run("rlimit", func(t *testing.T) {
		t.Parallel()
		port := freePort(t)
		e := startFaultEnv(t, faultOptions{responders: []int{port}})
		diskFault(t, e, port, func() func() {
			e.in.mu.Lock()
			pid := e.in.cmd.Process.Pid
			e.in.mu.Unlock()
			lift, err := limitFileSize(pid, 1)
			if err != nil {
				t.Fatalf("prlimit RLIMIT_FSIZE on acmegate: %v", err)
			}
			return func() {
				if err := lift(); err != nil {
					t.Fatalf("lift RLIMIT_FSIZE: %v", err)
				}
			}
		})
	})
	t.Run("tmpfs", func(t *testing.T) {
		t.Parallel()
		// Room for the database and its WAL, which grows to about 40 MiB
		// between checkpoints (storage/sqlite walCheckpointPages): the
		// fault is the filler taking all of it.
		mnt := mountTmpfs(t, "size=128m")
		port := freePort(t)
		e := startFaultEnv(t, faultOptions{responders: []int{port}, tweak: func(c *Config) { c.DataDir = mnt }})
		diskFault(t, e, port, func() func() {
			filler := filepath.Join(mnt, "filler")
			if err := fillDisk(filler); err != nil {
				t.Fatalf("fill the tmpfs: %v", err)
			}
			return func() {
				if err := os.Remove(filler); err != nil {
					t.Fatal(err)
				}
			}
		})

		// Read-only: a clear refusal to start, then, writable again, the
		// server starts on the same data.
		if err := e.in.signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		remount(t, mnt, "ro")
		ctx, cancel := context.WithTimeout(t.Context(), serverStartTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, e.in.bin, "serve", "--config", e.in.cfgPath).CombinedOutput()
		if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "read-only") {
			t.Errorf("acmegate on a read-only data directory: %v, output:\n%s\nwant a failed start that says the database is read-only", err, out)
		} else {
			t.Logf("on a read-only data directory: %s", strings.TrimSpace(string(out)))
		}
		remount(t, mnt, "rw")
		e.in.start()
		if res := e.bench("disk-rw", "default", port, "-n", "3").wait(t); res.code != 0 {
			t.Errorf("run once writable again: exit %d, %d failed %s\n%s", res.code, res.rep.Failures, describe(res.rep.Errors), res.table())
		}
	})
}

// diskFault runs the generator, applies the fault for 4 s, lifts it and
// checks what TestFaultDiskFull promises.
func diskFault(t *testing.T, e *faultEnv, port int, apply func() (lift func())) {
	gen := e.bench("disk", "default", port, "-c", "2", "-duration", "3m", "-flow-timeout", "60s")
	if err := waitFor(60*time.Second, func() error {
		if n := e.db.count(t, `SELECT count(*) FROM certificates`); n < 4 {
			return errString("few certificates yet")
		}
		return nil
	}); err != nil {
		t.Fatalf("the generator issued nothing before the fault: %v", err)
	}
	// The generator's flows may all be waiting on validations that cannot
	// be recorded (the authorization read holds for them, then answers
	// processing), so a client of the test's own asks for a write too.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	probe := &xacme.Client{Key: key, DirectoryURL: e.directoryURL("default"), HTTPClient: trustingClient(t, e.trust),
		// Every answer is the test's to see: no retry of server errors.
		RetryBackoff: func(int, *http.Request, *http.Response) time.Duration { return -1 }}
	if _, err := probe.Register(ctx, &xacme.Account{}, xacme.AcceptTOS); err != nil {
		t.Fatal(err)
	}

	logFrom := len(e.in.stderr.String())
	e.front.recorded()
	lift := apply()
	time.Sleep(2 * time.Second)
	_, err = probe.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "dns", Value: "probe.disk.fault.test"}})
	var ae *xacme.Error
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusInternalServerError || ae.ProblemType != problemType("serverInternal") || ae.Header.Get("Retry-After") == "" {
		t.Errorf("newOrder with the disk full: %v, want serverInternal with a Retry-After", err)
	}
	time.Sleep(2 * time.Second)
	during := e.front.recorded()
	lift()
	lifted := time.Now()
	time.Sleep(3 * time.Second)
	after := e.front.recorded()
	gen.interrupt(t)
	r := gen.wait(t)

	internal := problemType("serverInternal")
	failed := 0
	for _, a := range during {
		if a.status < 500 {
			continue
		}
		failed++
		if a.problem != internal || a.retryAfter == "" || a.proxyErr != "" {
			t.Errorf("%s %s with the disk full: HTTP %d, problem %q, Retry-After %q, proxy error %q: want serverInternal with a Retry-After",
				a.method, a.path, a.status, a.problem, a.retryAfter, a.proxyErr)
		}
	}
	t.Logf("with the disk full: %d requests, %d failed", len(during), failed)
	if failed == 0 {
		t.Fatal("no request failed with the disk full: the fault was not felt")
	}
	if others := errorsOnly(r.rep.Errors, internal); len(others) > 0 {
		t.Errorf("failures other than serverInternal: %s\n%s", describe(others), r.table())
	}
	// The cause is in the log, on the request's line.
	logs := e.in.stderr.String()[logFrom:]
	// SQLite says SQLITE_FULL for ENOSPC and, for other write errors
	// such as EFBIG, SQLITE_IOERR_WRITE.
	found := false
	for line := range strings.Lines(logs) {
		if strings.Contains(line, `"cause":`) && (strings.Contains(line, "database or disk is full") || strings.Contains(line, "disk I/O error")) {
			t.Logf("log: …%s", line[strings.Index(line, `"cause":`):])
			found = true
			break
		}
	}
	if !found {
		t.Errorf("no request's log line says the disk failed:\n%s", truncateLog(logs, 4000))
	}
	if len(e.in.logs) != 0 {
		t.Errorf("the server was restarted %d times: it must survive a full disk", len(e.in.logs))
	}
	// Back on its own, at once: what failed after the disk came back had
	// started before.
	for _, a := range after {
		if a.status >= 500 && a.at.Add(-a.took).After(lifted) {
			t.Errorf("%s %s failed (%d %s) %v after the disk came back", a.method, a.path, a.status, a.problem, a.at.Sub(lifted).Round(time.Millisecond))
		}
	}
	res := e.bench("disk-after", "default", port, "-c", "2", "-n", "10").wait(t)
	if res.code != 0 || res.rep.Failures != 0 {
		t.Errorf("run after the disk came back: exit %d, %d failed %s\n%s", res.code, res.rep.Failures, describe(res.rep.Errors), res.table())
	}
	e.db.drain(t, 30*time.Second)
	checkOrders(t, e.db.orderStates(t), nil)

	// Nothing is corrupted: stopped cleanly, the file checks out, and a
	// new process serves from it.
	if err := e.in.signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := integrityCheck(t, e.cfg.DataDir); got != "ok" {
		t.Errorf("PRAGMA integrity_check: %s", got)
	}
	e.in.start()
	if res := e.bench("disk-restart", "default", port, "-n", "3").wait(t); res.code != 0 {
		t.Errorf("run after a restart: exit %d, %d failed %s\n%s", res.code, res.rep.Failures, describe(res.rep.Errors), res.table())
	}
}

// mountTmpfs mounts a tmpfs with opts on a new temporary directory,
// unmounted when the test ends. Without the privilege to mount it skips
// the test, except in CI, which must run it.
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount a tmpfs (CI must run this test as root): %v", err)
		}
		t.Skipf("cannot mount a tmpfs (%v): run as root to test a really full and a read-only disk", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// remount makes the tmpfs at dir read-only ("ro") or writable ("rw").
func remount(t *testing.T, dir, mode string) {
	t.Helper()
	flags := uintptr(syscall.MS_REMOUNT)
	if mode == "ro" {
		flags |= syscall.MS_RDONLY
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, ""); err != nil {
		t.Fatalf("remount %s %s: %v", dir, mode, err)
	}
}

// fillDisk writes path until the file system has no space left.
func fillDisk(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return f.Close()
			}
			return errors.Join(err, f.Close())
		}
	}
}

// limitFileSize sets the soft RLIMIT_FSIZE of process pid to limit bytes,
// keeping the hard limit (lowering it would need CAP_SYS_RESOURCE to
// undo), and returns the function that restores the old limit.
func limitFileSize(pid int, limit uint64) (func() error, error) {
	var old syscall.Rlimit
	if err := prlimit(pid, syscall.RLIMIT_FSIZE, nil, &old); err != nil {
		return nil, err
	}
	if err := prlimit(pid, syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: old.Max}, nil); err != nil {
		return nil, err
	}
	return func() error { return prlimit(pid, syscall.RLIMIT_FSIZE, &old, nil) }, nil
}

// prlimit is prlimit(2) on another process (the syscall package has it
// for the calling process only).
func prlimit(pid, resource int, limit, old *syscall.Rlimit) error {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(resource),
		uintptr(unsafe.Pointer(limit)), uintptr(unsafe.Pointer(old)), 0, 0)
	if errno != 0 {
		return fmt.Errorf("prlimit(%d, %d): %w", pid, resource, errno)
	}
	return nil
}

// integrityCheck runs PRAGMA integrity_check on the database in dataDir
// and returns its answer ("ok" when sound).
func integrityCheck(t *testing.T, dataDir string) string {
	t.Helper()
	dsn := (&url.URL{Scheme: "file", Path: filepath.Join(dataDir, "acmegate.db"),
		RawQuery: url.Values{"_busy_timeout": {"5000"}}.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		t.Fatalf("PRAGMA integrity_check: %v", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "; ")
}
