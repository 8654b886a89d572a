package main

// The deployment files checked against the real tools where they run here
// (make, the Go toolchain, systemd-analyze) and against each other where
// they do not (the Dockerfile: CI has no container engine).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// releaseTimeout bounds one cross-compiled release build: the first one
// compiles every package for the other architecture.
const releaseTimeout = 10 * time.Minute

// repoFile is the path of a file given relative to the repository root.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	return filepath.Join(repoRoot(t), filepath.FromSlash(rel))
}

// unitFile is a parsed systemd unit: section, directive, values in order.
type unitFile map[string]map[string][]string

// parseUnit reads a systemd unit file (no continuation lines: the unit
// has none).
func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: unparsable line %q", path, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// last is the effective value of a directive that takes one value.
func (u unitFile) last(section, key string) (string, bool) {
	v := u[section][key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// TestSystemdUnitDirectives checks deploy/acmegate.service runs the
// documented command as its own user and keeps the sandbox it promises.
func TestSystemdUnitDirectives(t *testing.T) {
	u := parseUnit(t, repoFile(t, "deploy/acmegate.service"))
	for _, d := range []struct{ key, want string }{
		{"Type", "simple"}, // no sd_notify in serve
		{"User", "acmegate"},
		{"ExecStart", "/usr/local/bin/acmegate serve --config /etc/acmegate/config.yaml"},
		{"StateDirectory", "acmegate"},
		{"WorkingDirectory", "/var/lib/acmegate"},
		{"ReadWritePaths", "/var/lib/acmegate"},
		{"Restart", "on-failure"},
		{"UMask", "0077"},
		{"NoNewPrivileges", "yes"},
		{"ProtectSystem", "strict"},
		{"ProtectHome", "yes"},
		{"PrivateTmp", "yes"},
		{"PrivateDevices", "yes"},
		{"ProtectKernelTunables", "yes"},
		{"ProtectKernelModules", "yes"},
		{"ProtectKernelLogs", "yes"},
		{"ProtectControlGroups", "yes"},
		{"ProtectClock", "yes"},
		{"ProtectHostname", "yes"},
		{"RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"},
		{"RestrictNamespaces", "yes"},
		{"RestrictRealtime", "yes"},
		{"RestrictSUIDSGID", "yes"},
		{"LockPersonality", "yes"},
		{"MemoryDenyWriteExecute", "yes"},
		{"SystemCallArchitectures", "native"},
		// No capability at all: port 14000 needs none.
		{"CapabilityBoundingSet", ""},
		{"AmbientCapabilities", ""},
	} {
		if got, ok := u.last("Service", d.key); !ok || got != d.want {
			t.Errorf("[Service] %s = %q (set: %v), want %q", d.key, got, ok, d.want)
		}
	}
	if got := u["Service"]["SystemCallFilter"]; len(got) == 0 || got[0] != "@system-service" {
		t.Errorf("SystemCallFilter = %q, want @system-service first", got)
	}
	if n, ok := u.last("Service", "LimitNOFILE"); !ok {
		t.Error("no LimitNOFILE")
	} else if v, err := strconv.Atoi(n); err != nil || v < 4096 {
		t.Errorf("LimitNOFILE = %q, want a number >= 4096", n)
	}
	// The shutdown after SIGTERM (20 s of requests, then 15 s of jobs) must
	// fit before systemd sends SIGKILL.
	stop, _ := u.last("Service", "TimeoutStopSec")
	if d, err := time.ParseDuration(stop); err != nil || d < shutdownTimeout+15*time.Second {
		t.Errorf("TimeoutStopSec = %q, want at least %v", stop, shutdownTimeout+15*time.Second)
	}

	// The state directory is the example configuration's data directory.
	cfg := loadExampleConfig(t)
	state, _ := u.last("Service", "StateDirectory")
	if cfg.DataDir != "/var/lib/"+state {
		t.Errorf("config data_dir %s is not the unit's StateDirectory /var/lib/%s", cfg.DataDir, state)
	}
}

// TestSystemdUnitVerify runs systemd-analyze on a copy of the unit whose
// ExecStart is a freshly built acmegate (verify checks the binary exists):
// no error, no warning (an unknown or misspelt directive is only a
// warning), and an exposure score of at most 2.0 ("OK").
func TestSystemdUnitVerify(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze")
	bin := buildServer(t)
	raw, err := os.ReadFile(repoFile(t, "deploy/acmegate.service"))
	if err != nil {
		t.Fatal(err)
	}
	const installed = "ExecStart=/usr/local/bin/acmegate "
	if !strings.Contains(string(raw), installed) {
		t.Fatalf("the unit has no %q", installed)
	}
	unit := filepath.Join(t.TempDir(), "acmegate.service")
	if err := os.WriteFile(unit, []byte(strings.Replace(string(raw), installed, "ExecStart="+bin+" ", 1)), 0o644); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, analyze, args...)
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("verify", unit)
	if err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	} else if strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify warns:\n%s", out)
	}

	out, err = run("security", "--offline=true", "--threshold=20", unit)
	m := regexp.MustCompile(`Overall exposure level for acmegate\.service: ([0-9.]+)`).FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("systemd-analyze security: exposure above 2.0 or unreadable (%v)\n%s", err, out)
	}
	t.Logf("systemd exposure level %s", m[1])
}

