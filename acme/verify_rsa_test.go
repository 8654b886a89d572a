package acme_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"math/big"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/sqlite"
)

// RSA keys too large for the JWS library (go-jose parses RSA JWKs up to
// 4096 bits) are refused as badPublicKey naming their size and the
// maximum that applies, in directories whose account key ceiling is the
// default, lower by account_rsa_max_bits, or lower through rsa_max_bits.
// The catalogue (hostile_account_test.go) has the default directory's
// newAccount and keyChange cases; these are the other directories' and
// the other entry points'.

// roughModulus is an odd number of exactly bits bits with no prime factor
// below 752, so that the key policy's checks after the size (BR §6.1.6
// small factors) pass and only the signature can fail.
func roughModulus(bits int) []byte {
	var primorial big.Int
	primorial.SetInt64(1)
	for p := int64(3); p < 752; p += 2 {
		if big.NewInt(p).ProbablyPrime(0) {
			primorial.Mul(&primorial, big.NewInt(p))
		}
	}
	var n, gcd big.Int
	for {
		n.SetBytes(forgedModulus(bits))
		if gcd.GCD(nil, nil, &n, &primorial).Cmp(big.NewInt(1)) == 0 {
			return n.Bytes()
		}
	}
}

// hugeJWK is the JWK of a forged RSA key of bits bits.
func hugeJWK(bits int) json.RawMessage { return rsaJWK(forgedModulus(bits), 65537) }

func TestOversizedRSAJWKIsBadPublicKey(t *testing.T) {
	e := newEnv(t, envOptions{
		dirs: []acme.DirectoryDefinition{
			{Name: "acct3072", Settings: acme.DirectorySettings{Policy: acme.PolicySettings{AccountRSAMaxBits: 3072}}},
			{Name: "rsa3072", Settings: acme.DirectorySettings{Policy: acme.PolicySettings{RSAMaxBits: 3072}}},
			{Name: "ecdsa", Settings: acme.DirectorySettings{Policy: acme.PolicySettings{AllowedKeyTypes: []string{"ECDSA"}}}},
		},
	})
	w := &hostileWorld{t: t, e: e, base: e.url + "/acme/default"}
	w.good = e.rawAccount("default")
	roller := e.rawAccount("acct3072")
	e.stopJobs()
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: e.dbPath, RawQuery: "_query_only=1"}).String())
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	w.db = db

	tos := []byte(`{"termsOfServiceAgreed":true}`)
	// newAccount in directory dir with the jwk given and a signature
	// nobody could have made.
	newAccount := func(dir string, jwk json.RawMessage) func(*testing.T) *rawResponse {
		return func(*testing.T) *rawResponse {
			c := e.rawClient()
			u := e.url + "/acme/" + dir + "/new-account"
			return c.post(u, headerJWS(map[string]any{"alg": "RS256", "nonce": c.nonce(), "url": u, "jwk": jwk}, tos, noSigner))
		}
	}
	cases := []hostileCase{
		{name: "newAccount/default/8192 bits", status: 400, typ: urnBadPublicKey,
			detail: "the RSA account key's modulus is 8192 bits; the maximum is 4096",
			req:    newAccount("default", hugeJWK(8192))},
		// account_rsa_max_bits below 4096 is the maximum the detail names,
		// whether go-jose could parse the key (4000 bits) or not.
		{name: "newAccount/account_rsa_max_bits 3072/8192 bits", status: 400, typ: urnBadPublicKey,
			detail: "the RSA account key's modulus is 8192 bits; the maximum is 3072",
			req:    newAccount("acct3072", hugeJWK(8192))},
		{name: "newAccount/account_rsa_max_bits 3072/4000 bits", status: 400, typ: urnBadPublicKey,
			detail: "the RSA account key's modulus is 4000 bits; the maximum is 3072",
			req:    newAccount("acct3072", hugeJWK(4000))},
		// rsa_max_bits below 4096 lowers the account key default too.
		{name: "newAccount/rsa_max_bits 3072/8192 bits", status: 400, typ: urnBadPublicKey,
			detail: "the RSA account key's modulus is 8192 bits; the maximum is 3072",
			req:    newAccount("rsa3072", hugeJWK(8192))},
		// A directory without RSA account keys says so, whatever the size.
		{name: "newAccount/ECDSA only/8192 bits", status: 400, typ: urnBadPublicKey,
			detail: "RSA account keys are not allowed by this directory's policy; allowed key types: ECDSA",
			req:    newAccount("ecdsa", hugeJWK(8192))},
		// Leading zero bytes do not count (go-jose reads n as a number):
		// 513 bytes holding 4096 bits pass the size checks.
		{name: "newAccount/4096 bits with a leading zero byte", status: 400, typ: urnMalformed,
			detail: "JWS signature is invalid",
			req:    newAccount("default", rsaJWK(append([]byte{0}, roughModulus(4096)...), 65537))},
		// The key is measured whatever else is wrong with it: an exponent
		// go-jose would refuse does not hide the size.
		{name: "newAccount/8192 bits with exponent 1", status: 400, typ: urnBadPublicKey,
			detail: "the RSA account key's modulus is 8192 bits; the maximum is 4096",
			req:    newAccount("default", rsaJWK(forgedModulus(8192), 1))},
		// revokeCert's jwk is the certificate's key, which rsa_max_bits
		// allows up to 8192 bits: the detail names the server's limit and
		// the way that still works.
		{name: "revokeCert/jwk of 8192 bits", status: 400, typ: urnBadPublicKey,
			detail: "JWS jwk is an RSA key whose modulus is 8192 bits; the maximum is 4096, the largest RSA key this server can verify a signature with; to revoke a certificate with a larger key, sign the request with an account authorized for it",
			req: func(*testing.T) *rawResponse {
				c := e.rawClient()
				u := w.base + "/revoke-cert"
				return c.post(u, headerJWS(map[string]any{"alg": "RS256", "nonce": c.nonce(), "url": u, "jwk": hugeJWK(8192)},
					[]byte(`{"certificate":"AAAA"}`), noSigner))
			}},
		// A kid request must not carry a jwk at all; a huge one is refused
		// for its size first, as the JWS is parsed.
		{name: "newOrder/kid and a jwk of 8192 bits", status: 400, typ: urnBadPublicKey,
			detail: "JWS jwk is an RSA key whose modulus is 8192 bits; the maximum is 4096",
			req: func(*testing.T) *rawResponse {
				g := w.good
				u := w.base + "/new-order"
				h := g.header(u)
				h["jwk"] = hugeJWK(8192)
				return g.post(u, g.jws(h, []byte(orderOf("a.example.com"))))
			}},
		// keyChange's new key is an account key: the directory's limit.
		{name: "keyChange/account_rsa_max_bits 3072/new key of 8192 bits", status: 400, typ: urnBadPublicKey,
			detail: "inner JWS: the RSA account key's modulus is 8192 bits; the maximum is 3072",
			req: func(t *testing.T) *rawResponse {
				u := e.url + "/acme/acct3072/key-change"
				payload, _ := json.Marshal(map[string]any{"account": roller.kid, "oldKey": roller.jwk()})
				inner := headerJWS(map[string]any{"alg": "RS256", "url": u, "jwk": hugeJWK(8192)}, payload, noSigner)
				return roller.post(u, roller.jws(roller.header(u), inner))
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := w.state(t)
			r := tc.req(t)
			checkHostileResponse(t, tc, r)
			w.assertUnchanged(t, before, w.state(t))
		})
	}
}

