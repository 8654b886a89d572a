package validation

import (
	"testing"
)

func TestRequestMalformed(t *testing.T) {
	ok := Request{ChallengeType: ChallengeHTTP01, IdentifierType: IdentifierDNS, Identifier: "example.test",
		Token: testToken, KeyAuthorization: testKeyAuth}
	tests := []struct {
		name string
		edit func(*Request)
		want string
	}{
		{"unknown challenge", func(r *Request) { r.ChallengeType = "tls-sni-01" }, `unsupported challenge type "tls-sni-01"`},
		{"unknown identifier type", func(r *Request) { r.IdentifierType = "email" }, `unsupported identifier type "email"`},
		{"wildcard", func(r *Request) { r.Identifier = "*.example.test" }, "must not contain a wildcard label"},
		{"empty name", func(r *Request) { r.Identifier = "" }, "is not a valid DNS name"},
		{"name with a port", func(r *Request) { r.Identifier = "example.test:8080" }, "is not a valid DNS name"},
		{"name with a path", func(r *Request) { r.Identifier = "example.test/x" }, "is not a valid DNS name"},
		{"IP as dns identifier", func(r *Request) { r.Identifier = "192.0.2.1" }, "is an IP address"},
		{"bad IP", func(r *Request) { r.IdentifierType, r.Identifier = IdentifierIP, "192.0.2.300" }, "is not a valid IP address"},
		{"IP with zone", func(r *Request) { r.IdentifierType, r.Identifier = IdentifierIP, "fe80::1%eth0" }, "is not a valid IP address"},
		{"dns-01 for an IP", func(r *Request) {
			r.ChallengeType, r.IdentifierType, r.Identifier = ChallengeDNS01, IdentifierIP, "192.0.2.1"
		}, "RFC 8738 §7"},
		{"empty token", func(r *Request) { r.Token = "" }, "is not unpadded base64url"},
		{"token with a path", func(r *Request) { r.Token = "../../etc" }, `token "../../etc" is not unpadded base64url`},
		{"padded token", func(r *Request) { r.Token = "abc=" }, "is not unpadded base64url"},
		{"key authorization of another token", func(r *Request) { r.KeyAuthorization = "other." + testThumb }, "key authorization is not the token"},
		{"key authorization without thumbprint", func(r *Request) { r.KeyAuthorization = testToken + "." }, "key authorization is not the token"},
		{"key authorization with a bad thumbprint", func(r *Request) { r.KeyAuthorization = testToken + ".a/b" }, "key authorization is not the token"},
	}
	// No network is reached: the resolver points at a silent socket.
	v := newValidator(t, silentUDP(t), true, Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.edit(&r)
			checkErr(t, v.Validate(testCtx(t), r), KindMalformed, tc.want)
		})
	}
}