// loadExampleConfig loads deploy/config.example.yaml with the server's
// own loader, as `acmegate serve --config` would.
func loadExampleConfig(t *testing.T) *Config {
	t.Helper()
	if v, ok := os.LookupEnv("ACMEGATE_DATABASE_URL"); ok && v != "" {
		// The loader takes a database URL from the environment when the
		// file names none; the file's own storage is what is checked.
		t.Setenv("ACMEGATE_DATABASE_URL", "")
	}
	cfg, err := loadConfig(repoFile(t, "deploy/config.example.yaml"))
	if err != nil {
		t.Fatalf("deploy/config.example.yaml does not load: %v", err)
	}
	return cfg
}

// TestDeployExampleConfig loads the example configuration with the real
// loader, then serves with it (moved to a temporary data directory and a
// free loopback port) and checks its directory is what the file says.
func TestDeployExampleConfig(t *testing.T) {
	cfg := loadExampleConfig(t)
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		t.Fatalf("listen %q: %v", cfg.Listen, err)
	}
	if cfg.DataDir != "/var/lib/acmegate" || host != "0.0.0.0" || port != "14000" ||
		cfg.Storage.Driver != "sqlite" || cfg.Log.Format != "json" || hostOf(cfg.PublicURL) == "" {
		t.Errorf("example config: data_dir %s, listen %s, storage %s, log %s, public_url %q",
			cfg.DataDir, cfg.Listen, cfg.Storage.Driver, cfg.Log.Format, cfg.PublicURL)
	}

	// Serve with the file as written but for where it keeps data and
	// listens: the directories and the CA profiles must be accepted.
	raw, err := os.ReadFile(repoFile(t, "deploy/config.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var asWritten Config
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&asWritten); err != nil {
		t.Fatal(err)
	}
	asWritten.DataDir, asWritten.Listen, asWritten.PublicURL = "", "", ""
	asWritten.Log.Level = "warn"
	s := startGate(t, &asWritten)

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	status, meta, err := s.directoryMeta(ctx, trustingClient(t, s.rootPEM), "default")
	if err != nil || status != 200 {
		t.Fatalf("GET the default directory: %d %v", status, err)
	}
	profiles, _ := meta["profiles"].(map[string]any)
	if meta["externalAccountRequired"] != true || profiles["server"] == nil || profiles["short"] == nil {
		t.Errorf("default directory meta = %v, want EAB required and profiles server and short", meta)
	}
}

