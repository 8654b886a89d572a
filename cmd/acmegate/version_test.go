package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestVersionResolve covers the precedence of -ldflags values over the
// toolchain's VCS stamp and module version.
func TestVersionResolve(t *testing.T) {
	t.Parallel()
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/acmegate/acmegate", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "false"},
		},
	}
	modified := &debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc"},
		{Key: "vcs.modified", Value: "true"},
	}}
	installed := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		name           string
		ver, rev, when string
		bi             *debug.BuildInfo
		want           buildInfo
	}{
		{
			name: "no build info",
			ver:  "dev", rev: "unknown", when: "unknown",
			want: buildInfo{"dev", "unknown", "unknown", runtime.Version(), platform},
		},
		{
			name: "ldflags win over the VCS stamp",
			ver:  "v1.2.3", rev: "feedface", when: "2025-06-07T08:09:10Z", bi: stamped,
			want: buildInfo{"v1.2.3", "feedface", "2025-06-07T08:09:10Z", "go1.26.8", platform},
		},
		{
			name: "VCS stamp when ldflags are not set",
			ver:  "dev", rev: "unknown", when: "unknown", bi: stamped,
			want: buildInfo{"dev", "0123456789abcdef0123456789abcdef01234567", "2026-01-02T03:04:05Z", "go1.26.8", platform},
		},
		{
			name: "a modified work tree is marked",
			ver:  "dev", rev: "unknown", when: "unknown", bi: modified,
			want: buildInfo{"dev", "abc-dirty", "unknown", "go1.26.8", platform},
		},
		{
			name: "go install at a tagged version",
			ver:  "dev", rev: "unknown", when: "unknown", bi: installed,
			want: buildInfo{"v1.4.0", "unknown", "unknown", "go1.26.8", platform},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := resolveBuild(tc.ver, tc.rev, tc.when, tc.bi)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("resolveBuild (-want +got):\n%s", diff)
			}
		})
	}
}

// TestVersionCommand runs `acmegate version` in process.
func TestVersionCommand(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"version", "--version"} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), []string{arg}, &stdout, &stderr); code != 0 {
			t.Fatalf("acmegate %s exited %d: %s", arg, code, stderr.String())
		}
		got := parseVersion(t, stdout.String())
		if got["go"] != runtime.Version() || got["platform"] != runtime.GOOS+"/"+runtime.GOARCH {
			t.Errorf("acmegate %s printed %q", arg, stdout.String())
		}
	}
}

// parseVersion reads what printVersion wrote: "version" from the first
// line, then one "key: value" per line.
func parseVersion(t *testing.T, out string) map[string]string {
	t.Helper()
	fields := map[string]string{}
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if i == 0 {
			v, ok := strings.CutPrefix(line, "acmegate ")
			if !ok {
				t.Fatalf("first line %q does not start with \"acmegate \"", line)
			}
			fields["version"] = v
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			t.Fatalf("line %q is not key: value", line)
		}
		fields[k] = strings.TrimSpace(v)
	}
	return fields
}

// runVersion runs `BIN version` and parses its output.
func runVersion(t *testing.T, bin string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cliTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", bin, err, out)
	}
	return parseVersion(t, string(out))
}

// gitHead is the commit the work tree is at, or "" without git.
func gitHead(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Logf("no git commit (%v): expecting \"unknown\"", err)
		return ""
	}
	return strings.TrimSpace(string(out))
}

