package sectigo

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/acmegate/acmegate/ca"
)

// scmReasons are the RFC 5280 §5.3.1 reasons SCM's revoke call accepts as
// reasonCode (upstream-apis.md §1.6); the codes are the RFC's own numbers.
var scmReasons = map[ca.RevocationReason]bool{
	ca.ReasonUnspecified:          true,
	ca.ReasonKeyCompromise:        true,
	ca.ReasonAffiliationChanged:   true,
	ca.ReasonSuperseded:           true,
	ca.ReasonCessationOfOperation: true,
}

// Revoke revokes cert in SCM. The sslId is found by listing with the
// certificate's serial number (upstream-apis.md §1.7); when the listing does
// not know the serial, the revoke-by-serial call is tried instead.
func (b *Backend) Revoke(ctx context.Context, cert *x509.Certificate, reason ca.RevocationReason) error {
	if !reason.Valid() {
		return ca.Errorf(ca.Rejected, "revocation reason %d is not an RFC 5280 CRLReason", int(reason))
	}
	if !scmReasons[reason] {
		// upstream-apis.md §1.6: reasons 2, 6, 8, 9 and 10 are refused
		// before calling.
		return ca.Errorf(ca.Rejected, "Sectigo Certificate Manager accepts only the revocation reasons unspecified, keyCompromise, affiliationChanged, superseded and cessationOfOperation, not %s", reason)
	}
	if cert == nil || cert.SerialNumber == nil || cert.SerialNumber.Sign() <= 0 {
		return ca.Errorf(ca.Rejected, "no certificate serial number to revoke")
	}
	serial := colonHex(cert.SerialNumber)
	id, err := b.findBySerial(ctx, cert.SerialNumber)
	if err != nil {
		return err
	}
	req := revokeRequest{ReasonCode: int(reason), Reason: "Revoked through acmegate: " + reason.String()}
	path := "/api/ssl/v1/revoke/serial/" + serial // hex digits and colons
	if id != 0 {
		path = "/api/ssl/v1/revoke/" + strconv.FormatInt(id, 10)
	}
	err = b.c.call(ctx, "revoke the certificate", http.MethodPost, path, nil, req, nil)
	var e *ca.Error
	switch {
	case err == nil:
		b.log.InfoContext(ctx, "sectigo: revoked", "backend", b.name, "serial", serial, "sslId", id, "reason", reason.String())
		return nil
	case !errors.As(err, &e):
		return err
	case hasCode(err, codeAlreadyRevoked):
		e.Kind = ca.AlreadyRevoked
		e.Detail = "Sectigo Certificate Manager reports the certificate is already revoked"
	case hasCode(err, codeWrongSSLID, codeCertNotFound):
		e.Kind = ca.Rejected
		e.Detail = fmt.Sprintf("Sectigo Certificate Manager knows no certificate with serial %s", serial)
	case hasCode(err, codeNotIssued):
		e.Kind = ca.Rejected
		e.Detail = "Sectigo Certificate Manager can revoke only issued certificates"
	}
	return e
}

// findBySerial returns the sslId SCM lists for serial, or 0.
func (b *Backend) findBySerial(ctx context.Context, serial *big.Int) (int64, error) {
	items, err := b.list(ctx, url.Values{"serialNumber": {colonHex(serial)}})
	if err != nil {
		return 0, err
	}
	for _, it := range items {
		if n, ok := parseSerial(string(it.SerialNumber)); ok && n.Cmp(serial) == 0 && it.id() > 0 {
			return it.id(), nil
		}
	}
	return 0, nil
}

// colonHex formats a serial as SCM's example does: upper-case hex bytes
// separated by colons ("0A:1B:…").
func colonHex(n *big.Int) string {
	b := n.Bytes()
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02X", x)
	}
	return strings.Join(parts, ":")
}

// parseSerial reads a hex serial with or without colons, spaces or a 0x
// prefix, in either case.
func parseSerial(s string) (*big.Int, bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	s = strings.NewReplacer(":", "", " ", "", "-", "").Replace(s)
	if s == "" {
		return nil, false
	}
	return new(big.Int).SetString(s, 16)
}
