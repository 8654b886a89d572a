package notify_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/acmegate/acmegate/notify"
	"github.com/acmegate/acmegate/storage"
)

// smtpServer is a real SMTP server (github.com/emersion/go-smtp) on
// 127.0.0.1 recording what it receives.
type smtpServer struct {
	host string
	port int
	opts smtpOptions

	mu        sync.Mutex
	mails     []receivedMail
	mailCalls int
	authSeen  []string // "user:password" of every AUTH attempt
}

type smtpOptions struct {
	// tls enables STARTTLS (or implicit TLS) with this configuration.
	tls      *tls.Config
	implicit bool
	// user and password are required when user is set.
	user, password string
	// reject lists recipients refused with 550.
	reject []string
}

type receivedMail struct {
	from string
	to   []string
	data []byte
	// tls says whether the connection was encrypted at MAIL FROM.
	tls bool
}

func startSMTP(t *testing.T, opts smtpOptions) *smtpServer {
	t.Helper()
	s := &smtpServer{opts: opts}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{srv: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.TLSConfig = opts.tls
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	var ln net.Listener
	var err error
	if opts.implicit {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", opts.tls)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().(*net.TCPAddr)
	s.host, s.port = addr.IP.String(), addr.Port
	return s
}

func (s *smtpServer) received() ([]receivedMail, int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mails), s.mailCalls, slices.Clone(s.authSeen)
}

type smtpSession struct {
	srv    *smtpServer
	conn   *smtp.Conn
	authed bool
	cur    receivedMail
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, password string) error {
		s.srv.mu.Lock()
		s.srv.authSeen = append(s.srv.authSeen, user+":"+password)
		s.srv.mu.Unlock()
		if user != s.srv.opts.user || password != s.srv.opts.password {
			return errors.New("invalid credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	s.srv.mu.Lock()
	s.srv.mailCalls++
	s.srv.mu.Unlock()
	if s.srv.opts.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.cur = receivedMail{from: from, tls: isTLS}
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if slices.Contains(s.srv.opts.reject, to) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.srv.mu.Lock()
	s.srv.mails = append(s.srv.mails, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.cur = receivedMail{} }
func (s *smtpSession) Logout() error { return nil }

// mailEnv is a notifier mailing the given lists through srv.
func mailEnv(t *testing.T, st storage.Store, srv *smtpServer, smtpCfg notify.SMTPConfig, lists ...notify.RecipientList) *env {
	t.Helper()
	smtpCfg.Host, smtpCfg.Port = srv.host, srv.port
	if smtpCfg.From == "" {
		smtpCfg.From = "acmegate <acmegate@example.com>"
	}
	if smtpCfg.Timeout == 0 {
		smtpCfg.Timeout = 10 * time.Second
	}
	if len(lists) == 0 {
		lists = []notify.RecipientList{{To: []string{"PKI team <pki@example.com>", "oncall@example.com"}}}
	}
	return newEnv(t, st, notify.Config{Email: notify.EmailConfig{Lists: lists}, SMTP: smtpCfg})
}

func readMail(t *testing.T, data []byte) (*mail.Message, string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parse received mail: %v\n%s", err, data)
	}
	if cte := m.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding %q", cte)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatalf("decode body: %v", err)
	}
	return m, strings.ReplaceAll(string(body), "\r\n", "\n")
}

func decodeSubject(t *testing.T, m *mail.Message) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("decode subject %q: %v", m.Header.Get("Subject"), err)
	}
	return s
}