// repoRoot is the module root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestVersionMakeBuild builds the binary with `make build`, as a user
// would, and checks the Makefile passes the version, the commit and a
// SOURCE_DATE_EPOCH build date through -ldflags.
func TestVersionMakeBuild(t *testing.T) {
	makeBin := requireTool(t, "make")
	bin := filepath.Join(t.TempDir(), "acmegate")
	// 2023-11-14T22:13:20Z
	const epoch, wantDate = "1700000000", "2023-11-14T22:13:20Z"
	runMake(t, makeBin, "build", "BIN="+bin, "VERSION=v9.8.7-test", "SOURCE_DATE_EPOCH="+epoch)
	commit := gitHead(t)
	if commit == "" {
		commit = "unknown"
	}
	want := map[string]string{
		"version":  "v9.8.7-test",
		"commit":   commit,
		"built":    wantDate,
		"go":       runtime.Version(),
		"platform": runtime.GOOS + "/" + runtime.GOARCH,
	}
	if diff := cmp.Diff(want, runVersion(t, bin)); diff != "" {
		t.Errorf("acmegate version after make build (-want +got):\n%s", diff)
	}
}

// TestVersionPlainBuild: a `go build` without -ldflags falls back on the
// module version, commit and time the toolchain stamped. The stamp is
// asked for explicitly (-buildvcs=true): a machine's GOFLAGS may turn it
// off, and this is about what the binary does with one.
func TestVersionPlainBuild(t *testing.T) {
	head := gitHead(t)
	vcs := "-buildvcs=true"
	if head == "" {
		vcs = "-buildvcs=false" // nothing to stamp from
	}
	bin := filepath.Join(t.TempDir(), "acmegate")
	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", vcs, "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", vcs, err, out)
	}
	got := runVersion(t, bin)
	if head != "" && !hasVCSStamp(t, bin) {
		// The go command stamps only what it recognises as a repository
		// (not, for one, a linked git worktree): nothing to check then
		// but the defaults.
		head = ""
	}
	if head == "" {
		want := map[string]string{"version": "dev", "commit": "unknown", "built": "unknown"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("without git: %s = %q, want %q", k, got[k], v)
			}
		}
		return
	}
	// Go (1.24 on) derives the main module's version from the stamp: a
	// pseudo-version naming the commit, "+dirty" for a modified tree.
	if !strings.HasPrefix(got["version"], "v") || !strings.Contains(got["version"], head[:12]) {
		t.Errorf("version = %q, want the pseudo-version of commit %s", got["version"], head[:12])
	}
	if strings.TrimSuffix(got["commit"], "-dirty") != head {
		t.Errorf("commit = %q, want the VCS stamp %s (maybe -dirty)", got["commit"], head)
	}
	if _, err := time.Parse(time.RFC3339, got["built"]); err != nil {
		t.Errorf("built = %q, want the commit time in RFC 3339: %v", got["built"], err)
	}
}

// hasVCSStamp reports whether the go command stamped bin with a revision.
func hasVCSStamp(t *testing.T, bin string) bool {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	return strings.Contains(string(out), "vcs.revision=")
}

// requireTool returns the path of a program the deployment tests run. CI
// must run them, so a missing one fails there; elsewhere the test skips.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed but CI must run this test (.ci/run installs it): %v", name, err)
	}
	t.Skipf("%s is not installed (%v)", name, err)
	return ""
}

// runMake runs make in the repository root with args, bounded by
// clientTimeout, and returns its output.
func runMake(t *testing.T, makeBin string, args ...string) string {
	t.Helper()
	return runMakeTimeout(t, clientTimeout, makeBin, args...)
}

// runMakeTimeout is runMake bounded by d.
func runMakeTimeout(t *testing.T, d time.Duration, makeBin string, args ...string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, makeBin, append([]string{"-C", repoRoot(t), "GO=" + goBin}, args...)...)
	cmd.Env = makeEnv()
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("make %s took %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return string(out)
}

// makeEnv is this process's environment without what would change the
// Makefile's variables behind the test's back: its own variables, a
// parent make's jobserver (under `make test`), and a target platform.
func makeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "VERSION", "COMMIT", "DATE", "SOURCE_DATE_EPOCH", "BIN", "DIST", "PLATFORMS", "LDFLAGS",
			"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "GOOS", "GOARCH", "CGO_ENABLED", "GOFLAGS":
			continue
		}
		env = append(env, kv)
	}
	return env
}
