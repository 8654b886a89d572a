package local

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// The CA's files inside Config.Dir.
const (
	rootCertFile  = "root.pem"
	rootKeyFile   = "root.key"
	interCertFile = "intermediate.pem"
	interKeyFile  = "intermediate.key"
)

// File modes: private keys readable by the owner only, certificates by all.
const (
	keyFileMode  fs.FileMode = 0o600
	certFileMode fs.FileMode = 0o644
)

// errNoHierarchy reports a directory holding none of the CA's files.
var errNoHierarchy = errors.New("no CA files")

// hierarchy is the root and the intermediate with their keys.
type hierarchy struct {
	root     *x509.Certificate
	rootKey  crypto.Signer
	inter    *x509.Certificate
	interKey crypto.Signer
}

// loadHierarchy reads the four files from dir. It returns errNoHierarchy when
// none exists and a descriptive error when only some do.
func loadHierarchy(dir string) (*hierarchy, error) {
	names := []string{rootCertFile, rootKeyFile, interCertFile, interKeyFile}
	var present, missing []string
	for _, name := range names {
		_, err := os.Stat(filepath.Join(dir, name))
		switch {
		case err == nil:
			present = append(present, name)
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, name)
		default:
			return nil, err
		}
	}
	if len(present) == 0 {
		return nil, errNoHierarchy
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("incomplete CA: %s present but %s missing; restore the missing files, or move all of them away to create a new CA",
			strings.Join(present, ", "), strings.Join(missing, ", "))
	}

	for _, name := range []string{rootKeyFile, interKeyFile} {
		if err := checkKeyMode(filepath.Join(dir, name)); err != nil {
			return nil, err
		}
	}

	var h hierarchy
	var err error
	if h.root, err = readCert(filepath.Join(dir, rootCertFile)); err != nil {
		return nil, err
	}
	if h.rootKey, err = readKey(filepath.Join(dir, rootKeyFile)); err != nil {
		return nil, err
	}
	if h.inter, err = readCert(filepath.Join(dir, interCertFile)); err != nil {
		return nil, err
	}
	if h.interKey, err = readKey(filepath.Join(dir, interKeyFile)); err != nil {
		return nil, err
	}
	if err := h.check(); err != nil {
		return nil, err
	}
	return &h, nil
}

// checkKeyMode refuses a private key file that anyone but its owner may
// read or write: a CA key others can read is a compromised CA, and one they
// can write lets them substitute their own. The CA is refused rather than
// the mode silently repaired, so the operator learns the key may have
// leaked. (On Windows, file modes do not carry this information.)
func checkKeyMode(path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s is accessible to group or others (mode %04o); a CA private key must be mode 0600: check who may have read it, then run chmod 600 %s",
			path, perm, path)
	}
	return nil
}

// check catches files that do not belong together (a key copied from another
// CA, an intermediate from another root) before they produce certificates
// nobody can verify.
func (h *hierarchy) check() error {
	if !h.root.IsCA || !h.inter.IsCA {
		return errors.New("root.pem and intermediate.pem must both be CA certificates")
	}
	if !publicKeysEqual(h.rootKey.Public(), h.root.PublicKey) {
		return fmt.Errorf("%s does not hold the key of %s", rootKeyFile, rootCertFile)
	}
	if !publicKeysEqual(h.interKey.Public(), h.inter.PublicKey) {
		return fmt.Errorf("%s does not hold the key of %s", interKeyFile, interCertFile)
	}
	if err := h.inter.CheckSignatureFrom(h.root); err != nil {
		return fmt.Errorf("%s is not signed by %s: %w", interCertFile, rootCertFile, err)
	}
	return nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// saveHierarchy writes h into dir. Every file is written to a temporary file
// and renamed into place, so a reader never sees a truncated file; a crash
// between two renames leaves an incomplete set, which loadHierarchy reports
// rather than repairs.
func saveHierarchy(dir string, h *hierarchy) error {
	rootKey, err := encodeKey(h.rootKey)
	if err != nil {
		return err
	}
	interKey, err := encodeKey(h.interKey)
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		mode fs.FileMode
	}{
		{rootKeyFile, rootKey, keyFileMode},
		{interKeyFile, interKey, keyFileMode},
		{rootCertFile, encodeCert(h.root), certFileMode},
		{interCertFile, encodeCert(h.inter), certFileMode},
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return syncDir(dir)
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory and a rename. The temporary file is created 0600, so a key is
// never readable by others, not even while it is being written.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			err = errors.Join(err, f.Close(), os.Remove(tmp))
			err = fmt.Errorf("write %s: %w", filepath.Base(path), err)
		}
	}()
	// Chmod, not the umask-dependent create mode, decides the final mode.
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

func encodeCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// encodeKey encodes key as a PKCS#8 "PRIVATE KEY" PEM block.
func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// readCert reads the first certificate of a PEM file.
func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM CERTIFICATE block", filepath.Base(path))
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
		return c, nil
	}
}

// readKey reads a private key from a PEM file: PKCS#8 as this package writes
// it, or the SEC 1 and PKCS#1 forms an operator's own tooling may produce.
// Parse errors name the file but never quote its content.
func readKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(path)
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", name)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("%s: encrypted private keys are not supported", name)
	default:
		return nil, fmt.Errorf("%s: unexpected PEM block %q", name, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: parse private key: %w", name, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: key of type %T cannot sign", name, key)
	}
	return signer, nil
}
