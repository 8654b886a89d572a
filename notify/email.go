package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/acmegate/acmegate/storage"
)

// EmailConfig says who receives which events by e-mail.
type EmailConfig struct {
	// Lists are recipient lists. An event is mailed once, to the union of
	// the lists that match its directory and type.
	Lists []RecipientList
}

// RecipientList is a set of addresses and the events they want.
type RecipientList struct {
	// Directory limits the list to one directory's events; "" means every
	// directory's (and events of no directory).
	Directory string
	// To are RFC 5322 addresses: "ops@example.com" or
	// "PKI team <pki@example.com>".
	To []string
	// Events lists the event types sent; empty means every type.
	Events []string
}

// recipientList is a RecipientList with parsed addresses.
type recipientList struct {
	directory string
	to        []*mail.Address
	events    []string
}

func (e EmailConfig) lists() ([]recipientList, error) {
	var out []recipientList
	for _, l := range e.Lists {
		rl := recipientList{directory: l.Directory, events: l.Events}
		for _, ev := range l.Events {
			if !slices.Contains(EventTypes, ev) {
				return nil, fmt.Errorf("notify: unknown event type %q (known: %s)", ev, strings.Join(EventTypes, ", "))
			}
		}
		for _, s := range l.To {
			a, err := parseAddress(s)
			if err != nil {
				return nil, err
			}
			rl.to = append(rl.to, a)
		}
		if len(rl.to) > 0 {
			out = append(out, rl)
		}
	}
	return out, nil
}

func parseAddress(s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("notify: e-mail address %q contains a line break", s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("notify: e-mail address %q: %w", s, err)
	}
	return a, nil
}

// recipients returns the formatted addresses that receive ev by e-mail,
// each once, in a stable order.
func (n *Notifier) recipients(ev *Event) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range n.email {
		if l.directory != "" && l.directory != ev.Directory {
			continue
		}
		if len(l.events) > 0 && !slices.Contains(l.events, ev.Type) {
			continue
		}
		for _, a := range l.to {
			key := strings.ToLower(a.Address)
			if !seen[key] {
				seen[key] = true
				out = append(out, a.String())
			}
		}
	}
	return out
}

// STARTTLS policies of SMTPConfig.StartTLS.
const (
	// StartTLSRequired refuses to send unless the server offers STARTTLS.
	StartTLSRequired = "required"
	// StartTLSOpportunistic uses STARTTLS when the server offers it.
	StartTLSOpportunistic = "opportunistic"
	// StartTLSNone never starts TLS (a relay on the same host).
	StartTLSNone = "none"
	// TLSImplicit speaks TLS from the first byte (SMTPS, port 465).
	TLSImplicit = "implicit"
)

// SMTPConfig is the mail relay e-mail is submitted to.
type SMTPConfig struct {
	Host string
	// Port. Default: 587 (465 with TLSImplicit).
	Port int
	// Username and Password authenticate with AUTH PLAIN, which is only
	// ever sent over TLS. Default: no authentication.
	Username string
	Password string
	// From is the sender address, such as
	// "acmegate <acmegate@example.com>".
	From string
	// StartTLS is StartTLSRequired (default), StartTLSOpportunistic,
	// StartTLSNone or TLSImplicit.
	StartTLS string
	// TLS verifies the server; ServerName defaults to Host. Default: the
	// system roots.
	TLS *tls.Config
	// Timeout bounds one whole submission. Default: 30s.
	Timeout time.Duration
	// HelloName is the name sent with EHLO. Default: "localhost".
	HelloName string
}

func (c *SMTPConfig) check() error {
	if c.Host == "" {
		return errors.New("notify: e-mail recipients are configured but no SMTP host")
	}
	if c.From == "" {
		return errors.New("notify: e-mail recipients are configured but no sender (SMTP From)")
	}
	if _, err := parseAddress(c.From); err != nil {
		return err
	}
	switch c.StartTLS {
	case "", StartTLSRequired, StartTLSOpportunistic, StartTLSNone, TLSImplicit:
	default:
		return fmt.Errorf("notify: SMTP starttls %q must be required, opportunistic, none or implicit", c.StartTLS)
	}
	if c.StartTLS == StartTLSNone && c.Username != "" {
		return errors.New("notify: SMTP authentication needs TLS: starttls none cannot go with a username")
	}
	return nil
}

