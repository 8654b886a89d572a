package main

import (
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// secretName matches identifiers that name a secret or a value derived
// from one (a MAC, a hash of a token, a signature, a CSRF token).
var secretName = regexp.MustCompile(`(?i)(mac|secret|passw|signature|^sig$|csrf|digest|apikey|token|hash|hmac|thumb|keyauth)`)

// timingSafe lists the comparisons of secret-looking values that are not
// comparisons of secrets, by file and expression, each with why.
var timingSafe = map[string]string{
	// RFC 8555 §7.3.5: both thumbprints are of public keys.
	"acme/keychange.go: claimedThumb != oldThumb":                        "public key thumbprints",
	"acme/keychange.go: newThumb == oldThumb":                            "public key thumbprints",
	"acme/eab.go: bytes.Equal([]byte(boundThumb), []byte(accountThumb))": "public key thumbprints, after the HMAC was checked with hmac.Equal",
	// The key authorization is the token and the account key's
	// thumbprint, both public (RFC 8555 §8.1).
	"validation/http01.go: got != t.KeyAuthorization": "public key authorization",
	// The audit chain's hashes are integrity checks of public entries.
	"storage/operators.go: string(AuditHash(e)) != string(e.Hash)": "audit chain hash of public data",
	"storage/operators.go: string(e.PrevHash) != string(prev)":     "audit chain hash of public data",
}

// TestSecurityConstantTimeComparisons reads every non-test Go file of the
// module and fails on a comparison with ==, !=, bytes.Equal, strings.Compare
// or reflect.DeepEqual whose operands name a secret (MAC, token, hash,
// signature, password, CSRF token…), unless timingSafe explains why it is
// not one. Secrets are compared with hmac.Equal or
// subtle.ConstantTimeCompare, whose time does not depend on where the
// first difference is. (Security review, issue 8 item 6.)
func TestSecurityConstantTimeComparisons(t *testing.T) {
	root := filepath.Join("..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	fset := token.NewFileSet()
	seen := map[string]bool{}
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			// Test support packages (sectigotest, storagetest, …) are
			// fakes and fixtures, never part of the binary.
			if name := d.Name(); name != ".." && (strings.HasPrefix(name, ".") || name == "testdata" || strings.HasSuffix(name, "test")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		for _, expr := range secretComparisons(f) {
			var b strings.Builder
			_ = printer.Fprint(&b, fset, expr)
			key := rel + ": " + b.String()
			if _, ok := timingSafe[key]; ok {
				seen[key] = true
				continue
			}
			t.Errorf("%s: %s compares what looks like a secret in variable time; use hmac.Equal or subtle.ConstantTimeCompare, or list it in timingSafe with the reason it is public",
				fset.Position(expr.Pos()), b.String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("read only %d Go files: is the module root right?", files)
	}
	for key := range timingSafe {
		if !seen[key] {
			t.Errorf("timingSafe lists %q, which is no longer in the code: remove it", key)
		}
	}
	t.Logf("read %d Go files", files)
}

// secretComparisons returns the variable-time comparisons in f whose
// operands name a secret and are not trivial.
func secretComparisons(f *ast.File) []ast.Expr {
	var out []ast.Expr
	ast.Inspect(f, func(n ast.Node) bool {
		var operands []ast.Expr
		switch x := n.(type) {
		case *ast.BinaryExpr:
			if x.Op != token.EQL && x.Op != token.NEQ {
				return true
			}
			operands = []ast.Expr{x.X, x.Y}
		case *ast.CallExpr:
			sel, ok := x.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pkg, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			switch pkg.Name + "." + sel.Sel.Name {
			case "bytes.Equal", "strings.Compare", "bytes.Compare", "reflect.DeepEqual", "strings.EqualFold":
				operands = x.Args
			default:
				return true
			}
		default:
			return true
		}
		for _, op := range operands {
			if trivial(op) {
				return true
			}
		}
		if namesSecret(operands) {
			out = append(out, n.(ast.Expr))
		}
		return true
	})
	return out
}

// TestSecuritySecretComparisonsFinds: the search finds variable-time comparisons
// of secrets and lets constant-time ones, and trivial ones, pass.
func TestSecuritySecretComparisonsFinds(t *testing.T) {
	const src = `package x
func f(token, want string, mac, sum []byte, s *session) bool {
	_ = token == want                                   // found
	_ = bytes.Equal(mac, sum)                           // found
	_ = s.CSRF != want                                  // found
	_ = string(s.hash) == string(sum)                   // found
	_ = hmac.Equal(mac, sum)
	_ = subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1
	_ = token == ""
	_ = len(mac) != 32
	_ = (token == "") != (want == "")
	_ = mac == nil
	_ = name == want
	return false
}`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := secretComparisons(f); len(got) != 4 {
		var lines []int
		for _, e := range got {
			lines = append(lines, fset.Position(e.Pos()).Line)
		}
		t.Errorf("found comparisons on lines %v, want lines 3 to 6", lines)
	}
}

// trivial reports whether e is a constant, nil, or a length: comparing a
// secret with one of these reveals nothing.
func trivial(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.BasicLit:
		return true
	case *ast.ParenExpr:
		// (a == "") != (b == ""): comparing whether values are set.
		if b, ok := x.X.(*ast.BinaryExpr); ok && (b.Op == token.EQL || b.Op == token.NEQ) {
			return trivial(b.X) || trivial(b.Y)
		}
	case *ast.Ident:
		return x.Name == "nil" || x.Name == "true" || x.Name == "false"
	case *ast.CallExpr:
		if id, ok := x.Fun.(*ast.Ident); ok && (id.Name == "len" || id.Name == "cap") {
			return true
		}
	case *ast.SelectorExpr:
		// A package-level constant or sentinel such as io.EOF.
		if id, ok := x.X.(*ast.Ident); ok && isPackageName(id.Name) && ast.IsExported(x.Sel.Name) {
			return true
		}
	}
	return false
}

// isPackageName reports whether name is one of the standard packages
// whose exported values appear in comparisons (sentinels, constants).
func isPackageName(name string) bool {
	switch name {
	case "io", "http", "os", "fs", "sql", "storage", "acme", "ca", "tls", "x509", "jose", "token", "notify", "context":
		return true
	}
	return false
}

// namesSecret reports whether any identifier in the operands names a
// secret.
func namesSecret(operands []ast.Expr) bool {
	found := false
	for _, op := range operands {
		ast.Inspect(op, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && secretName.MatchString(id.Name) {
				found = true
			}
			return !found
		})
	}
	return found
}
