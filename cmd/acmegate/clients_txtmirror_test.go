package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/acmegate/acmegate/validation/validationtest"
)

// txtMirrorDirEnv names, in the exec script's environment, the directory
// it publishes records into.
const txtMirrorDirEnv = "ACMEGATE_TEST_TXT_DIR"

// txtMirrorScript is lego's exec provider: lego runs it as
// `SCRIPT present|cleanup FQDN VALUE`. It publishes a record as a file the
// test mirrors into the DNS server, and only returns from present once the
// test acknowledges that the record is served, so lego's propagation check
// and the server's lookup never race the mirror.
const txtMirrorScript = `#!/bin/sh
set -eu
f="$` + txtMirrorDirEnv + `/rec-$3"
case "$1" in
present)
	rm -f "$f.ack"
	printf '%s %s\n' "$2" "$3" > "$f.tmp"
	mv "$f.tmp" "$f"
	i=0
	while [ ! -e "$f.ack" ]; do
		i=$((i + 1))
		if [ "$i" -gt 400 ]; then
			echo "record $2 $3 not served after 20 s" >&2
			exit 1
		fi
		sleep 0.05
	done
	;;
cleanup)
	rm -f "$f" "$f.ack"
	;;
*)
	echo "usage: $0 present|cleanup FQDN VALUE" >&2
	exit 2
	;;
esac
`

// txtMirror serves, in a DNSServer, the TXT records the exec script
// publishes as files.
type txtMirror struct {
	dir    string // where the script writes records
	script string // the script, for EXEC_PATH
	dns    *validationtest.DNSServer

	mu   sync.Mutex
	live map[string][]string        // canonical name → values served now
	seen map[string]map[string]bool // canonical name → every value served
}

// startTXTMirror writes the script and mirrors its directory into dnsSrv
// every 50 ms until the test ends.
func startTXTMirror(t *testing.T, dnsSrv *validationtest.DNSServer) *txtMirror {
	t.Helper()
	work := t.TempDir()
	m := &txtMirror{
		dir:    filepath.Join(work, "records"),
		script: filepath.Join(work, "txt-record.sh"),
		dns:    dnsSrv,
		live:   map[string][]string{},
		seen:   map[string]map[string]bool{},
	}
	if err := os.Mkdir(m.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.script, []byte(txtMirrorScript), 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if err := m.sync(); err != nil {
				t.Errorf("mirror TXT records: %v", err)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return m
}

// sync serves exactly the records present in the directory, then
// acknowledges each one.
func (m *txtMirror) sync() error {
	entries, err := os.ReadDir(m.dir)
	if err != nil {
		return err
	}
	want := map[string][]string{}
	var records []string
	acks := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".ack"):
			acks[strings.TrimSuffix(name, ".ack")] = true
			continue
		case strings.HasSuffix(name, ".tmp"), !strings.HasPrefix(name, "rec-"):
			continue
		}
		raw, err := os.ReadFile(filepath.Join(m.dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // cleaned up since ReadDir
		}
		if err != nil {
			return err
		}
		fqdn, value, ok := strings.Cut(strings.TrimSpace(string(raw)), " ")
		if !ok {
			return fmt.Errorf("record file %s: %q is not \"FQDN VALUE\"", name, raw)
		}
		key := dns.CanonicalName(fqdn)
		want[key] = append(want[key], value)
		records = append(records, name)
	}

	m.mu.Lock()
	for key, values := range want {
		slices.Sort(values)
		if !slices.Equal(values, m.live[key]) {
			m.dns.SetTXT(key, values...)
		}
		if m.seen[key] == nil {
			m.seen[key] = map[string]bool{}
		}
		for _, v := range values {
			m.seen[key][v] = true
		}
	}
	for key := range m.live {
		if _, ok := want[key]; !ok {
			m.dns.SetTXT(key)
		}
	}
	m.live = want
	m.mu.Unlock()

	for _, name := range records {
		if acks[name] {
			continue
		}
		if err := os.WriteFile(filepath.Join(m.dir, name+".ack"), nil, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// values returns every value ever served at fqdn, sorted.
func (m *txtMirror) values(fqdn string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for v := range m.seen[dns.CanonicalName(fqdn)] {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// current returns the records served now.
func (m *txtMirror) current() map[string][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][]string{}
	for k, v := range m.live {
		out[k] = slices.Clone(v)
	}
	return out
}