func (c *SMTPConfig) setDefaults() {
	if c.StartTLS == "" {
		c.StartTLS = StartTLSRequired
	}
	if c.Port == 0 {
		c.Port = 587
		if c.StartTLS == TLSImplicit {
			c.Port = 465
		}
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.HelloName == "" {
		c.HelloName = "localhost"
	}
}

func (c *SMTPConfig) tlsConfig() *tls.Config {
	tc := &tls.Config{}
	if c.TLS != nil {
		tc = c.TLS.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = c.Host
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	return tc
}

// sendEmail renders and submits an e-mail delivery.
func (n *Notifier) sendEmail(ctx context.Context, d *storage.Delivery) error {
	if len(n.email) == 0 {
		return errors.New("e-mail is not configured on this instance")
	}
	var ev Event
	if err := json.Unmarshal(d.Payload, &ev); err != nil {
		return permanent(fmt.Errorf("decode event: %w", err))
	}
	to, err := mail.ParseAddressList(d.Target)
	if err != nil {
		return permanent(fmt.Errorf("recipients: %w", err))
	}
	subject, body, err := n.templates.render(&ev)
	if err != nil {
		return permanent(err)
	}
	from, err := parseAddress(n.cfg.SMTP.From)
	if err != nil {
		return permanent(err)
	}
	msg := buildMessage(from, to, subject, body, ev.Type, n.clock.Now())
	rcpts := make([]string, len(to))
	for i, a := range to {
		rcpts[i] = a.Address
	}
	return n.cfg.SMTP.send(ctx, from.Address, rcpts, msg)
}

// buildMessage writes an RFC 5322 message. Subject and body carry text
// from subscribers (names from CSRs, problem details): the subject is
// reduced to one line of printable characters and MIME-encoded, the body
// is quoted-printable, so neither can add or end a header.
func buildMessage(from *mail.Address, to []*mail.Address, subject string, body []byte, eventType string, now time.Time) []byte {
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", from.String())
	tos := make([]string, len(to))
	for i, a := range to {
		tos[i] = a.String()
	}
	header("To", strings.Join(tos, ",\r\n "))
	header("Subject", encodeHeaderText(subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+uuid.NewString()+"@"+domainOf(from.Address)+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	// RFC 3834: no vacation auto-replies to a robot.
	header("Auto-Submitted", "auto-generated")
	header("X-Acmegate-Event", encodeHeaderText(eventType))
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	// One line break character: a lone CR is a line break too, and
	// mime/quotedprintable, which tracks a CR to join it with the next LF,
	// forgets to reset that after an encoded byte, so "\r\xf9\n" would lose
	// its second line break (found by FuzzEmailMessage).
	body = bytes.ReplaceAll(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n"))
	_, _ = qp.Write(body) // writes to a bytes.Buffer do not fail
	_ = qp.Close()
	return b.Bytes()
}

// maxSubject is the longest subject kept, in characters: a certificate
// may hold a hundred names.
const maxSubject = 200

// encodeHeaderText makes s one header value: control characters (line
// breaks above all) become spaces, runs of spaces one, invalid UTF-8 U+FFFD
// (the words are labelled utf-8), and anything not printable ASCII an
// RFC 2047 encoded word, folded between words.
func encodeHeaderText(s string) string {
	s = strings.Join(strings.FieldsFunc(strings.ToValidUTF8(s, "\uFFFD"), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if r := []rune(s); len(r) > maxSubject {
		s = string(r[:maxSubject-1]) + "…"
	}
	if strings.Contains(s, "=?") {
		// Printable ASCII is left as it is by mime, but text that looks
		// like an encoded word would be decoded by mail readers into
		// something else than what was sent (found by FuzzEmailMessage).
		return encodeWordsB(s)
	}
	return strings.ReplaceAll(mime.QEncoding.Encode("utf-8", s), "?= =?", "?=\r\n =?")
}

// encodeWordsB encodes all of s as RFC 2047 "B" encoded words of at most 75
// characters (§2), split between characters (§5), folded onto lines of
// their own.
func encodeWordsB(s string) string {
	const prefix, suffix = "=?utf-8?b?", "?="
	chunk := (75 - len(prefix) - len(suffix)) / 4 * 3 // text bytes per word
	var words []string
	for s != "" {
		n := min(len(s), chunk)
		for n < len(s) && !utf8.RuneStart(s[n]) {
			n--
		}
		words = append(words, prefix+base64.StdEncoding.EncodeToString([]byte(s[:n]))+suffix)
		s = s[n:]
	}
	return strings.Join(words, "\r\n ")
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "acmegate.invalid"
}

// send submits msg to the relay.
func (c *SMTPConfig) send(ctx context.Context, from string, to []string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to SMTP server %s: %w", addr, err)
	}
	// net/smtp knows no context: a deadline on the connection bounds every
	// exchange, and cancellation (shutdown) closes it.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	tlsCfg := c.tlsConfig()
	isTLS := false
	if c.StartTLS == TLSImplicit {
		conn = tls.Client(conn, tlsCfg)
		isTLS = true
	}
	cl, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("SMTP server %s: %w", addr, err)
	}
	defer cl.Close()
	if err := cl.Hello(c.HelloName); err != nil {
		return fmt.Errorf("SMTP server %s: EHLO: %w", addr, err)
	}
	if !isTLS && c.StartTLS != StartTLSNone {
		if ok, _ := cl.Extension("STARTTLS"); ok {
			if err := cl.StartTLS(tlsCfg); err != nil {
				return fmt.Errorf("SMTP server %s: STARTTLS: %w", addr, err)
			}
			isTLS = true
		} else if c.StartTLS == StartTLSRequired {
			return fmt.Errorf("SMTP server %s does not offer STARTTLS, which smtp.starttls requires", addr)
		}
	}
	if c.Username != "" {
		// net/smtp would send PLAIN in clear text to "localhost"; a
		// password never crosses a connection without TLS here.
		if !isTLS {
			return fmt.Errorf("SMTP server %s: refusing to authenticate without TLS", addr)
		}
		if ok, _ := cl.Extension("AUTH"); !ok {
			return fmt.Errorf("SMTP server %s does not offer AUTH but a username is configured", addr)
		}
		if err := cl.Auth(smtp.PlainAuth("", c.Username, c.Password, c.Host)); err != nil {
			return fmt.Errorf("SMTP server %s: authentication as %q failed: %w", addr, c.Username, err)
		}
	}
	if err := cl.Mail(from); err != nil {
		return fmt.Errorf("SMTP server %s: MAIL FROM: %w", addr, err)
	}
	var rejected []string
	for _, r := range to {
		if err := cl.Rcpt(r); err != nil {
			rejected = append(rejected, fmt.Sprintf("%s (%v)", r, err))
		}
	}
	if len(rejected) == len(to) {
		return fmt.Errorf("SMTP server %s rejected every recipient: %s", addr, strings.Join(rejected, "; "))
	}
	w, err := cl.Data()
	if err != nil {
		return fmt.Errorf("SMTP server %s: DATA: %w", addr, err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("SMTP server %s: send message: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("SMTP server %s: message refused: %w", addr, err)
	}
	// The message is accepted: a failing QUIT changes nothing.
	_ = cl.Quit()
	if len(rejected) > 0 {
		return &partialError{rejected: rejected}
	}
	return nil
}

// partialError is a message accepted for some recipients only: delivered,
// with a note in the delivery log; sending it again would duplicate it for
// the others.
type partialError struct{ rejected []string }

func (e *partialError) Error() string {
	return "recipients rejected: " + strings.Join(e.rejected, "; ")
}
