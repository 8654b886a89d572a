package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"github.com/acmegate/acmegate/storage"
)

// Webhook request headers.
const (
	HeaderEvent     = "X-Acmegate-Event"
	HeaderDelivery  = "X-Acmegate-Delivery"
	HeaderTimestamp = "X-Acmegate-Timestamp"
	HeaderSignature = "X-Acmegate-Signature"
)

// Caps on what is read of a receiver's answer: enough for an error
// message, and a bounded drain so the connection can be reused.
const (
	maxAnswerKept    = 4 << 10
	maxAnswerDrained = 64 << 10
	// maxAnswerLogged is how much of an error answer the delivery log keeps.
	maxAnswerLogged = 256
)

// WebhookSecretContext is the context webhook id's signing secret is
// sealed under. Whoever creates a webhook seals with it, so that a sealed
// secret copied to another webhook's row does not open.
func WebhookSecretContext(id string) string { return "webhook:" + id }

// SignPayload returns the X-Acmegate-Signature value of a request: "sha256="
// and the hex HMAC-SHA256 under secret of timestamp, ".", and body.
// Signing the timestamp with the body lets receivers refuse old requests
// replayed by whoever saw one.
func SignPayload(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature reports whether signature (an X-Acmegate-Signature
// value) signs timestamp and body under secret. The comparison takes the
// same time whatever the signature. Receivers should also refuse
// timestamps more than a few minutes from their clock.
func VerifySignature(secret []byte, timestamp string, body []byte, signature string) bool {
	return hmac.Equal([]byte(SignPayload(secret, timestamp, body)), []byte(signature))
}

// sendWebhook POSTs d's payload to its webhook. It returns the HTTP
// status (0 when there was no answer) and an error unless the receiver
// answered 2xx. Errors name the webhook and its host, never its full URL
// (the path or query may hold a token) nor its secret.
func (n *Notifier) sendWebhook(ctx context.Context, d *storage.Delivery) (int, error) {
	host := hostOfURL(d.Target)
	w, err := n.store.GetWebhook(ctx, d.WebhookID)
	if errors.Is(err, storage.ErrNotFound) {
		return 0, permanent(fmt.Errorf("webhook %s (%s) was deleted", d.WebhookID, host))
	}
	if err != nil {
		return 0, fmt.Errorf("load webhook %s: %w", d.WebhookID, err)
	}
	if n.cfg.Sealer == nil {
		return 0, fmt.Errorf("webhook %s (%s): no sealing key to open its secret", w.ID, host)
	}
	secret, err := n.cfg.Sealer.Open(w.SealedSecret, WebhookSecretContext(w.ID))
	if err != nil {
		return 0, fmt.Errorf("webhook %s (%s): open its secret: %w", w.ID, host, err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.WebhookTimeout)
	defer cancel()
	// The URL the delivery was recorded for is the one used, even if the
	// webhook was changed since: the log says where each event went.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Target, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, permanent(fmt.Errorf("webhook %s (%s): bad URL", w.ID, host))
	}
	ts := strconv.FormatInt(n.clock.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "acmegate")
	req.Header.Set(HeaderEvent, d.Event)
	req.Header.Set(HeaderDelivery, d.ID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, SignPayload(secret, ts, d.Payload))
	resp, err := n.http.Do(req)
	if err != nil {
		// *url.Error repeats the whole URL: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("webhook %s (%s): no answer within %s", w.ID, host, n.cfg.WebhookTimeout)
		}
		return 0, fmt.Errorf("webhook %s (%s): %w", w.ID, host, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerKept))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswerDrained))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return code, nil
	case code == http.StatusGone:
		// The receiver says it is gone for good: stop trying.
		return code, permanent(fmt.Errorf("webhook %s (%s) answered 410 Gone", w.ID, host))
	default:
		msg := fmt.Sprintf("webhook %s (%s) answered %d", w.ID, host, code)
		if s := printable(answer, maxAnswerLogged); s != "" {
			msg += ": " + s
		}
		return code, errors.New(msg)
	}
}

func hostOfURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "invalid URL"
	}
	return u.Host
}

// printable is the start of b as one line of text, for the delivery log.
func printable(b []byte, limit int) string {
	s := strings.Join(strings.FieldsFunc(string(bytes.ToValidUTF8(b, nil)), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit]) + "…"
	}
	return s
}