// TestReleaseLinuxArm64 runs `make release` for linux/arm64 only and
// checks the result: a static aarch64 ELF (no program interpreter, no
// shared libraries) built with -trimpath and the version flags, and a
// SHA256SUMS that matches it.
func TestReleaseLinuxArm64(t *testing.T) {
	skipIfShort(t)
	makeBin := requireTool(t, "make")
	dist := t.TempDir()
	const version = "v0.0.0-releasetest"
	runMakeTimeout(t, releaseTimeout, makeBin, "release", "PLATFORMS=linux/arm64", "DIST="+dist,
		"VERSION="+version, "SOURCE_DATE_EPOCH=1700000000")

	name := "acmegate_" + version + "_linux_arm64"
	entries, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"SHA256SUMS", name}; !slices.Equal(names, want) {
		t.Fatalf("dist holds %q, want %q", names, want)
	}
	bin := filepath.Join(dist, name)

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s is not an ELF file: %v", name, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 || f.OSABI != elf.ELFOSABI_NONE {
		t.Errorf("%s: machine %v class %v ABI %v, want a 64-bit aarch64 Linux executable", name, f.Machine, f.Class, f.OSABI)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a %v program header: not static", name, p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s needs shared libraries %q (%v)", name, libs, err)
	}

	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatalf("build info of %s: %v", name, err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	for k, want := range map[string]string{"CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "arm64", "-trimpath": "true"} {
		if settings[k] != want {
			t.Errorf("%s built with %s=%q, want %q", name, k, settings[k], want)
		}
	}
	content, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	// The build info leaves -ldflags out under -trimpath, and an arm64
	// binary does not run here: the values set with -X are looked for in
	// the binary's data instead.
	commit := gitHead(t)
	if commit == "" {
		commit = "unknown"
	}
	for _, want := range []string{version, "2023-11-14T22:13:20Z", commit} {
		if !bytes.Contains(content, []byte(want)) {
			t.Errorf("%s does not hold %q: -ldflags -X did not set it", name, want)
		}
	}

	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	// sha256sum's format, which `sha256sum -c SHA256SUMS` reads back.
	if want := hex.EncodeToString(sum[:]) + "  " + name + "\n"; string(sums) != want {
		t.Errorf("SHA256SUMS = %q, want %q", sums, want)
	}
}

// dockerInstr is one instruction of a Dockerfile.
type dockerInstr struct {
	cmd  string // upper case
	args string
}

// dockerStage is one FROM and what follows it.
type dockerStage struct {
	image, name string
	instrs      []dockerInstr
}