// configDirectory is a directory entry of the configuration file, decoded
// as cmd/acmegate decodes it: strictly, settings inline.
type configDirectory struct {
	Name                   string `yaml:"name"`
	acme.DirectorySettings `yaml:",inline"`
}

// loadConfigDirectories decodes the directories of a configuration file
// and writes them to st, as the server does at start.
func loadConfigDirectories(t *testing.T, st storage.Store, text string) error {
	t.Helper()
	var file struct {
		Directories []configDirectory `yaml:"directories"`
	}
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("decode: %v", err)
	}
	var defs []acme.DirectoryDefinition
	for _, d := range file.Directories {
		defs = append(defs, acme.DirectoryDefinition{Name: d.Name, Settings: d.DirectorySettings})
	}
	return acme.PutConfigDirectories(testCtx(t), st, acme.Catalog{}, defs, time.Now().UTC())
}

func TestConfigAccountRSAMaxBits(t *testing.T) {
	ctx := testCtx(t)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "acmegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	// Above go-jose's limit: refused at load with the policy's reason, and
	// nothing stored.
	err = loadConfigDirectories(t, st, `
directories:
  - name: big
    policy:
      rsa_max_bits: 8192
      account_rsa_max_bits: 8192
`)
	const want = "directory big: policy: AccountRSAMaxBits 8192 is above 4096: the JWS library (go-jose) cannot parse larger RSA keys, so no account could use one; RSAMaxBits sets the limit for certificate keys"
	if err == nil || err.Error() != want {
		t.Fatalf("account_rsa_max_bits 8192: error %v, want %q", err, want)
	}
	if _, err := st.GetDirectory(ctx, "big"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the refused directory was stored (lookup error %v)", err)
	}

	// Within it: stored under its JSON name, read back the same.
	if err := loadConfigDirectories(t, st, `
directories:
  - name: small
    policy:
      rsa_max_bits: 8192
      account_rsa_max_bits: 3072
`); err != nil {
		t.Fatal(err)
	}
	d, err := st.GetDirectory(ctx, "small")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(d.Settings, []byte(`"account_rsa_max_bits":3072`)) {
		t.Fatalf("stored settings %s do not hold account_rsa_max_bits", d.Settings)
	}
	var back acme.DirectorySettings
	if err := json.Unmarshal(d.Settings, &back); err != nil {
		t.Fatal(err)
	}
	if back.Policy.AccountRSAMaxBits != 3072 || back.Policy.RSAMaxBits != 8192 {
		t.Fatalf("read back %+v", back.Policy)
	}
}

// TestRoughModulus checks the test helper: exact size, odd, no small
// factor.
func TestRoughModulus(t *testing.T) {
	for _, bits := range []int{2048, 4096} {
		n := new(big.Int).SetBytes(roughModulus(bits))
		if n.BitLen() != bits || n.Bit(0) != 1 {
			t.Fatalf("%d bits: got %d bits, odd %v", bits, n.BitLen(), n.Bit(0) == 1)
		}
		for p := int64(3); p < 752; p += 2 {
			if new(big.Int).Mod(n, big.NewInt(p)).Sign() == 0 {
				t.Fatalf("%d bits: divisible by %d", bits, p)
			}
		}
	}
}
