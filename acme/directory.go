package acme

import (
	"net/http"
)

// handleDirectory serves the directory object (RFC 8555 §7.1.1).
func (s *Server) handleDirectory(w http.ResponseWriter, _ *http.Request, d *directory) error {
	base := s.dirURL(d.name)
	meta := d.meta()
	return writeJSON(w, http.StatusOK, directoryObject{
		NewNonce:    base + "/new-nonce",
		NewAccount:  base + "/new-account",
		NewOrder:    base + "/new-order",
		NewAuthz:    base + "/new-authz",
		RevokeCert:  base + "/revoke-cert",
		KeyChange:   base + "/key-change",
		RenewalInfo: base + "/renewal-info",
		Meta:        &meta,
	})
}

// handleNewNonce answers newNonce (RFC 8555 §7.2): HEAD is 200, GET is 204,
// both with no-store; the wrapper has set Replay-Nonce and Cache-Control.
func (s *Server) handleNewNonce(w http.ResponseWriter, r *http.Request, _ *directory) error {
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// refuseIfDisabled stops new accounts, orders and authorizations in a
// disabled directory; existing certificates can still be fetched and
// revoked.
func refuseIfDisabled(d *directory) error {
	if d.disabled {
		return Unauthorized("directory %q is disabled: it accepts no new accounts, orders or authorizations", d.name)
	}
	return nil
}
