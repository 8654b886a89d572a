package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/notify"
)

// NotificationsConfig says who hears about events (docs/notifications.md).
// Webhooks are managed at run time through the admin API; this section
// holds e-mail and the knobs shared by both channels.
type NotificationsConfig struct {
	SMTP  NotifySMTPConfig  `yaml:"smtp"`
	Email NotifyEmailConfig `yaml:"email"`
	// ExpiryDays are the thresholds, in days before expiry, of
	// certificate.expiring notices. Default: [30, 7, 1].
	ExpiryDays []int `yaml:"expiry_days"`
	// WebhookTimeout bounds one webhook attempt. Default: 10s.
	WebhookTimeout time.Duration `yaml:"webhook_timeout"`
	// Templates is a directory of e-mail templates (TYPE.tmpl) overriding
	// the built-in ones. Default: none.
	Templates string `yaml:"templates"`
}

// NotifySMTPConfig is the relay e-mail is submitted to.
type NotifySMTPConfig struct {
	Host string `yaml:"host"`
	// Port. Default: 587, or 465 with starttls: implicit.
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	// PasswordFile holds the password (trailing white space ignored), so
	// it stays out of this file.
	PasswordFile string `yaml:"password_file"`
	// From is the sender, e.g. "acmegate <acmegate@example.com>".
	From string `yaml:"from"`
	// StartTLS is required (default), opportunistic, none or implicit
	// (TLS from the first byte).
	StartTLS string `yaml:"starttls"`
	// CAFile holds PEM roots that verify the relay instead of the
	// system's (a relay with a private CA). Default: system roots.
	CAFile string `yaml:"ca_file"`
	// Timeout bounds one submission. Default: 30s.
	Timeout time.Duration `yaml:"timeout"`
}

// NotifyEmailConfig lists who receives e-mail.
type NotifyEmailConfig struct {
	// Recipients receive the events of every directory.
	Recipients []string `yaml:"recipients"`
	// Directories maps a directory to the recipients of its events only.
	Directories map[string][]string `yaml:"directories"`
	// Events limits e-mail to these event types. Default: all of them.
	Events []string `yaml:"events"`
}

func (n *NotificationsConfig) setDefaults() {
	if len(n.ExpiryDays) == 0 {
		n.ExpiryDays = []int{30, 7, 1}
	}
	if n.WebhookTimeout == 0 {
		n.WebhookTimeout = 10 * time.Second
	}
	if n.SMTP.StartTLS == "" {
		n.SMTP.StartTLS = notify.StartTLSRequired
	}
	if n.SMTP.Port == 0 {
		n.SMTP.Port = 587
		if n.SMTP.StartTLS == notify.TLSImplicit {
			n.SMTP.Port = 465
		}
	}
	if n.SMTP.Timeout == 0 {
		n.SMTP.Timeout = 30 * time.Second
	}
}

// hasRecipients reports whether any e-mail is to be sent.
func (e *NotifyEmailConfig) hasRecipients() bool {
	if len(e.Recipients) > 0 {
		return true
	}
	for _, r := range e.Directories {
		if len(r) > 0 {
			return true
		}
	}
	return false
}

