package sectigo

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/acmegate/acmegate/ca"
)

// Listing limits. upstream-apis.md §1.7: clients page with size=200 and stop
// at a short page; 200 is the OAuth schema's maximum.
const (
	listPageSize = 200
	maxListPages = 10
	// maxCandidates bounds the details requests one lookup makes. A retry
	// follows the lost submission closely, so its enrollment is among the
	// newest for the name.
	maxCandidates = 50
)

// findEnrollment looks for an enrollment whose comments carry marker among
// those SCM lists under names (upstream-apis.md §1.4: reconcile a crash
// between enroll and storing the sslId by listing and matching comments).
// It returns id 0 when there is none. sans are the names requested: a
// listed enrollment that lacks one of them cannot be this order's, which
// spares a details request for most earlier certificates of the same name.
func (b *Backend) findEnrollment(ctx context.Context, marker string, names, sans []string) (int64, *details, error) {
	byID := make(map[int64]listItem)
	for _, name := range names {
		items, err := b.list(ctx, url.Values{"commonName": {name}})
		if err != nil {
			return 0, nil, err
		}
		for _, it := range items {
			if id := it.id(); id > 0 {
				byID[id] = it
			}
		}
	}
	// Newest first; SCM's ids grow with time (docs/backends.md, "What the fakes assume").
	ids := slices.Sorted(maps.Keys(byID))
	slices.Reverse(ids)
	checked := 0
	for _, id := range ids {
		it := byID[id]
		if !coversAll(it.SANs, sans) {
			continue
		}
		if it.Comments != nil && !hasMarker(string(*it.Comments), marker) {
			continue
		}
		if checked == maxCandidates {
			b.log.WarnContext(ctx, "sectigo: gave up looking for an earlier enrollment", "backend", b.name, "candidates", len(ids), "checked", checked)
			break
		}
		checked++
		d, err := b.details(ctx, id)
		if err != nil {
			if ca.KindOf(err) == ca.Rejected {
				continue // gone or unreadable: not one we can resume
			}
			return 0, nil, err
		}
		if hasMarker(string(d.Comments), marker) {
			return id, d, nil
		}
	}
	return 0, nil, nil
}

// list pages through GET /api/ssl/v1 with filter (upstream-apis.md §1.7).
func (b *Backend) list(ctx context.Context, filter url.Values) ([]listItem, error) {
	var all []listItem
	for page := range maxListPages {
		q := maps.Clone(filter)
		q.Set("size", strconv.Itoa(listPageSize))
		q.Set("position", strconv.Itoa(page*listPageSize))
		var items []listItem
		if err := b.c.call(ctx, "list certificates", http.MethodGet, "/api/ssl/v1", q, nil, &items); err != nil {
			return nil, err
		}
		all = append(all, items...)
		if len(items) < listPageSize {
			return all, nil
		}
	}
	b.log.WarnContext(ctx, "sectigo: listing truncated", "backend", b.name, "entries", len(all))
	return all, nil
}

// hasMarker reports whether comments hold marker as a whole word, so that
// order "a1" does not match the comments of order "a10".
func hasMarker(comments, marker string) bool {
	return slices.Contains(strings.Fields(comments), marker)
}

// coversAll reports whether listed holds every name in want. An empty
// listed means the listing did not say, which rules nothing out.
func coversAll(listed, want []string) bool {
	if len(listed) == 0 {
		return true
	}
	plain := make([]string, len(listed))
	for i, l := range listed {
		plain[i] = stripSANType(l)
	}
	for _, w := range want {
		if !containsFold(plain, w) {
			return false
		}
	}
	return true
}

// stripSANType drops a "DNS:" or "IP Address:" style prefix, in case an
// instance lists names the way OpenSSL prints them (docs/backends.md, "What the fakes assume").
func stripSANType(s string) string {
	s = strings.TrimSpace(s)
	for _, p := range []string{"dns:", "ip address:", "ip:"} {
		if len(s) > len(p) && strings.EqualFold(s[:len(p)], p) {
			return strings.TrimSpace(s[len(p):])
		}
	}
	return s
}

// ListedCertificate is one entry of the account's certificate list.
type ListedCertificate struct {
	SSLID        int64
	CommonName   string
	SerialNumber string
}

// ListCertificates lists the account's SSL certificates (every state), for
// importing those issued outside acmegate: Poll with the SSLID collects
// an issued one.
func (b *Backend) ListCertificates(ctx context.Context) ([]ListedCertificate, error) {
	items, err := b.list(ctx, url.Values{})
	if err != nil {
		return nil, err
	}
	out := make([]ListedCertificate, 0, len(items))
	for _, it := range items {
		out = append(out, ListedCertificate{SSLID: it.id(), CommonName: string(it.CommonName), SerialNumber: string(it.SerialNumber)})
	}
	return out, nil
}
