package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Set at build time by `make build`, `make release` and the Dockerfile with
// -ldflags "-X main.version=… -X main.commit=… -X main.date=…". A plain
// `go build` or `go install` leaves them at these defaults, and buildInfo
// falls back on what the Go toolchain stamped into the binary.
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

// buildInfo is what `acmegate version` reports.
type buildInfo struct {
	Version   string
	Commit    string
	Date      string
	GoVersion string
	Platform  string // GOOS/GOARCH
}

// currentBuild describes this binary.
func currentBuild() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	return resolveBuild(version, commit, date, bi)
}

// resolveBuild prefers the values set with -ldflags; where one was not set
// it takes the module version and the VCS stamp (vcs.revision, vcs.time,
// vcs.modified) the toolchain records, so `go install …@v1.2.3` and a
// `go build` in a checkout still say what they are. bi may be nil.
func resolveBuild(ver, rev, when string, bi *debug.BuildInfo) buildInfo {
	b := buildInfo{
		Version:   ver,
		Commit:    rev,
		Date:      when,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi == nil {
		return b
	}
	if bi.GoVersion != "" {
		b.GoVersion = bi.GoVersion
	}
	if b.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.Version = bi.Main.Version
	}
	var vcsRev, vcsTime string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			vcsRev = s.Value
		case "vcs.time":
			vcsTime = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if b.Commit == "unknown" && vcsRev != "" {
		b.Commit = vcsRev
		if modified {
			// The stamp names the commit the work tree started from, not
			// what was built.
			b.Commit += "-dirty"
		}
	}
	if b.Date == "unknown" && vcsTime != "" {
		b.Date = vcsTime
	}
	return b
}

// printVersion writes the build description `acmegate version` prints.
func printVersion(w io.Writer, b buildInfo) {
	fmt.Fprintf(w, "acmegate %s\n  commit:   %s\n  built:    %s\n  go:       %s\n  platform: %s\n",
		b.Version, b.Commit, b.Date, b.GoVersion, b.Platform)
}
