package notify

import (
	"bytes"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
)

// FuzzEmailMessage builds notification e-mails whose subject, body and
// event type carry fuzzed text, as they carry names and problem details
// chosen by subscribers.
//
// Invariants: CR and LF appear only as CRLF; the message parses (RFC 5322)
// with exactly the headers
// buildMessage writes, each once, so no text can add a header or end the
// header section; header lines are printable ASCII of at most 998
// characters; the subject decodes (RFC 2047) to the text reduced to one
// line; the body decodes (quoted-printable) to the text sent.
func FuzzEmailMessage(f *testing.F) {
	from := &mail.Address{Name: "acmegate", Address: "acmegate@example.com"}
	to := []*mail.Address{{Address: "ops@example.com"}, {Name: "PKI team", Address: "pki@example.com"}}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want := []string{"From", "To", "Subject", "Date", "Message-Id", "Mime-Version", "Content-Type",
		"Content-Transfer-Encoding", "Auto-Submitted", "X-Acmegate-Event"}
	slices.Sort(want)
	f.Fuzz(func(t *testing.T, subject string, body []byte, eventType string) {
		raw := buildMessage(from, to, subject, body, eventType, now)
		// RFC 5322 §2.3: CR and LF only together. A bare one is how SMTP
		// smuggling ends a message early on some relays.
		for i, c := range raw {
			if (c == '\r' && (i+1 == len(raw) || raw[i+1] != '\n')) || (c == '\n' && (i == 0 || raw[i-1] != '\r')) {
				t.Fatalf("bare %q at %d in %q", c, i, raw)
			}
		}
		head, _, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
		if !ok {
			t.Fatalf("no end of header section in %q", raw)
		}
		for _, line := range strings.Split(string(head), "\r\n") {
			if len(line) > 998 {
				t.Fatalf("header line of %d characters", len(line))
			}
			for _, c := range []byte(line) {
				if (c < 0x20 || c > 0x7e) && c != '\t' {
					t.Fatalf("header line %q has byte %#x", line, c)
				}
			}
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("message does not parse: %v\n%s", err, raw)
		}
		var got []string
		for k, vs := range msg.Header {
			if len(vs) != 1 {
				t.Fatalf("header %s appears %d times", k, len(vs))
			}
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("headers %q, want %q", got, want)
		}
		dec := new(mime.WordDecoder)
		for _, c := range []struct{ header, sent string }{{"Subject", subject}, {"X-Acmegate-Event", eventType}} {
			decoded, err := dec.DecodeHeader(msg.Header.Get(c.header))
			if err != nil {
				t.Fatalf("%s does not decode: %v", c.header, err)
			}
			if w := oneLine(c.sent); decoded != w {
				t.Fatalf("%s decodes to %q, want %q", c.header, decoded, w)
			}
		}
		text, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
		if err != nil {
			t.Fatalf("body does not decode: %v", err)
		}
		// A line break may be sent as CRLF, LF or a lone CR; each is one
		// line break of the message.
		sent := bytes.ReplaceAll(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n"))
		if norm := bytes.ReplaceAll(text, []byte("\r\n"), []byte("\n")); !bytes.Equal(norm, sent) {
			t.Fatalf("body decodes to %q, sent %q", norm, sent)
		}
	})
}

// oneLine is what a header keeps of s: invalid UTF-8 as U+FFFD, words
// separated by single spaces, at most maxSubject characters.
func oneLine(s string) string {
	s = strings.Join(strings.FieldsFunc(strings.ToValidUTF8(s, "\uFFFD"), func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if r := []rune(s); len(r) > maxSubject {
		s = string(r[:maxSubject-1]) + "…"
	}
	return s
}