// parseDockerfile splits a Dockerfile into stages, joining continuation
// lines and dropping comments.
func parseDockerfile(t *testing.T, path string) []dockerStage {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages []dockerStage
	var pending string
	for line := range strings.Lines(string(raw)) {
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			pending += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line = strings.TrimSpace(pending + line)
		pending = ""
		if line == "" {
			continue
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := dockerInstr{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			var st dockerStage
			f := strings.Fields(in.args)
			for i := 0; i < len(f); i++ {
				switch {
				case strings.HasPrefix(f[i], "--"):
				case strings.EqualFold(f[i], "AS") && i+1 < len(f):
					st.name = f[i+1]
					i++
				case st.image == "":
					st.image = f[i]
				}
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if in.cmd == "ARG" {
				continue // ARGs before the first FROM parameterise FROM lines
			}
			t.Fatalf("%s: %s before FROM", path, in.cmd)
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
	}
	return stages
}

// all returns the arguments of every instruction cmd of the stage.
func (s dockerStage) all(cmd string) []string {
	var out []string
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// dockerCopy is a COPY instruction's flags, sources and destination.
type dockerCopy struct {
	from, chown string
	srcs        []string
	dest        string
}

func parseCopy(t *testing.T, args string) dockerCopy {
	t.Helper()
	var c dockerCopy
	var rest []string
	for _, f := range strings.Fields(args) {
		switch {
		case strings.HasPrefix(f, "--from="):
			c.from = strings.TrimPrefix(f, "--from=")
		case strings.HasPrefix(f, "--chown="):
			c.chown = strings.TrimPrefix(f, "--chown=")
		case strings.HasPrefix(f, "--"):
			t.Fatalf("COPY %s: flag %s not understood by this test", args, f)
		default:
			rest = append(rest, f)
		}
	}
	if len(rest) < 2 {
		t.Fatalf("COPY %s: want sources and a destination", args)
	}
	c.srcs, c.dest = rest[:len(rest)-1], rest[len(rest)-1]
	return c
}

// jsonArgs parses an exec-form instruction (ENTRYPOINT, CMD).
func jsonArgs(t *testing.T, what, args string) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(args), &v); err != nil {
		t.Fatalf("%s %s is not the exec (JSON) form: %v", what, args, err)
	}
	return v
}

// goBuildCommand finds the `go build` command in shell text and parses it
// with vars: the environment it sets and its arguments after "build"
// without the output path, which differs by design.
func goBuildCommand(t *testing.T, text string, vars map[string]string) (env, args []string) {
	t.Helper()
	for line := range strings.Lines(text) {
		if !strings.Contains(line, " build ") || !strings.Contains(line, "-ldflags") {
			continue
		}
		line = strings.TrimSpace(line)
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\\"), " ")
		line = strings.TrimSuffix(line, ";")
		cmds, err := parseShell(line, vars)
		if err != nil || len(cmds) != 1 {
			t.Fatalf("go build command %q: %v", line, err)
		}
		c := cmds[0]
		i := slices.Index(c.argv, "build")
		if i < 0 {
			t.Fatalf("%q runs no go build", line)
		}
		args = slices.Clone(c.argv[i:])
		if o := slices.Index(args, "-o"); o >= 0 && o+1 < len(args) {
			args = slices.Delete(args, o, o+2)
		}
		env = slices.Sorted(slices.Values(c.env))
		return env, args
	}
	t.Fatalf("no go build command with -ldflags in:\n%s", text)
	return nil, nil
}

// TestDockerfile checks the Dockerfile against the rest of the repository,
// since no test can build the image here: the build stage's Go matches
// go.mod, its build command is the Makefile's release command, what it
// copies exists and is not excluded by .dockerignore, and the final stage
// runs the example configuration as nonroot with its data directory on a
// volume and its port exposed.
func TestDockerfile(t *testing.T) {
	makeBin := requireTool(t, "make")
	stages := parseDockerfile(t, repoFile(t, "Dockerfile"))
	if len(stages) != 2 || stages[0].name == "" {
		t.Fatalf("want a named build stage and a final stage, got %+v", stages)
	}
	build, final := stages[0], stages[1]

	// The builder's Go is the release go.mod asks for.
	gomod, err := os.ReadFile(repoFile(t, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	if want := "golang:" + string(m[1]) + "-"; !strings.HasPrefix(build.image, want) {
		t.Errorf("build stage image %s, want %s* (go.mod says go %s)", build.image, want, m[1])
	}
	if !strings.HasPrefix(final.image, "gcr.io/distroless/static") || !strings.HasSuffix(final.image, ":nonroot") {
		t.Errorf("final image %s, want distroless static, nonroot", final.image)
	}

	// The build command is the Makefile's, for the same values.
	vars := map[string]string{}
	for _, a := range build.all("ARG") {
		k, v, _ := strings.Cut(a, "=")
		vars[k] = v
	}
	vars["VERSION"], vars["COMMIT"], vars["DATE"] = "v1.2.3", "c0ffee", "2024-01-02T03:04:05Z"
	var runs strings.Builder
	for _, r := range build.all("RUN") {
		runs.WriteString(r + "\n")
	}
	dockerEnv, dockerArgs := goBuildCommand(t, runs.String(), vars)
	makeOut := runMake(t, makeBin, "-n", "release", "PLATFORMS="+vars["TARGETOS"]+"/"+vars["TARGETARCH"],
		"VERSION=v1.2.3", "COMMIT=c0ffee", "DATE=2024-01-02T03:04:05Z", "DIST=dist-dry-run")
	makeEnv, makeArgs := goBuildCommand(t, makeOut, map[string]string{
		"os": vars["TARGETOS"], "arch": vars["TARGETARCH"], "out": "OUT",
	})
	if !slices.Equal(dockerEnv, makeEnv) || !slices.Equal(dockerArgs, makeArgs) {
		t.Errorf("Dockerfile builds with\n  %q %q\nthe Makefile's release with\n  %q %q", dockerEnv, dockerArgs, makeEnv, makeArgs)
	}
	if !slices.Contains(dockerEnv, "CGO_ENABLED=0") || !slices.Contains(dockerArgs, "-trimpath") {
		t.Errorf("the image build is not static and trimmed: %q %q", dockerEnv, dockerArgs)
	}

	ignore := readDockerignore(t)
	for _, c := range build.all("COPY") {
		cp := parseCopy(t, c)
		for _, src := range cp.srcs {
			if _, err := os.Stat(repoFile(t, src)); err != nil {
				t.Errorf("build stage copies %s: %v", src, err)
			}
			if src != "." && ignore.excludes(src) {
				t.Errorf("build stage copies %s, which .dockerignore excludes", src)
			}
		}
	}
	// Every file `go build ./cmd/acmegate` reads reaches the build context.
	for _, f := range moduleBuildFiles(t) {
		if ignore.excludes(f) {
			t.Errorf(".dockerignore excludes %s, which the build needs", f)
		}
	}

	// The final stage.
	copies := map[string]dockerCopy{} // by destination
	for _, c := range final.all("COPY") {
		cp := parseCopy(t, c)
		copies[cp.dest] = cp
		for _, src := range cp.srcs {
			switch cp.from {
			case build.name:
				if !strings.Contains(runs.String(), src) {
					t.Errorf("final stage copies %s, which no build stage RUN makes", src)
				}
			case "":
				if _, err := os.Stat(repoFile(t, src)); err != nil || ignore.excludes(src) {
					t.Errorf("final stage copies %s: missing or excluded (%v)", src, err)
				}
			default:
				t.Errorf("COPY --from=%s: no such stage", cp.from)
			}
		}
	}
	entry := jsonArgs(t, "ENTRYPOINT", lastOf(t, final, "ENTRYPOINT"))
	if len(entry) != 1 || copies[entry[0]].from != build.name {
		t.Errorf("ENTRYPOINT %q is not the binary copied from the build stage", entry)
	}
	cmd := jsonArgs(t, "CMD", lastOf(t, final, "CMD"))
	if len(cmd) != 3 || cmd[0] != "serve" || cmd[1] != "--config" ||
		!slices.Equal(copies[cmd[2]].srcs, []string{"deploy/config.example.yaml"}) {
		t.Fatalf("CMD %q does not serve deploy/config.example.yaml as copied into the image", cmd)
	}
	if user := lastOf(t, final, "USER"); !strings.HasPrefix(user, "nonroot") && !strings.HasPrefix(user, "65532") {
		t.Errorf("USER %s, want nonroot", user)
	}
	cfg := loadExampleConfig(t)
	volume := lastOf(t, final, "VOLUME")
	if volume != cfg.DataDir {
		t.Errorf("VOLUME %s is not the configuration's data_dir %s", volume, cfg.DataDir)
	}
	// A volume is created from the image's directory, ownership included:
	// nonroot must own it to write there.
	if c, ok := copies[volume]; !ok || c.chown != "65532:65532" {
		t.Errorf("%s is not copied into the image owned by nonroot (65532): %+v", volume, c)
	}
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	if host != "0.0.0.0" && host != "" {
		t.Errorf("the image's configuration listens on %s: unreachable from outside the container", cfg.Listen)
	}
	if !slices.Contains(strings.Fields(lastOf(t, final, "EXPOSE")), port) {
		t.Errorf("EXPOSE %s lacks the listen port %s", lastOf(t, final, "EXPOSE"), port)
	}
}

// lastOf is the argument of the last instruction cmd of the stage.
func lastOf(t *testing.T, s dockerStage, cmd string) string {
	t.Helper()
	all := s.all(cmd)
	if len(all) == 0 {
		t.Fatalf("stage %s has no %s", s.image, cmd)
	}
	return all[len(all)-1]
}

// moduleBuildFiles lists, relative to the repository root, the files of
// this module that building cmd/acmegate reads: go.mod, go.sum and the Go
// and embedded files of every package it imports.
func moduleBuildFiles(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	const tmpl = `{{with .Module}}{{if .Main}}{{$.Dir}}|{{join $.GoFiles ","}}|{{join $.EmbedFiles ","}}{{"\n"}}{{end}}{{end}}`
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-f", tmpl, "./cmd/acmegate")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	files := []string{"go.mod", "go.sum"}
	for line := range strings.Lines(string(out)) {
		parts := strings.Split(strings.TrimSpace(line), "|")
		if len(parts) != 3 {
			continue
		}
		rel, err := filepath.Rel(repoRoot(t), parts[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range strings.Split(parts[1]+","+parts[2], ",") {
			if f != "" {
				files = append(files, filepath.ToSlash(filepath.Join(rel, f)))
			}
		}
	}
	if len(files) < 10 {
		t.Fatalf("go list found only %q", files)
	}
	return files
}

// dockerignore is the patterns of .dockerignore, in order.
type dockerignore []struct {
	re     *regexp.Regexp
	negate bool
}

func readDockerignore(t *testing.T) dockerignore {
	t.Helper()
	raw, err := os.ReadFile(repoFile(t, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var d dockerignore
	for line := range strings.Lines(string(raw)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		neg := strings.HasPrefix(line, "!")
		pat := strings.TrimPrefix(strings.TrimPrefix(line, "!"), "/")
		d = append(d, struct {
			re     *regexp.Regexp
			negate bool
		}{globRegexp(pat), neg})
	}
	return d
}

// globRegexp translates a .dockerignore pattern (Go filepath.Match plus
// "**" for any number of directories) into a regular expression.
func globRegexp(pat string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pat); i++ {
		switch {
		case strings.HasPrefix(pat[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(pat[i:], "**"):
			b.WriteString(".*")
			i++
		case pat[i] == '*':
			b.WriteString("[^/]*")
		case pat[i] == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(pat[i : i+1]))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// excludes reports whether the context path p (slash-separated, relative)
// is left out: a pattern matching p or one of its parent directories
// excludes it, the last matching pattern wins.
func (d dockerignore) excludes(p string) bool {
	p = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(p)), "./")
	excluded := false
	for _, pat := range d {
		for q := p; q != "." && q != "/" && q != ""; q = filepath.ToSlash(filepath.Dir(q)) {
			if pat.re.MatchString(q) {
				excluded = !pat.negate
				break
			}
		}
	}
	return excluded
}

// TestDockerignoreMatcher pins the subset of .dockerignore semantics the
// Dockerfile test relies on.
func TestDockerignoreMatcher(t *testing.T) {
	t.Parallel()
	d := dockerignore{}
	for _, p := range []string{"docs", "*.md", "**/*.test", "!keep.md"} {
		neg := strings.HasPrefix(p, "!")
		d = append(d, struct {
			re     *regexp.Regexp
			negate bool
		}{globRegexp(strings.TrimPrefix(p, "!")), neg})
	}
	for path, want := range map[string]bool{
		"docs/clients.md":      true,
		"README.md":            true,
		"keep.md":              false,
		"cmd/acmegate/x.md":    false, // *.md is the root only
		"a/b/c.test":           true,
		"cmd/acmegate/main.go": false,
	} {
		if got := d.excludes(path); got != want {
			t.Errorf("excludes(%s) = %v, want %v", path, got, want)
		}
	}
}