func TestEmailSTARTTLSAndAuth(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	srv := startSMTP(t, smtpOptions{
		tls:  &tls.Config{Certificates: []tls.Certificate{ca.cert}},
		user: "relay-user", password: "relay-pa55word",
	})
	e := mailEnv(t, openSQLite(t), srv, notify.SMTPConfig{
		Username: "relay-user", Password: "relay-pa55word",
		TLS: &tls.Config{RootCAs: ca.pool},
	})
	notAfter := time.Date(2026, 4, 9, 12, 0, 0, 0, time.UTC)
	e.n.Notify(testCtx(t), notify.Event{
		Type: notify.CertificateExpiring, Directory: "team-a", CertificateID: "c1", Serial: "1a2b",
		Names: []string{"www.example.com", "api.example.com"}, NotAfter: &notAfter, DaysLeft: 7, Backend: "local",
	})
	d := onlyDelivery(t, e)
	if d.Channel != notify.ChannelEmail || d.Target != `"PKI team" <pki@example.com>, <oncall@example.com>` {
		t.Fatalf("delivery %+v", d)
	}
	if err := e.runDue(t)[d.ID]; err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	mails, _, auths := srv.received()
	if len(mails) != 1 {
		t.Fatalf("server received %d mails, want 1", len(mails))
	}
	got := mails[0]
	if !got.tls {
		t.Errorf("the mail was sent without TLS")
	}
	if !slices.Equal(auths, []string{"relay-user:relay-pa55word"}) {
		t.Errorf("AUTH attempts %q", auths)
	}
	if got.from != "acmegate@example.com" || !slices.Equal(got.to, []string{"pki@example.com", "oncall@example.com"}) {
		t.Errorf("envelope from %q to %q", got.from, got.to)
	}
	m, body := readMail(t, got.data)
	for k, want := range map[string]string{
		"From":             `"acmegate" <acmegate@example.com>`,
		"To":               `"PKI team" <pki@example.com>, <oncall@example.com>`,
		"Mime-Version":     "1.0",
		"Content-Type":     "text/plain; charset=utf-8",
		"Auto-Submitted":   "auto-generated",
		"X-Acmegate-Event": notify.CertificateExpiring,
	} {
		if v := m.Header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	if date, err := m.Header.Date(); err != nil || !date.Equal(e.clock.Now()) {
		t.Errorf("Date %q (%v), want %v", m.Header.Get("Date"), err, e.clock.Now())
	}
	if id := m.Header.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID %q", id)
	}
	if s := decodeSubject(t, m); s != "[acmegate] Certificate expires in 7 days: www.example.com, api.example.com (team-a)" {
		t.Errorf("Subject %q", s)
	}
	for _, want := range []string{
		"A certificate expires in 7 days, on 2026-04-09 12:00 UTC.",
		"Names:        www.example.com, api.example.com\n",
		"Serial:       1a2b\n",
		"Directory:    team-a\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if got := e.delivery(t, d.ID); got.Status != storage.DeliveryDelivered || got.Attempts != 1 {
		t.Errorf("delivery log %+v", got)
	}
	if strings.Contains(e.log.String(), "relay-pa55word") {
		t.Errorf("the SMTP password was logged")
	}
}

func TestEmailImplicitTLS(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	srv := startSMTP(t, smtpOptions{tls: &tls.Config{Certificates: []tls.Certificate{ca.cert}}, implicit: true})
	e := mailEnv(t, openSQLite(t), srv, notify.SMTPConfig{StartTLS: notify.TLSImplicit, TLS: &tls.Config{RootCAs: ca.pool}})
	e.n.Notify(testCtx(t), notify.Event{Type: notify.CertificateIssued, Names: []string{"a.example.com"}})
	d := onlyDelivery(t, e)
	if err := e.runDue(t)[d.ID]; err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if mails, _, _ := srv.received(); len(mails) != 1 || !mails[0].tls {
		t.Fatalf("received %+v, want one mail over TLS", mails)
	}
}

// With STARTTLS required (the default), a server that does not offer it
// gets nothing: not even MAIL FROM.
func TestEmailStartTLSRequired(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, smtpOptions{})
	e := mailEnv(t, openSQLite(t), srv, notify.SMTPConfig{})
	e.n.Notify(testCtx(t), notify.Event{Type: notify.OrderFailed})
	d := onlyDelivery(t, e)
	var retry *notify.RetryError
	if err := e.runDue(t)[d.ID]; !errors.As(err, &retry) {
		t.Fatalf("Deliver = %v, want a RetryError", err)
	}
	mails, mailCalls, _ := srv.received()
	if len(mails) != 0 || mailCalls != 0 {
		t.Fatalf("sent without TLS: %d mails, %d MAIL commands", len(mails), mailCalls)
	}
	if got := e.delivery(t, d.ID); got.Status != storage.DeliveryPending || !strings.Contains(got.LastError, "does not offer STARTTLS") {
		t.Fatalf("delivery log %+v", got)
	}
}

