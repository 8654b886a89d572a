package notify_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acmegate/acmegate/notify"
)

func TestTemplateOverride(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	custom := `{{define "subject"}}Issued {{join .Names " + "}}{{end}}
{{define "body"}}Hello PKI team, {{.Serial}} is out.{{end}}`
	if err := os.WriteFile(filepath.Join(dir, notify.CertificateIssued+".tmpl"), []byte(custom), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startSMTP(t, smtpOptions{})
	e := newEnv(t, openSQLite(t), notify.Config{
		Templates: dir,
		Email:     notify.EmailConfig{Lists: []notify.RecipientList{{To: []string{"pki@example.com"}}}},
		SMTP:      notify.SMTPConfig{Host: srv.host, Port: srv.port, From: "acmegate@example.com", StartTLS: notify.StartTLSNone},
	})
	for _, ev := range []notify.Event{
		{Type: notify.CertificateIssued, Serial: "1a2b", Names: []string{"a.example.com", "b.example.com"}},
		{Type: notify.CertificateRevoked, Names: []string{"c.example.com"}},
	} {
		e.clock.Add(1)
		e.n.Notify(testCtx(t), ev)
	}
	for id, err := range e.runDue(t) {
		if err != nil {
			t.Fatalf("Deliver %s: %v", id, err)
		}
	}
	mails, _, _ := srv.received()
	if len(mails) != 2 {
		t.Fatalf("received %d mails, want 2", len(mails))
	}
	got := map[string]string{}
	for _, m := range mails {
		msg, body := readMail(t, m.data)
		got[decodeSubject(t, msg)] = body
	}
	if body, ok := got["Issued a.example.com + b.example.com"]; !ok || body != "Hello PKI team, 1a2b is out.\n" {
		t.Errorf("the overriding template was not used: %q", got)
	}
	// Types without an override keep the built-in template.
	if _, ok := got["[acmegate] Certificate revoked: c.example.com"]; !ok {
		t.Errorf("the built-in revoked template was not used: %q", got)
	}
}

func TestTemplateErrorsFailAtStart(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ file, body, want string }{
		"syntax":         {"order.failed.tmpl", `{{define "subject"}}{{.Names{{end}}`, "order.failed.tmpl"},
		"unknown field":  {"order.failed.tmpl", `{{define "subject"}}{{.Nmes}}{{end}}{{define "body"}}x{{end}}`, "Nmes"},
		"missing body":   {"certificate.issued.tmpl", `{{define "subject"}}x{{end}}`, `"body"`},
		"broken details": {"common.tmpl", `{{define "details"}}{{.Bogus}}{{end}}{{define "footer"}}{{end}}`, "Bogus"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := notify.New(notify.Config{Store: nilStore{}, Templates: dir})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}
