// Package validationtest provides real loopback servers for tests that
// exercise validation end to end: a DNS server whose records the test sets
// (DNSServer), and a tls-alpn-01 responder (TLSALPNServer) with the RFC 8737
// challenge certificate builder it uses (ChallengeCert).
//
// It depends on no other acmegate package, so package validation's own
// tests can use it too.
package validationtest
