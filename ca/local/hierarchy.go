package local

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"time"

	"go.step.sm/crypto/x509util"
)

// Lifetimes of the CA certificates.
const (
	rootYears  = 10
	interYears = 5
	// caBackdate starts the CA certificates' validity an hour early, so
	// that a machine whose clock is behind the CA host's accepts a freshly
	// created CA and the first certificates it signs.
	caBackdate = time.Hour
)

// nameSuffixLen is the number of hex digits that tell one acmegate CA from
// another with the same CommonName.
const nameSuffixLen = 6

// curveFor maps Config.KeyType to its curve.
func curveFor(keyType string) (elliptic.Curve, error) {
	switch keyType {
	case "P-256":
		return elliptic.P256(), nil
	case "P-384":
		return elliptic.P384(), nil
	default:
		return nil, fmt.Errorf("unsupported KeyType %q: use P-256 or P-384", keyType)
	}
}

// caNames returns the common names of the root and the intermediate. They end
// in a suffix unique to this CA: two installations with the same CommonName
// would otherwise have identical subject names, which trust store UIs cannot
// tell apart and which some path builders (NSS) confuse with each other.
func caNames(base, suffix string) (root, intermediate string) {
	return base + " Root CA " + suffix, base + " Intermediate CA " + suffix
}

// newHierarchy creates a root (self-signed, pathlen 1) and an intermediate
// (pathlen 0) signed by it, with fresh keys of keyType.
func newHierarchy(keyType, commonName string, now time.Time) (*hierarchy, error) {
	curve, err := curveFor(keyType)
	if err != nil {
		return nil, err
	}
	rootKey, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate root key: %w", err)
	}
	interKey, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate intermediate key: %w", err)
	}
	ski, err := x509util.GenerateSubjectKeyID(rootKey.Public())
	if err != nil {
		return nil, fmt.Errorf("root key identifier: %w", err)
	}
	suffix := hex.EncodeToString(ski)[:nameSuffixLen]

	rootCN, interCN := caNames(commonName, suffix)
	notBefore := now.Add(-caBackdate).UTC().Truncate(time.Second)
	root, err := signCA(x509util.DefaultRootTemplate, rootCN,
		notBefore, notBefore.AddDate(rootYears, 0, 0), rootKey.Public(), nil, rootKey)
	if err != nil {
		return nil, fmt.Errorf("create root certificate: %w", err)
	}
	interNotAfter := notBefore.AddDate(interYears, 0, 0)
	if interNotAfter.After(root.NotAfter) {
		interNotAfter = root.NotAfter
	}
	inter, err := signCA(x509util.DefaultIntermediateTemplate, interCN,
		notBefore, interNotAfter, interKey.Public(), root, rootKey)
	if err != nil {
		return nil, fmt.Errorf("create intermediate certificate: %w", err)
	}
	return &hierarchy{root: root, rootKey: rootKey, inter: inter, interKey: interKey}, nil
}

// signCA builds a CA certificate from one of smallstep's CA templates
// (x509util.DefaultRootTemplate: CA, pathlen 1, keyCertSign|cRLSign;
// x509util.DefaultIntermediateTemplate: the same with pathlen 0) and signs it
// with signer, as parent or, when parent is nil, self-signed.
func signCA(tmplText, commonName string, notBefore, notAfter time.Time, pub crypto.PublicKey, parent *x509.Certificate, signer crypto.Signer) (*x509.Certificate, error) {
	c, err := x509util.NewCertificateFromX509(&x509.Certificate{PublicKey: pub},
		x509util.WithTemplate(tmplText, x509util.CreateTemplateData(commonName, nil)))
	if err != nil {
		return nil, err
	}
	tmpl := c.GetCertificate()
	tmpl.NotBefore, tmpl.NotAfter = notBefore, notAfter
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, err
	}
	if tmpl.SubjectKeyId, err = x509util.GenerateSubjectKeyID(pub); err != nil {
		return nil, err
	}
	if parent == nil {
		parent = tmpl
	}
	return x509util.CreateCertificate(tmpl, parent, pub, signer)
}
