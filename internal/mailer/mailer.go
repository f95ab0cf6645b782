// Package mailer sends the gateway's few emails (password resets): through SMTP when SMTP_URL
// is set, otherwise to the log, which is only allowed outside production.
package mailer

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"strings"
	"time"
)

// Message is one plain-text email.
type Message struct {
	To      string
	Subject string
	Body    string
}

// Mailer sends messages.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// New returns the SMTP mailer for smtpURL, or the log mailer when it is empty. In production
// the log mailer never writes a message's body, which may carry a reset token.
func New(smtpURL, from string, production bool, logger *slog.Logger) (Mailer, error) {
	if smtpURL == "" {
		return &LogMailer{Logger: logger, WithholdBody: production}, nil
	}
	u, err := url.Parse(smtpURL)
	if err != nil {
		return nil, fmt.Errorf("SMTP_URL: %w", err)
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("SMTP_FROM: %w", err)
	}
	return &SMTPMailer{url: u, from: addr}, nil
}

// LogMailer writes emails to the log (development and tests).
type LogMailer struct {
	Logger       *slog.Logger
	WithholdBody bool
}

// Send logs the message; its body may carry a reset link, which is the point in development.
func (l *LogMailer) Send(ctx context.Context, m Message) error {
	if l.WithholdBody {
		l.Logger.WarnContext(ctx, "email not sent: SMTP_URL is not set", slog.String("subject", m.Subject))
		return nil
	}
	l.Logger.InfoContext(ctx, "email (SMTP_URL not set, so logged instead of sent)",
		slog.String("to", m.To), slog.String("subject", m.Subject), slog.String("body", m.Body))
	return nil
}

// SMTPMailer sends through an SMTP server: smtp://user:pass@host:587 (STARTTLS when offered)
// or smtps://user:pass@host:465 (implicit TLS).
type SMTPMailer struct {
	url  *url.URL
	from *mail.Address
}

// Send delivers m.
func (s *SMTPMailer) Send(ctx context.Context, m Message) error {
	host := s.url.Hostname()
	port := s.url.Port()
	if port == "" {
		port = map[string]string{"smtps": "465"}[s.url.Scheme]
		if port == "" {
			port = "587"
		}
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	var conn net.Conn
	var err error
	if s.url.Scheme == "smtps" {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}}).
			DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	}
	if err != nil {
		return fmt.Errorf("smtp dial: %w", err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	} else {
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp hello: %w", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok && s.url.Scheme == "smtp" {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
	}
	if s.url.User != nil {
		password, _ := s.url.User.Password()
		if err := c.Auth(smtp.PlainAuth("", s.url.User.Username(), password, host)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("smtp from: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("smtp to: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if _, err := w.Write([]byte(compose(s.from, m))); err != nil {
		return fmt.Errorf("smtp write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp send: %w", err)
	}
	return c.Quit()
}

func compose(from *mail.Address, m Message) string {
	clean := strings.NewReplacer("\r", "", "\n", "") // no header injection through the subject
	var b strings.Builder
	b.WriteString("From: " + from.String() + "\r\n")
	b.WriteString("To: " + clean.Replace(m.To) + "\r\n")
	b.WriteString("Subject: " + clean.Replace(m.Subject) + "\r\n")
	b.WriteString("Date: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\n")
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(strings.ReplaceAll(m.Body, "\n", "\r\n"))
	return b.String()
}
