package digicert

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/acmegate/acmegate/ca"
)

// Product is a product the account can order (GET /product, §2.3).
type Product struct {
	// NameID is the product_name_id profiles map to.
	NameID string
	Name   string
	// Type and GroupName classify it ("ssl_certificate", …).
	Type, GroupName string
	// ValidationType is "dv", "ov", "ev", …; "" when not shown.
	ValidationType string
	// AllowedValidityYears as DigiCert lists them, when it does.
	AllowedValidityYears []int
}

// Validation is one validation of an organization.
type Validation struct {
	// Type is "ov", "ev", "cs", …; Status "active", "pending", "expired".
	Type, Status string
	// ValidatedUntil is when it lapses; zero when not shown.
	ValidatedUntil time.Time
}

// Organization is an organization of the account (GET /organization,
// §2.7). Config.OrgID is one of their IDs.
type Organization struct {
	ID          int64
	Name        string
	DisplayName string
	Status      string
	Active      bool
	Validations []Validation
}

// OrderFilter narrows ListOrders with DigiCert's documented filters
// [DC:orders/list-orders]; zero fields are not sent.
type OrderFilter struct {
	// Status is one of pending, issued, rejected, revoked,
	// waiting_pickup, reissue_pending, canceled.
	Status        string
	CommonName    string
	ProductNameID string
	// SerialNumber is uppercase hex, as DigiCert prints it.
	SerialNumber string
}

// OrderSummary is one order as the order list shows it.
type OrderSummary struct {
	ID            int64
	Status        string
	CommonName    string
	DNSNames      []string
	ProductNameID string
	// CertificateID is zero until issued.
	CertificateID int64
	// ValidTill is the certificate's expiry date; zero when not shown.
	ValidTill time.Time
	// Created is when the order was placed; zero when not shown.
	Created time.Time
	// Ref is what Poll accepts for this order.
	Ref string
}

// ListProducts lists the products the account can order.
func (b *Backend) ListProducts(ctx context.Context) ([]Product, error) {
	var body struct {
		Products []struct {
			NameID               string    `json:"name_id"`
			Name                 string    `json:"name"`
			Type                 string    `json:"type"`
			GroupName            string    `json:"group_name"`
			ValidationType       string    `json:"validation_type"`
			AllowedValidityYears []flexInt `json:"allowed_validity_years"`
		} `json:"products"`
	}
	if _, err := b.callJSON(ctx, "list products", http.MethodGet, "/product", nil, nil, &body); err != nil {
		return nil, err
	}
	out := make([]Product, 0, len(body.Products))
	for _, p := range body.Products {
		q := Product{NameID: p.NameID, Name: p.Name, Type: p.Type, GroupName: p.GroupName, ValidationType: p.ValidationType}
		for _, y := range p.AllowedValidityYears {
			q.AllowedValidityYears = append(q.AllowedValidityYears, int(y))
		}
		out = append(out, q)
	}
	return out, nil
}

// ListOrganizations lists the account's organizations.
func (b *Backend) ListOrganizations(ctx context.Context) ([]Organization, error) {
	var body struct {
		Organizations []struct {
			ID          flexInt `json:"id"`
			Name        string  `json:"name"`
			DisplayName string  `json:"display_name"`
			Status      string  `json:"status"`
			IsActive    *bool   `json:"is_active"`
			Validations []struct {
				Type           string `json:"type"`
				Status         string `json:"status"`
				ValidatedUntil string `json:"validated_until"`
			} `json:"validations"`
		} `json:"organizations"`
	}
	if _, err := b.callJSON(ctx, "list organizations", http.MethodGet, "/organization", nil, nil, &body); err != nil {
		return nil, err
	}
	out := make([]Organization, 0, len(body.Organizations))
	for _, o := range body.Organizations {
		org := Organization{ID: int64(o.ID), Name: o.Name, DisplayName: o.DisplayName, Status: o.Status}
		// Liberal: without is_active, an "active" status will do.
		org.Active = o.IsActive != nil && *o.IsActive || o.IsActive == nil && strings.EqualFold(o.Status, "active")
		for _, v := range o.Validations {
			until, _ := time.Parse(time.RFC3339, v.ValidatedUntil)
			org.Validations = append(org.Validations, Validation{Type: v.Type, Status: v.Status, ValidatedUntil: until})
		}
		out = append(out, org)
	}
	return out, nil
}

