package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// challengePath is where http-01 answers live (RFC 8555 §8.3).
const challengePath = "/.well-known/acme-challenge/"

// responders answer the server's validation requests for every worker: an
// HTTP server for http-01 and a DNS server for dns-01 (TXT) that also
// resolves every name under the domain suffix to 127.0.0.1, so that a
// server pointed at it finds the http-01 responder. Both are optional.
type responders struct {
	suffix string // lower case, no dots around

	httpKeys sync.Map // token → key authorization

	mu  sync.RWMutex
	txt map[string]string // "_acme-challenge.NAME." → digest

	httpSrv *http.Server
	dnsSrvs []*dns.Server
	done    sync.WaitGroup
}

// startResponders starts the responders whose port is not 0 on 127.0.0.1.
func startResponders(httpPort, dnsPort int, suffix string) (*responders, error) {
	r := &responders{suffix: suffix, txt: map[string]string{}}
	if httpPort != 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)))
		if err != nil {
			return nil, fmt.Errorf("http-01 responder: %w", err)
		}
		r.httpSrv = &http.Server{Handler: http.HandlerFunc(r.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
		r.done.Go(func() { _ = r.httpSrv.Serve(ln) })
	}
	if dnsPort != 0 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(dnsPort))
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			_ = r.Close()
			return nil, fmt.Errorf("dns responder: %w", err)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			_ = pc.Close()
			_ = r.Close()
			return nil, fmt.Errorf("dns responder: %w", err)
		}
		h := dns.HandlerFunc(r.serveDNS)
		// Shutdown of a server not yet started fails: wait for both.
		var started sync.WaitGroup
		started.Add(2)
		udp := &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: started.Done}
		tcp := &dns.Server{Listener: ln, Handler: h, NotifyStartedFunc: started.Done}
		r.dnsSrvs = []*dns.Server{udp, tcp}
		for _, s := range r.dnsSrvs {
			r.done.Go(func() { _ = s.ActivateAndServe() })
		}
		started.Wait()
	}
	return r, nil
}

// Close stops the responders and waits for them.
func (r *responders) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	if r.httpSrv != nil {
		if err := r.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http-01 responder: %w", err))
		}
	}
	for _, s := range r.dnsSrvs {
		if err := s.ShutdownContext(ctx); err != nil {
			errs = append(errs, fmt.Errorf("dns responder: %w", err))
		}
	}
	r.done.Wait()
	return errors.Join(errs...)
}

func (r *responders) setHTTP(token, keyAuth string) { r.httpKeys.Store(token, keyAuth) }
func (r *responders) deleteHTTP(token string)       { r.httpKeys.Delete(token) }

// setTXT publishes digest at _acme-challenge.NAME (RFC 8555 §8.4).
func (r *responders) setTXT(name, digest string) {
	r.mu.Lock()
	r.txt[dns.Fqdn("_acme-challenge."+strings.ToLower(name))] = digest
	r.mu.Unlock()
}

func (r *responders) deleteTXT(name string) {
	r.mu.Lock()
	delete(r.txt, dns.Fqdn("_acme-challenge."+strings.ToLower(name)))
	r.mu.Unlock()
}

func (r *responders) serveHTTP(w http.ResponseWriter, req *http.Request) {
	token, ok := strings.CutPrefix(req.URL.Path, challengePath)
	if !ok || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
		http.NotFound(w, req)
		return
	}
	v, ok := r.httpKeys.Load(token)
	if !ok {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write([]byte(v.(string)))
}

// serveDNS answers authoritatively for the suffix: A 127.0.0.1 for every
// name under it, the published TXT records, and an empty answer for any
// other type (AAAA, CAA); names outside it are NXDOMAIN.
func (r *responders) serveDNS(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	for _, question := range q.Question {
		name := strings.ToLower(question.Name)
		if !r.inZone(name) {
			m.Rcode = dns.RcodeNameError
			continue
		}
		hdr := dns.RR_Header{Name: question.Name, Rrtype: question.Qtype, Class: dns.ClassINET}
		switch question.Qtype {
		case dns.TypeA:
			if !strings.HasPrefix(name, "_acme-challenge.") {
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IPv4(127, 0, 0, 1)})
			}
		case dns.TypeTXT:
			r.mu.RLock()
			v, ok := r.txt[name]
			r.mu.RUnlock()
			if ok {
				m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: []string{v}})
			}
		}
	}
	_ = w.WriteMsg(m)
}

func (r *responders) inZone(fqdn string) bool {
	name := strings.TrimSuffix(fqdn, ".")
	return name == r.suffix || strings.HasSuffix(name, "."+r.suffix)
}
