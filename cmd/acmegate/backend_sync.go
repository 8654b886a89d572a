package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/digicert"
	"github.com/acmegate/acmegate/ca/sectigo"
	"github.com/acmegate/acmegate/storage"
)

// backendCatalog is what `acmegate backend sync` stores for a backend:
// the products (Sectigo certificate types, DigiCert products) and
// organizations the account really offers.
type backendCatalog struct {
	Products      []catalogItem `json:"products"`
	Organizations []catalogItem `json:"organizations"`
}

type catalogItem struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (c backendCatalog) has(list []catalogItem, id string) bool {
	return slices.ContainsFunc(list, func(i catalogItem) bool { return i.ID == id })
}

// unwrapNamed returns the backend inside a renaming wrapper.
func unwrapNamed(b ca.Backend) ca.Backend {
	switch n := b.(type) {
	case named:
		return n.Backend
	case namedChecker:
		return n.Backend
	}
	return b
}

// fetchCatalog asks the vendor what the account offers.
func fetchCatalog(ctx context.Context, b ca.Backend) (backendCatalog, error) {
	var c backendCatalog
	switch v := unwrapNamed(b).(type) {
	case *sectigo.Backend:
		types, err := v.ListCertTypes(ctx)
		if err != nil {
			return c, err
		}
		for _, t := range types {
			c.Products = append(c.Products, catalogItem{ID: strconv.Itoa(t.ID), Name: t.Name})
		}
		orgs, err := v.ListOrganizations(ctx)
		if err != nil {
			return c, err
		}
		for _, o := range orgs {
			c.Organizations = append(c.Organizations, catalogItem{ID: strconv.Itoa(o.ID), Name: o.Name})
			for _, d := range o.Departments {
				c.Organizations = append(c.Organizations, catalogItem{ID: strconv.Itoa(d.ID), Name: o.Name + " / " + d.Name})
			}
		}
	case *digicert.Backend:
		products, err := v.ListProducts(ctx)
		if err != nil {
			return c, err
		}
		for _, p := range products {
			c.Products = append(c.Products, catalogItem{ID: p.NameID, Name: p.Name})
		}
		orgs, err := v.ListOrganizations(ctx)
		if err != nil {
			return c, err
		}
		for _, o := range orgs {
			c.Organizations = append(c.Organizations, catalogItem{ID: strconv.FormatInt(o.ID, 10), Name: o.Name})
		}
	default:
		return c, fmt.Errorf("backend %s has no catalog to sync", b.Name())
	}
	return c, nil
}

// catalogProblems lists the configured products and organization that the
// synced catalog does not contain.
func catalogProblems(bc BackendConfig, c backendCatalog) []string {
	var out []string
	check := func(list []catalogItem, id, what string) {
		if !c.has(list, id) {
			out = append(out, fmt.Sprintf("%s %s is not offered by this account", what, id))
		}
	}
	switch {
	case bc.Sectigo != nil:
		check(c.Organizations, strconv.Itoa(bc.Sectigo.OrgID), "organization")
		for _, p := range bc.Sectigo.Profiles {
			check(c.Products, strconv.Itoa(p.CertTypeID), "profile "+p.Name+": certificate type")
		}
	case bc.DigiCert != nil:
		if bc.DigiCert.OrgID != 0 {
			check(c.Organizations, strconv.Itoa(bc.DigiCert.OrgID), "organization")
		}
		for _, p := range bc.DigiCert.Profiles {
			check(c.Products, p.Product, "profile "+p.Name+": product")
		}
	}
	return out
}

