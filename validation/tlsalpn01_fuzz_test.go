package validation

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzChallengeCert checks tls-alpn-01 validation certificates (RFC 8737
// §3, RFC 8738 §6), the part of validation a hostile responder controls.
// In raw mode the fuzzer writes the certificate DER; in built mode it
// chooses the subjectAltName entries (one per line, "dns:", "ip:", "uri:",
// "email:" or a raw context tag number), the acmeIdentifier extension's
// content and criticality, and may change one byte of the DER. The
// identifier is www.example.com or 192.0.2.1.
//
// Invariants: the right certificate is accepted; an accepted certificate
// has exactly one subjectAltName entry, the identifier (DNS names
// case-insensitively), and a critical acmeIdentifier extension that is the
// DER OCTET STRING of SHA-256(key authorization).
func FuzzChallengeCert(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	const keyAuth = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
	digest := sha256.Sum256([]byte(keyAuth))
	f.Fuzz(func(t *testing.T, mode uint8, der []byte, sans string, extValue []byte, critical bool, pos uint16, flip uint8) {
		req := Request{ChallengeType: ChallengeTLSALPN01, IdentifierType: IdentifierDNS, Identifier: "www.example.com",
			Token: "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", KeyAuthorization: keyAuth}
		if mode&2 != 0 {
			req.IdentifierType, req.Identifier = IdentifierIP, "192.0.2.1"
		}
		tgt, cerr := check(req)
		if cerr != nil {
			t.Fatal(cerr)
		}
		complete := false
		if mode&1 != 0 {
			var names []asn1.RawValue
			for _, line := range strings.SplitN(sans, "\n", 8) {
				names = append(names, generalNameOf(line))
			}
			san, err := asn1.Marshal(names)
			if err != nil {
				return
			}
			if mode&4 == 0 { // the right digest, unless the fuzzer writes it
				if extValue, err = asn1.Marshal(digest[:]); err != nil {
					t.Fatal(err)
				}
			}
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(1),
				Subject:      pkix.Name{CommonName: "acme tls-alpn-01"},
				NotBefore:    time.Now().Add(-time.Hour),
				NotAfter:     time.Now().Add(time.Hour),
				ExtraExtensions: []pkix.Extension{
					{Id: oidSubjectAltName(), Value: san},
					{Id: oidACMEIdentifier(), Critical: critical, Value: extValue},
				},
			}
			if der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key); err != nil {
				return
			}
			flipped := mode&8 != 0 && len(der) > 0
			if flipped {
				der[int(pos)%len(der)] ^= max(flip, 1)
			}
			right := "dns:www.example.com"
			if mode&2 != 0 {
				right = "ip:192.0.2.1"
			}
			complete = !flipped && mode&4 == 0 && critical && sans == right
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			if complete {
				t.Fatalf("a certificate crypto/x509 made does not parse: %v", err)
			}
			return
		}
		err = checkChallengeCert(cert, tgt)
		if err != nil {
			if complete {
				t.Fatalf("refused the right certificate: %v", err)
			}
			return
		}

		var sanExts, idExts []pkix.Extension
		for _, e := range cert.Extensions {
			switch {
			case e.Id.Equal(oidSubjectAltName()):
				sanExts = append(sanExts, e)
			case e.Id.Equal(oidACMEIdentifier()):
				idExts = append(idExts, e)
			}
		}
		if len(sanExts) != 1 || len(idExts) != 1 {
			t.Fatalf("accepted %d subjectAltName and %d acmeIdentifier extensions", len(sanExts), len(idExts))
		}
		var names []asn1.RawValue
		if rest, err := asn1.Unmarshal(sanExts[0].Value, &names); err != nil || len(rest) != 0 || len(names) != 1 {
			t.Fatalf("accepted subjectAltName %x (%d entries, %v)", sanExts[0].Value, len(names), err)
		}
		gn := names[0]
		switch {
		case gn.Class == asn1.ClassContextSpecific && gn.Tag == 2 && tgt.name != "":
			if !strings.EqualFold(string(gn.Bytes), "www.example.com") {
				t.Fatalf("accepted dNSName %q", gn.Bytes)
			}
		case gn.Class == asn1.ClassContextSpecific && gn.Tag == 7 && tgt.ip.IsValid():
			if a, ok := netip.AddrFromSlice(gn.Bytes); !ok || a != netip.MustParseAddr("192.0.2.1") {
				t.Fatalf("accepted iPAddress %x", gn.Bytes)
			}
		default:
			t.Fatalf("accepted GeneralName class %d tag %d for %s", gn.Class, gn.Tag, tgt.host())
		}
		if !idExts[0].Critical {
			t.Fatal("accepted a non-critical acmeIdentifier")
		}
		var got []byte
		if rest, err := asn1.Unmarshal(idExts[0].Value, &got); err != nil || len(rest) != 0 || !bytes.Equal(got, digest[:]) {
			t.Fatalf("accepted acmeIdentifier %x (%v)", idExts[0].Value, err)
		}
	})
}

// generalNameOf encodes one fuzzed subjectAltName entry: "dns:NAME",
// "ip:ADDR", "uri:URI", "email:ADDR", or anything else as a context tag
// (its first byte modulo 9) around the rest.
func generalNameOf(line string) asn1.RawValue {
	kind, v, _ := strings.Cut(line, ":")
	switch kind {
	case "dns":
		return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(v)}
	case "ip":
		b := []byte(v)
		if a, err := netip.ParseAddr(v); err == nil {
			b = a.AsSlice()
		}
		return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 7, Bytes: b}
	case "uri":
		return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(v)}
	case "email":
		return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, Bytes: []byte(v)}
	}
	tag := 0
	if line != "" {
		tag = int(line[0]) % 9
	}
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, Bytes: []byte(v)}
}
