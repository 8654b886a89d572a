package local

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestNewRefusesLooseKeyModes: a CA whose root or intermediate key file is
// accessible to group or others is refused on start, with an error naming
// the file and its mode; the certificates may be world-readable, and once
// the key is back to 0600 the same CA loads again.
func TestNewRefusesLooseKeyModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes carry no owner-only information on Windows")
	}
	t.Parallel()
	for _, name := range []string{rootKeyFile, interKeyFile} {
		for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o620, 0o602, 0o660} {
			t.Run(fmt.Sprintf("%s/%04o", name, mode), func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				first := newTestCA(t, Config{Dir: dir})
				path := filepath.Join(dir, name)
				if err := os.Chmod(path, mode); err != nil {
					t.Fatal(err)
				}
				_, err := New(testContext(t), Config{Dir: dir})
				if err == nil {
					t.Fatalf("New loaded a CA whose %s is mode %04o", name, mode)
				}
				for _, want := range []string{path, fmt.Sprintf("mode %04o", mode), "0600"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not name %q", err, want)
					}
				}
				if err := os.Chmod(path, 0o600); err != nil {
					t.Fatal(err)
				}
				again := newTestCA(t, Config{Dir: dir})
				if !again.Root().Equal(first.Root()) {
					t.Error("after chmod 600 a different CA was loaded")
				}
			})
		}
	}
	t.Run("owner-only modes and public certificates", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		newTestCA(t, Config{Dir: dir})
		// 0400 (read-only for the owner) is fine; so are certificates
		// anyone may read.
		for name, mode := range map[string]fs.FileMode{rootKeyFile: 0o400, interKeyFile: 0o600, rootCertFile: 0o644, interCertFile: 0o666} {
			if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
				t.Fatal(err)
			}
		}
		newTestCA(t, Config{Dir: dir})
	})
}
