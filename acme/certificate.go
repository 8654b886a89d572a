package acme

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/acmegate/acmegate/storage"
)

// handleCertificate serves a certificate chain with POST-as-GET
// (RFC 8555 §7.4.2) as application/pem-certificate-chain, with a Link
// rel="alternate" for every other chain the CA offered; /cert/{id}/{n}
// serves the n-th alternate.
func (s *Server) handleCertificate(w http.ResponseWriter, r *http.Request, d *directory) error {
	dir := d.name
	req, err := s.postForAccount(r, d)
	if err != nil {
		return err
	}
	if !req.PostAsGet {
		return Malformed("a certificate is downloaded with POST-as-GET (empty payload)")
	}
	vars := mux.Vars(r)
	cert, err := s.loadCertificate(r.Context(), req, vars["id"])
	if err != nil {
		return err
	}
	chain := cert.ChainPEM
	if alt, ok := vars["alt"]; ok {
		n, err := strconv.Atoi(alt)
		if err != nil || n < 1 || n > len(cert.Alternates) {
			return notFound("alternate chain")
		}
		chain = cert.Alternates[n-1]
	}
	base := s.certURL(dir, cert.ID)
	for i := range cert.Alternates {
		if vars["alt"] == strconv.Itoa(i+1) {
			continue
		}
		w.Header().Add("Link", link(base+"/"+strconv.Itoa(i+1), "alternate"))
	}
	if _, ok := vars["alt"]; ok {
		w.Header().Add("Link", link(base, "alternate"))
	}
	// Buffered, not written: a download is a read, and its event is
	// informational (see timeline.go).
	s.recordLater(r.Context(), &storage.OrderEvent{OrderID: cert.OrderID, Kind: EventDownloaded, Actor: accountActor(req.Account.ID)})
	w.Header().Set("Content-Type", "application/pem-certificate-chain")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(chain)
	return nil
}

func (s *Server) loadCertificate(ctx context.Context, req *authedRequest, id string) (*storage.Certificate, error) {
	eventFrom(ctx).Account = req.Account.ID
	cert, err := s.store.GetCertificate(ctx, id)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && cert.Directory != req.Directory) {
		return nil, notFound("certificate")
	}
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	if cert.AccountID != req.Account.ID {
		return nil, Unauthorized("the certificate belongs to another account")
	}
	return cert, nil
}
