package notify

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// The built-in e-mail templates: common.tmpl defines "details" and
// "footer", TYPE.tmpl defines "subject" and "body" for one event type, and
// generic.tmpl serves types without a file of their own.
//
//go:embed templates/*.tmpl
var builtinTemplates embed.FS

// genericTemplate is the template of event types without their own file.
const genericTemplate = "generic"

// templateSet holds one parsed template per event type.
type templateSet struct {
	byType map[string]*template.Template
}

var templateFuncs = template.FuncMap{
	"join": strings.Join,
	// date prints a time (or *time.Time) in UTC, to the minute.
	"date": func(v any) string {
		switch t := v.(type) {
		case time.Time:
			return t.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if t == nil {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		}
		return fmt.Sprint(v)
	},
	// names lists the first few names and counts the rest, to keep a
	// subject line short.
	"names": func(names []string) string {
		const shown = 3
		if len(names) <= shown {
			return strings.Join(names, ", ")
		}
		return strings.Join(names[:shown], ", ") + " and " + strconv.Itoa(len(names)-shown) + " more"
	},
}

// loadTemplates parses the built-in templates and, from dir when it is
// set, the operator's TYPE.tmpl (and common.tmpl) overriding them. Each
// template is tried on a sample event, so a mistake fails at start rather
// than at the first notification.
func loadTemplates(dir string) (*templateSet, error) {
	read := func(name string) ([]byte, string, error) {
		if dir != "" {
			p := filepath.Join(dir, name)
			b, err := os.ReadFile(p)
			if err == nil {
				return b, p, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, "", fmt.Errorf("notify: read template: %w", err)
			}
		}
		b, err := builtinTemplates.ReadFile("templates/" + name)
		return b, "built-in " + name, err
	}
	common, commonName, err := read("common.tmpl")
	if err != nil {
		return nil, err
	}
	set := &templateSet{byType: map[string]*template.Template{}}
	for _, typ := range append([]string{genericTemplate}, EventTypes...) {
		src, name, err := read(typ + ".tmpl")
		if errors.Is(err, fs.ErrNotExist) && typ != genericTemplate {
			continue // falls back to the generic template
		}
		if err != nil {
			return nil, fmt.Errorf("notify: template %s: %w", typ, err)
		}
		t, err := template.New(typ).Funcs(templateFuncs).Parse(string(common))
		if err != nil {
			return nil, fmt.Errorf("notify: template %s: %w", commonName, err)
		}
		if t, err = t.Parse(string(src)); err != nil {
			return nil, fmt.Errorf("notify: template %s: %w", name, err)
		}
		for _, part := range []string{"subject", "body"} {
			if t.Lookup(part) == nil {
				return nil, fmt.Errorf("notify: template %s does not define %q", name, part)
			}
		}
		set.byType[typ] = t
		sample := sampleEvent(typ)
		if _, _, err := set.render(&sample); err != nil {
			return nil, fmt.Errorf("notify: template %s: %w", name, err)
		}
	}
	return set, nil
}

// render returns the subject and body of the e-mail announcing ev.
func (s *templateSet) render(ev *Event) (string, []byte, error) {
	t, ok := s.byType[ev.Type]
	if !ok {
		t = s.byType[genericTemplate]
	}
	var subject, body bytes.Buffer
	if err := t.ExecuteTemplate(&subject, "subject", ev); err != nil {
		return "", nil, fmt.Errorf("render subject: %w", err)
	}
	if err := t.ExecuteTemplate(&body, "body", ev); err != nil {
		return "", nil, fmt.Errorf("render body: %w", err)
	}
	return subject.String(), append(bytes.TrimSpace(body.Bytes()), '\n'), nil
}

func sampleEvent(typ string) Event {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	na := at.Add(30 * 24 * time.Hour)
	return Event{
		ID: "00000000-0000-0000-0000-000000000000", Type: typ, At: at,
		Directory: "team-a", AccountID: "acct", OrderID: "order", CertificateID: "cert",
		Serial: "1a2b", Names: []string{"a.example.com", "b.example.com", "c.example.com", "d.example.com"},
		NotAfter: &na, DaysLeft: 30, Backend: "local", Detail: "detail",
	}
}