// syncBackend implements `acmegate backend sync NAME`: fetch what the
// vendor account offers, store it, and check the configured profiles
// against it.
func syncBackend(ctx context.Context, cfg *Config, st storage.CatalogStore, bc BackendConfig, b ca.Backend, stdout io.Writer) error {
	c, err := fetchCatalog(ctx, b)
	if err != nil {
		return fmt.Errorf("backend %s: %w", bc.Name, err)
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := st.PutBackendCatalog(ctx, bc.Name, raw, nowUTC()); err != nil {
		return fmt.Errorf("store the catalog of %s: %w", bc.Name, err)
	}
	fmt.Fprintf(stdout, "backend %s: %d products, %d organizations stored\n", bc.Name, len(c.Products), len(c.Organizations))
	for _, p := range c.Products {
		fmt.Fprintf(stdout, "  product %s\t%s\n", p.ID, p.Name)
	}
	for _, o := range c.Organizations {
		fmt.Fprintf(stdout, "  organization %s\t%s\n", o.ID, o.Name)
	}
	if problems := catalogProblems(bc, c); len(problems) > 0 {
		return errors.New("the configuration asks for what the account does not offer:\n  " + strings.Join(problems, "\n  "))
	}
	return nil
}

// storedCatalogProblems checks the configured profiles against the last
// synced catalogs, for a warning at start; backends never synced pass.
func storedCatalogProblems(ctx context.Context, cfg *Config, st storage.CatalogStore) ([]string, error) {
	var out []string
	for _, bc := range cfg.Backends {
		raw, _, err := st.GetBackendCatalog(ctx, bc.Name)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var c backendCatalog
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("catalog of %s: %w", bc.Name, err)
		}
		for _, p := range catalogProblems(bc, c) {
			out = append(out, "backend "+bc.Name+": "+p)
		}
	}
	return out, nil
}

// importBackend implements `acmegate backend import NAME --directory DIR`:
// certificates the vendor issued outside acmegate join the inventory
// (expiry reports, ARI, revocation by operators), once each.
func importBackend(ctx context.Context, st storage.CertificateStore, bc BackendConfig, b ca.Backend, dir string, stdout io.Writer) error {
	// refs are the upstream references Poll collects an issued certificate
	// by, with the product each was ordered under when the vendor says.
	type ref struct{ ref, product string }
	var refs []ref
	switch v := unwrapNamed(b).(type) {
	case *digicert.Backend:
		orders, err := v.ListOrders(ctx, digicert.OrderFilter{Status: "issued"})
		if err != nil {
			return fmt.Errorf("backend %s: list orders: %w", bc.Name, err)
		}
		for _, o := range orders {
			refs = append(refs, ref{o.Ref, o.ProductNameID})
		}
	case *sectigo.Backend:
		certs, err := v.ListCertificates(ctx)
		if err != nil {
			return fmt.Errorf("backend %s: list certificates: %w", bc.Name, err)
		}
		for _, c := range certs {
			refs = append(refs, ref{strconv.FormatInt(c.SSLID, 10), ""})
		}
	default:
		return fmt.Errorf("backend %s: import is available for Sectigo and DigiCert backends", bc.Name)
	}
	imported, known := 0, 0
	for _, o := range refs {
		res, err := b.Poll(ctx, o.ref)
		if err != nil {
			// Declined, revoked or otherwise not collectable: nothing to
			// import for this entry.
			if ca.KindOf(err).Permanent() {
				continue
			}
			return fmt.Errorf("backend %s: %s: %w", bc.Name, o.ref, err)
		}
		if len(res.Chain) == 0 {
			continue
		}
		leaf := res.Chain[0]
		names := append([]string{}, leaf.DNSNames...)
		for _, ip := range leaf.IPAddresses {
			names = append(names, ip.String())
		}
		now := nowUTC()
		c := &storage.Certificate{
			ID: "import-" + bc.Name + "-" + leaf.SerialNumber.Text(16), Directory: dir,
			Serial: leaf.SerialNumber.Text(16), Issuer: leaf.Issuer.String(), Names: names,
			NotBefore: leaf.NotBefore.UTC(), NotAfter: leaf.NotAfter.UTC(), ChainPEM: ca.ChainPEM(res.Chain),
			Profile: o.product, Backend: bc.Name, UpstreamRef: o.ref, Status: storage.StatusValid, CreatedAt: now,
		}
		switch err := st.ImportCertificate(ctx, c); {
		case errors.Is(err, storage.ErrConflict):
			known++
		case err != nil:
			return fmt.Errorf("import %s: %w", c.Serial, err)
		default:
			imported++
			fmt.Fprintf(stdout, "  imported %s\t%s\tuntil %s\n", c.Serial, strings.Join(names, ","), c.NotAfter.Format("2006-01-02"))
		}
	}
	fmt.Fprintf(stdout, "backend %s: %d certificates imported into directory %s, %d already in the inventory\n", bc.Name, imported, dir, known)
	return nil
}