func (n *NotificationsConfig) validate() error {
	checkAddr := func(field, s string) error {
		if strings.ContainsAny(s, "\r\n") {
			return fmt.Errorf("config: %s: %q contains a line break", field, s)
		}
		if _, err := mail.ParseAddress(s); err != nil {
			return fmt.Errorf("config: %s: %q is not an e-mail address", field, s)
		}
		return nil
	}
	for i, r := range n.Email.Recipients {
		if err := checkAddr(fmt.Sprintf("notifications.email.recipients[%d]", i), r); err != nil {
			return err
		}
	}
	for dir, rs := range n.Email.Directories {
		if !acme.ValidDirectoryName(dir) {
			return fmt.Errorf("config: notifications.email.directories: %q is not a directory name", dir)
		}
		for i, r := range rs {
			if err := checkAddr(fmt.Sprintf("notifications.email.directories.%s[%d]", dir, i), r); err != nil {
				return err
			}
		}
	}
	for _, ev := range n.Email.Events {
		if !slices.Contains(notify.EventTypes, ev) {
			return fmt.Errorf("config: notifications.email.events: unknown event type %q (known: %s)", ev, strings.Join(notify.EventTypes, ", "))
		}
	}
	s := n.SMTP
	switch s.StartTLS {
	case notify.StartTLSRequired, notify.StartTLSOpportunistic, notify.StartTLSNone, notify.TLSImplicit:
	default:
		return fmt.Errorf("config: notifications.smtp.starttls %q must be required, opportunistic, none or implicit", s.StartTLS)
	}
	if s.Port < 1 || s.Port > 65535 {
		return fmt.Errorf("config: notifications.smtp.port %d is not a port", s.Port)
	}
	if (s.Username == "") != (s.PasswordFile == "") {
		return errors.New("config: notifications.smtp.username and notifications.smtp.password_file go together")
	}
	if s.Username != "" && s.StartTLS == notify.StartTLSNone {
		return errors.New("config: notifications.smtp.username needs TLS: the password is never sent with starttls none")
	}
	if n.Email.hasRecipients() {
		if s.Host == "" {
			return errors.New("config: notifications.smtp.host is required when notifications.email has recipients")
		}
		if s.From == "" {
			return errors.New("config: notifications.smtp.from is required when notifications.email has recipients")
		}
	}
	if s.From != "" {
		if err := checkAddr("notifications.smtp.from", s.From); err != nil {
			return err
		}
	}
	for _, d := range n.ExpiryDays {
		if d <= 0 {
			return fmt.Errorf("config: notifications.expiry_days: %d is not a positive number of days", d)
		}
	}
	if n.WebhookTimeout < 0 || s.Timeout < 0 {
		return errors.New("config: notifications.webhook_timeout and notifications.smtp.timeout must be positive")
	}
	return nil
}

// newNotifier builds the notifier of cfg's notifications section on the
// components' store and sealing key.
func newNotifier(cfg *Config, c *components, log *slog.Logger) (*notify.Notifier, error) {
	nc := cfg.Notifications
	s := notify.SMTPConfig{
		Host:     nc.SMTP.Host,
		Port:     nc.SMTP.Port,
		Username: nc.SMTP.Username,
		From:     nc.SMTP.From,
		StartTLS: nc.SMTP.StartTLS,
		Timeout:  nc.SMTP.Timeout,
	}
	if nc.SMTP.PasswordFile != "" {
		b, err := os.ReadFile(nc.SMTP.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("read notifications.smtp.password_file: %w", err)
		}
		s.Password = strings.TrimSpace(string(b))
	}
	if nc.SMTP.CAFile != "" {
		pem, err := os.ReadFile(nc.SMTP.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read notifications.smtp.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("notifications.smtp.ca_file %s holds no PEM certificate", nc.SMTP.CAFile)
		}
		s.TLS = &tls.Config{RootCAs: pool}
	}
	var lists []notify.RecipientList
	if len(nc.Email.Recipients) > 0 {
		lists = append(lists, notify.RecipientList{To: nc.Email.Recipients, Events: nc.Email.Events})
	}
	dirs := make([]string, 0, len(nc.Email.Directories))
	for d := range nc.Email.Directories {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		lists = append(lists, notify.RecipientList{Directory: d, To: nc.Email.Directories[d], Events: nc.Email.Events})
	}
	n, err := notify.New(notify.Config{
		Store:          c.store,
		Sealer:         c.sealer,
		Email:          notify.EmailConfig{Lists: lists},
		SMTP:           s,
		WebhookTimeout: nc.WebhookTimeout,
		Templates:      nc.Templates,
		ExpiryDays:     nc.ExpiryDays,
		Logger:         log.With(slog.String("component", "notify")),
	})
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	return n, nil
}
