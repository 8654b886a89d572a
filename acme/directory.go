package acme

import (
	"net/http"
)

// handleDirectory serves the directory object (RFC 8555 §7.1.1).
func (s *Server) handleDirectory(w http.ResponseWriter, _ *http.Request, dir string) error {
	d := s.dirURL(dir)
	obj := directoryObject{
		NewNonce:   d + "/new-nonce",
		NewAccount: d + "/new-account",
		NewOrder:   d + "/new-order",
		NewAuthz:   d + "/new-authz",
		RevokeCert: d + "/revoke-cert",
		KeyChange:  d + "/key-change",
	}
	meta := s.cfg.Meta
	obj.Meta = &meta
	return writeJSON(w, http.StatusOK, obj)
}

// handleNewNonce answers newNonce (RFC 8555 §7.2): HEAD is 200, GET is 204,
// both with no-store; the wrapper has set Replay-Nonce and Cache-Control.
func (s *Server) handleNewNonce(w http.ResponseWriter, r *http.Request, _ string) error {
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