// Opportunistic STARTTLS sends in clear text to a server without TLS, but
// never the password.
func TestEmailNoPasswordWithoutTLS(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, smtpOptions{})
	e := mailEnv(t, openSQLite(t), srv, notify.SMTPConfig{StartTLS: notify.StartTLSOpportunistic, Username: "u", Password: "clear-text-secret"})
	e.n.Notify(testCtx(t), notify.Event{Type: notify.OrderFailed})
	d := onlyDelivery(t, e)
	if err := e.runDue(t)[d.ID]; err == nil {
		t.Fatal("Deliver succeeded, want a refusal to authenticate without TLS")
	}
	if _, mailCalls, auths := srv.received(); len(auths) != 0 || mailCalls != 0 {
		t.Fatalf("AUTH attempts %q, MAIL commands %d: want none", auths, mailCalls)
	}
	got := e.delivery(t, d.ID)
	if !strings.Contains(got.LastError, "without TLS") || strings.Contains(got.LastError, "clear-text-secret") {
		t.Fatalf("last error %q", got.LastError)
	}

	// Without a password, opportunistic mode sends in the clear.
	e2 := mailEnv(t, openSQLite(t), srv, notify.SMTPConfig{StartTLS: notify.StartTLSOpportunistic})
	e2.n.Notify(testCtx(t), notify.Event{Type: notify.OrderFailed})
	if err := e2.runDue(t)[onlyDelivery(t, e2).ID]; err != nil {
		t.Fatalf("opportunistic Deliver: %v", err)
	}
	if mails, _, _ := srv.received(); len(mails) != 1 || mails[0].tls {
		t.Fatalf("received %+v, want one mail in the clear", mails)
	}
}

// Names come from subscribers' CSRs: a line break in one must not add a
// header or a recipient.
func TestEmailHeaderInjection(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, smtpOptions{})
	e := mailEnv(t, openSQLite(t), srv, notify.SMTPConfig{StartTLS: notify.StartTLSNone})
	evil := "evil.example.com\r\nBcc: victim@example.net\r\nX-Injected: yes"
	e.n.Notify(testCtx(t), notify.Event{
		Type: notify.CertificateIssued, Directory: "team-a\r\nCc: x@example.net",
		Names: []string{evil}, Detail: "line\r\n.\r\nQUIT",
	})
	d := onlyDelivery(t, e)
	if err := e.runDue(t)[d.ID]; err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	mails, _, _ := srv.received()
	if len(mails) != 1 {
		t.Fatalf("received %d mails", len(mails))
	}
	if !slices.Equal(mails[0].to, []string{"pki@example.com", "oncall@example.com"}) {
		t.Errorf("envelope recipients %q", mails[0].to)
	}
	m, body := readMail(t, mails[0].data)
	for _, h := range []string{"Bcc", "Cc", "X-Injected"} {
		if v, ok := m.Header[h]; ok {
			t.Errorf("injected header %s: %q", h, v)
		}
	}
	subject := decodeSubject(t, m)
	if strings.ContainsAny(subject, "\r\n") || !strings.Contains(subject, "evil.example.com Bcc: victim@example.net X-Injected: yes") {
		t.Errorf("Subject %q", subject)
	}
	// The body keeps the text, and the lone "." did not end the message.
	if !strings.Contains(body, "Detail:       line\n.\nQUIT") {
		t.Errorf("body:\n%s", body)
	}
}

// A recipient the server refuses does not stop the others', nor cause the
// mail to be sent twice.
func TestEmailPartialRecipients(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, smtpOptions{reject: []string{"gone@example.com"}})
	e := mailEnv(t, openSQLite(t), srv, notify.SMTPConfig{StartTLS: notify.StartTLSNone},
		notify.RecipientList{To: []string{"gone@example.com", "here@example.com"}})
	e.n.Notify(testCtx(t), notify.Event{Type: notify.OrderFailed})
	d := onlyDelivery(t, e)
	if err := e.runDue(t)[d.ID]; err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if mails, _, _ := srv.received(); len(mails) != 1 || !slices.Equal(mails[0].to, []string{"here@example.com"}) {
		t.Fatalf("received %+v", mails)
	}
	if got := e.delivery(t, d.ID); got.Status != storage.DeliveryDelivered || !strings.Contains(got.LastError, "gone@example.com") {
		t.Fatalf("delivery log %+v", got)
	}
}

func TestEmailLongSubjectFolded(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, smtpOptions{})
	e := mailEnv(t, openSQLite(t), srv, notify.SMTPConfig{StartTLS: notify.StartTLSNone})
	long := strings.Repeat("ü", 150) + ".example.com"
	e.n.Notify(testCtx(t), notify.Event{Type: notify.CertificateIssued, Directory: strings.Repeat("d", 300), Names: []string{long}})
	if err := e.runDue(t)[onlyDelivery(t, e).ID]; err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	mails, _, _ := srv.received()
	for i, line := range strings.Split(string(mails[0].data), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("line %d is %d bytes long (RFC 5322 allows 998)", i, len(line))
		}
	}
	m, _ := readMail(t, mails[0].data)
	s := decodeSubject(t, m)
	if n := len([]rune(s)); n != 200 || !strings.HasSuffix(s, "…") || !strings.HasPrefix(s, "[acmegate] Certificate issued: üü") {
		t.Fatalf("subject of %d characters: %q", n, s)
	}
}