// ListOrders lists the account's orders matching f, every page, for
// importing orders placed outside acmegate into its inventory.
func (b *Backend) ListOrders(ctx context.Context, f OrderFilter) ([]OrderSummary, error) {
	q := url.Values{}
	for k, v := range map[string]string{"status": f.Status, "common_name": f.CommonName, "product_name_id": f.ProductNameID, "serial_number": f.SerialNumber} {
		if v != "" {
			q.Set("filters["+k+"]", v)
		}
	}
	var out []OrderSummary
	err := b.eachOrder(ctx, "list orders", q, func(o apiOrder) {
		s := OrderSummary{
			ID: int64(o.ID), Status: o.Status, CommonName: o.Certificate.CommonName,
			DNSNames: slices.Clone(o.Certificate.DNSNames), ProductNameID: o.productNameID(),
			CertificateID: int64(o.Certificate.ID), Ref: makeRef(int64(o.ID), int64(o.Certificate.ID)),
		}
		s.ValidTill, _ = time.Parse(time.DateOnly, o.Certificate.ValidTill)
		s.Created, _ = o.created()
		out = append(out, s)
	})
	return out, err
}

// Check verifies that the backend can work: DigiCert is reachable, the API
// key is accepted, the configured organization exists and is active, and
// every profile's product is one the account can order. The error explains
// what is wrong in words an operator can act on.
func (b *Backend) Check(ctx context.Context) error {
	orgs, err := b.ListOrganizations(ctx)
	if err != nil {
		return b.explain(err)
	}
	var problems []string
	if b.orgID != 0 {
		i := slices.IndexFunc(orgs, func(o Organization) bool { return o.ID == int64(b.orgID) })
		switch {
		case i < 0:
			var have []string
			for _, o := range orgs {
				have = append(have, fmt.Sprintf("%d (%s)", o.ID, o.Name))
			}
			problems = append(problems, fmt.Sprintf("organization %d is not in this DigiCert account; it has: %s", b.orgID, orList(have)))
		case !orgs[i].Active:
			problems = append(problems, fmt.Sprintf("organization %d (%s) is not active in DigiCert (status %q)", b.orgID, orgs[i].Name, orgs[i].Status))
		}
	}
	products, err := b.ListProducts(ctx)
	if err != nil {
		return b.explain(err)
	}
	var ids []string
	for _, p := range products {
		ids = append(ids, p.NameID)
	}
	for _, p := range b.profiles {
		if !slices.Contains(ids, p.Product) {
			problems = append(problems, fmt.Sprintf("profile %q maps to product %q, which this DigiCert account cannot order; it can order: %s", p.Name, p.Product, orList(ids)))
		}
	}
	if len(problems) > 0 {
		return errors.New("digicert: " + strings.Join(problems, "; "))
	}
	return nil
}

// explain rewrites a call's error for an operator.
func (b *Backend) explain(err error) error {
	var e *ca.Error
	if !errors.As(err, &e) {
		return fmt.Errorf("digicert: %w", err)
	}
	switch {
	case e.Err != nil && e.Upstream == "":
		return fmt.Errorf("digicert: cannot reach DigiCert CertCentral at %s (check the base URL, DNS, proxy and firewall): %w", b.base.Redacted(), err)
	case strings.HasPrefix(e.Upstream, "HTTP 401") || strings.Contains(e.Upstream, "invalid_api_key"):
		return fmt.Errorf("digicert: DigiCert CertCentral at %s refused the API key (%s): check that the configured key is a current CertCentral API key and belongs to %s: %w",
			b.base.Redacted(), e.Upstream, b.base.Host, err)
	case strings.HasPrefix(e.Upstream, "HTTP 403"):
		return fmt.Errorf("digicert: the API key is valid but lacks permission (%s): give its user the permission to order and view certificates: %w", e.Upstream, err)
	case e.RetryAfter > 0:
		return fmt.Errorf("digicert: DigiCert CertCentral is rate-limiting this API key; try again in %s: %w", e.RetryAfter, err)
	case strings.HasPrefix(e.Upstream, "HTTP 5"):
		return fmt.Errorf("digicert: DigiCert CertCentral is failing (%s); try again later: %w", e.Upstream, err)
	case strings.HasPrefix(e.Upstream, "HTTP 404"):
		return fmt.Errorf("digicert: %s does not look like the CertCentral Services API (%s): the base URL should end in /services/v2: %w", b.base.Redacted(), e.Upstream, err)
	}
	return fmt.Errorf("digicert: %w", err)
}

// orList joins names for a message, or says there are none.
func orList(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
