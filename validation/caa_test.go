package validation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/acmegate/acmegate/validation/validationtest"
)

const (
	caaSelf  = "acme.example.test"
	caaAcct1 = "https://acme.example.test/acme/acct/1"
	caaAcct2 = "https://acme.example.test/acme/acct/2"
)

func issue(value string) validationtest.CAARecord {
	return validationtest.CAARecord{Tag: "issue", Value: value}
}

func issueWild(value string) validationtest.CAARecord {
	return validationtest.CAARecord{Tag: "issuewild", Value: value}
}

func TestCheckCAA(t *testing.T) {
	const name = "www.example.test"
	tests := []struct {
		name  string
		setup func(s *validationtest.DNSServer)
		// req is completed with Identifier name, Identities [caaSelf],
		// AccountURI caaAcct1 and Method http-01 where left empty.
		req  CAARequest
		kind Kind
		want []string
		// queries are the CAA questions expected, in order; nil skips the
		// check.
		queries []string
	}{
		{name: "no CAA anywhere", setup: func(s *validationtest.DNSServer) {
			s.SetA(name, mustAddr("192.0.2.1"))
		}, queries: []string{name, "example.test", "test"}},
		{name: "no name at all", queries: []string{name, "example.test", "test"}},
		{name: "CAA on the name allows", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf))
			s.SetCAA("example.test", issue(";"))
		}, queries: []string{name}},
		{name: "CAA on the name forbids", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue("letsencrypt.org"))
		}, kind: KindCAA, want: []string{`CAA record for www.example.test allows only "letsencrypt.org" to issue; this CA is "acme.example.test"`},
			queries: []string{name}},
		{name: "CAA on the parent forbids", setup: func(s *validationtest.DNSServer) {
			s.SetCAA("example.test", issue("letsencrypt.org"), issue("pki.goog"))
		}, kind: KindCAA, want: []string{`CAA records for example.test, inherited by www.example.test, allow only "letsencrypt.org", "pki.goog" to issue`},
			queries: []string{name, "example.test"}},
		{name: "CAA on the parent allows", setup: func(s *validationtest.DNSServer) {
			s.SetCAA("example.test", issue("letsencrypt.org"), issue(caaSelf))
		}, queries: []string{name, "example.test"}},
		{name: "CAA on the top-level domain", setup: func(s *validationtest.DNSServer) {
			s.SetCAA("test", issue("letsencrypt.org"))
		}, kind: KindCAA, want: []string{`CAA record for test, inherited by www.example.test, allows only "letsencrypt.org"`},
			queries: []string{name, "example.test", "test"}},
		{name: "closest level with records wins", req: CAARequest{Identifier: "a.b.example.test"}, setup: func(s *validationtest.DNSServer) {
			s.SetA("a.b.example.test", mustAddr("192.0.2.1")) // exists, no CAA; b.example.test is an empty non-terminal
			s.SetCAA("example.test", issue(caaSelf))
			s.SetCAA("test", issue(";"))
		}, queries: []string{"a.b.example.test", "b.example.test", "example.test"}},
		{name: "closer level forbids although the parent allows", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue("letsencrypt.org"))
			s.SetCAA("example.test", issue(caaSelf))
		}, kind: KindCAA, want: []string{`CAA record for www.example.test allows only "letsencrypt.org"`}},

		// issue and issuewild (RFC 8659 §4.2, §4.3).
		{name: "wildcard: issuewild allows, issue forbids", req: CAARequest{Wildcard: true}, setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue("letsencrypt.org"), issueWild(caaSelf))
		}},
		{name: "wildcard: issuewild forbids, issue allows", req: CAARequest{Wildcard: true}, setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf), issueWild("letsencrypt.org"))
		}, kind: KindCAA, want: []string{`CAA issuewild record for www.example.test allows only "letsencrypt.org" to issue wildcard certificates; this CA is "acme.example.test"`}},
		{name: "wildcard: no issuewild, issue allows", req: CAARequest{Wildcard: true}, setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf))
		}},
		{name: "wildcard: no issuewild, issue forbids", req: CAARequest{Wildcard: true}, setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue("letsencrypt.org"))
		}, kind: KindCAA, want: []string{`CAA record for www.example.test allows only "letsencrypt.org" to issue;`}},
		{name: "wildcard: issuewild forbids everyone", req: CAARequest{Wildcard: true}, setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf), issueWild(";"))
		}, kind: KindCAA, want: []string{`CAA issuewild record for www.example.test forbids every CA to issue wildcard certificates (issuewild ";")`}},
		{name: "non-wildcard: issuewild ignored, issue forbids", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue("letsencrypt.org"), issueWild(caaSelf))
		}, kind: KindCAA, want: []string{`CAA record for www.example.test allows only "letsencrypt.org" to issue;`}},
		{name: "non-wildcard: only issuewild", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issueWild(";"))
			s.SetCAA("example.test", issue(";"))
		}, queries: []string{name}},
		{name: `issue ";" forbids everyone`, setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(";"))
		}, kind: KindCAA, want: []string{`CAA record for www.example.test forbids every CA to issue (issue ";")`}},
		{name: `issue ";" next to another CA`, setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(" ; "), issue("letsencrypt.org"))
		}, kind: KindCAA, want: []string{`CAA records for www.example.test allow only "letsencrypt.org" to issue`}},
		{name: "only iodef", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, validationtest.CAARecord{Flag: 128, Tag: "iodef", Value: "mailto:security@example.test"})
		}},

		// Critical flag (RFC 8659 §4.1).
		{name: "critical unknown tag", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf), validationtest.CAARecord{Flag: 128, Tag: "tbs", Value: "Unknown"})
		}, kind: KindCAA, want: []string{`CAA record for www.example.test has the critical property "tbs" (flags 128) that this CA does not understand`}},
		{name: "critical unknown tag with other flag bits", setup: func(s *validationtest.DNSServer) {
			s.SetCAA("example.test", issue(caaSelf), validationtest.CAARecord{Flag: 129, Tag: "Future", Value: "x"})
		}, kind: KindCAA, want: []string{`inherited by www.example.test, has the critical property "Future" (flags 129)`}},
		{name: "non-critical unknown tag", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf), validationtest.CAARecord{Tag: "tbs", Value: "Unknown"})
		}},
		{name: "reserved flag bits are ignored", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf), validationtest.CAARecord{Flag: 1, Tag: "contactemail", Value: "ops@example.test"})
		}},
		{name: "non-critical unknown tag alone", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, validationtest.CAARecord{Tag: "tbs", Value: "Unknown"})
			s.SetCAA("example.test", issue(";"))
		}, queries: []string{name}},

		// RFC 8657 parameters.
		{name: "accounturi matches", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf+"; accounturi="+caaAcct1))
		}},
		{name: "accounturi differs", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf+"; accounturi="+caaAcct2))
		}, kind: KindCAA, want: []string{`CAA record for www.example.test allows "acme.example.test" to issue only for account "` + caaAcct2 + `"; this account is "` + caaAcct1 + `"`}},
		{name: "accounturi differs but another record allows", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf+"; accounturi="+caaAcct2), issue(caaSelf+";accounturi="+caaAcct1))
		}},
		{name: "validationmethods matches", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf+"; validationmethods=dns-01,http-01"))
		}},
		{name: "validationmethods differs", req: CAARequest{Method: ChallengeTLSALPN01}, setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf+"; validationmethods=dns-01,http-01"))
		}, kind: KindCAA, want: []string{`allows "acme.example.test" to issue only after validation by "dns-01,http-01"; this validation used "tls-alpn-01"`}},
		{name: "both parameters match", req: CAARequest{Method: ChallengeDNS01}, setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf+" ; accounturi = "+caaAcct1+" ; validationmethods=dns-01 ;"))
		}},
		{name: "one of two parameters differs", req: CAARequest{Method: ChallengeDNS01}, setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf+"; accounturi="+caaAcct1+"; validationmethods=http-01"))
		}, kind: KindCAA, want: []string{`only after validation by "http-01"; this validation used "dns-01"`}},
		{name: "parameter on another CA's record does not matter", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue("letsencrypt.org; accounturi=https://x.test/1"), issue(caaSelf))
		}},
		{name: "unknown parameter ignored", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf+"; policy=ev"))
		}},
		{name: "malformed parameter", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf+"; accounturi"))
		}, kind: KindCAA, want: []string{`allows "acme.example.test" to issue but its value "acme.example.test; accounturi" is malformed`, `not tag=value`}},
		{name: "malformed validationmethods", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf+"; validationmethods=http-01,,dns-01"))
		}, kind: KindCAA, want: []string{`but its validationmethods "http-01,,dns-01" is malformed`}},
		{name: "malformed issuer domain", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue("acme.example.test."), issue("-bad-.test"))
		}, kind: KindCAA, want: []string{`allow only "acme.example.test.", "-bad-.test" to issue`}},

		// CNAMEs: the records of the alias's target are those of the name
		// (RFC 8659 §3); climbing goes on from the name, not the target.
		{name: "CNAME to a name whose CAA forbids", setup: func(s *validationtest.DNSServer) {
			s.SetCNAME(name, "cdn.provider.test")
			s.SetCAA("cdn.provider.test", issue("letsencrypt.org"))
		}, kind: KindCAA, want: []string{`CAA record for www.example.test (alias of cdn.provider.test) allows only "letsencrypt.org" to issue`},
			queries: []string{name, "cdn.provider.test"}},
		{name: "CNAME to a name whose CAA allows, answered by a recursive resolver", setup: func(s *validationtest.DNSServer) {
			s.SetFollowCNAME(true)
			s.SetCNAME(name, "hop.provider.test")
			s.SetCNAME("hop.provider.test", "cdn.provider.test")
			s.SetCAA("cdn.provider.test", issue(caaSelf))
		}, queries: []string{name}},
		{name: "CNAME to a name without CAA climbs from the name", setup: func(s *validationtest.DNSServer) {
			s.SetCNAME(name, "cdn.provider.test")
			s.SetA("cdn.provider.test", mustAddr("192.0.2.1"))
			s.SetCAA("provider.test", issue(";"))
			s.SetCAA("example.test", issue(caaSelf))
		}, queries: []string{name, "cdn.provider.test", "example.test"}},
		{name: "dangling CNAME climbs", setup: func(s *validationtest.DNSServer) {
			s.SetCNAME(name, "gone.provider.test")
			s.SetCAA("example.test", issue("letsencrypt.org"))
		}, kind: KindCAA, want: []string{`CAA record for example.test, inherited by www.example.test,`},
			queries: []string{name, "gone.provider.test", "example.test"}},
		{name: "CNAME loop", setup: func(s *validationtest.DNSServer) {
			s.SetCNAME(name, "a.loop.test")
			s.SetCNAME("a.loop.test", name)
		}, kind: KindDNS, want: []string{"CAA lookup of www.example.test failed", "CNAME chain too long or looping"}},

		// DNS failures fail closed.
		{name: "SERVFAIL at the name", setup: func(s *validationtest.DNSServer) {
			s.SetRcode(name, dns.RcodeServerFailure)
		}, kind: KindDNS, want: []string{"CAA lookup of www.example.test failed, so issuance cannot be allowed", "SERVFAIL"}},
		{name: "SERVFAIL at the parent", setup: func(s *validationtest.DNSServer) {
			s.SetA(name, mustAddr("192.0.2.1"))
			s.SetRcode("example.test", dns.RcodeServerFailure)
		}, kind: KindDNS, want: []string{"CAA lookup of example.test failed", "SERVFAIL"}},
		{name: "SERVFAIL above the relevant RRset is never asked", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf))
			s.SetRcode("example.test", dns.RcodeServerFailure)
		}, queries: []string{name}},
		{name: "REFUSED", setup: func(s *validationtest.DNSServer) {
			s.SetRcode(name, dns.RcodeRefused)
		}, kind: KindDNS, want: []string{"REFUSED"}},

		// Names and identities.
		{name: "tag and issuer case-insensitive", setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, validationtest.CAARecord{Tag: "ISSUE", Value: "  ACME.Example.TEST  "})
		}},
		{name: "issuewild tag case-insensitive", req: CAARequest{Wildcard: true}, setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf), validationtest.CAARecord{Tag: "IssueWild", Value: "letsencrypt.org"})
		}, kind: KindCAA, want: []string{`CAA issuewild record for www.example.test allows only "letsencrypt.org"`}},
		{name: "identity case-insensitive", req: CAARequest{Identities: []string{"ACME.example.test."}}, setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf))
		}},
		{name: "identifier case and final dot", req: CAARequest{Identifier: "WWW.Example.Test."}, setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue("letsencrypt.org"))
		}, kind: KindCAA, want: []string{"CAA record for www.example.test allows"}, queries: []string{name}},
		{name: "multiple identities, one allowed", req: CAARequest{Identities: []string{"other.test", caaSelf}}, setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(caaSelf))
		}},
		{name: "multiple identities, none allowed", req: CAARequest{Identities: []string{"other.test", caaSelf}}, setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue("letsencrypt.org"))
		}, kind: KindCAA, want: []string{`this CA is any of "other.test", "acme.example.test"`}},
		{name: "blank identity does not match an empty issuer", req: CAARequest{Identities: []string{" "}}, setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(";"))
		}, kind: KindCAA, want: []string{"forbids every CA"}},
		{name: "many issuers listed truncated", setup: func(s *validationtest.DNSServer) {
			var recs []validationtest.CAARecord
			for i := range 7 {
				recs = append(recs, issue(fmt.Sprintf("ca%d.test", i)))
			}
			s.SetCAA(name, recs...)
		}, kind: KindCAA, want: []string{`allow only "ca0.test", `, `"ca4.test", and 2 more to issue`}},
		{name: "empty identities: not checked", req: CAARequest{Identities: []string{}}, setup: func(s *validationtest.DNSServer) {
			s.SetCAA(name, issue(";"))
		}, queries: []string{}},
		{name: "IP address: not checked", req: CAARequest{Identifier: "192.0.2.1"}, queries: []string{}},
		{name: "wildcard label in the identifier", req: CAARequest{Identifier: "*.example.test"},
			kind: KindMalformed, want: []string{"pass the base domain"}, queries: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newDNSServer(t)
			if tc.setup != nil {
				tc.setup(s)
			}
			v := newValidator(t, s.Addr(), false, Config{})
			req := tc.req
			if req.Identifier == "" {
				req.Identifier = name
			}
			if req.Identities == nil {
				req.Identities = []string{caaSelf}
			}
			if req.AccountURI == "" {
				req.AccountURI = caaAcct1
			}
			if req.Method == "" {
				req.Method = ChallengeHTTP01
			}
			checkErr(t, v.CheckCAA(testCtx(t), req), tc.kind, tc.want...)
			if tc.queries == nil {
				return
			}
			got := []string{}
			for _, q := range s.Queries() {
				if q.Type != dns.TypeCAA {
					t.Errorf("query for %s %s, want only CAA", dns.TypeToString[q.Type], q.Name)
				}
				got = append(got, strings.TrimSuffix(q.Name, "."))
			}
			if diff := cmp.Diff(tc.queries, got); diff != "" {
				t.Errorf("CAA queries (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckCAATimeoutAndCancel(t *testing.T) {
	req := CAARequest{Identifier: "www.example.test", Identities: []string{caaSelf}, AccountURI: caaAcct1, Method: ChallengeHTTP01}

	t.Run("silent resolver", func(t *testing.T) {
		v := newValidator(t, "", false, Config{Resolvers: []string{silentUDP(t)}, Timeout: 400 * time.Millisecond})
		start := time.Now()
		err := v.CheckCAA(testCtx(t), req)
		checkErr(t, err, KindDNS, "CAA lookup of www.example.test failed", "timed out")
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("took %v, want it bounded by Config.Timeout", took)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		s := newDNSServer(t)
		v := newValidator(t, s.Addr(), false, Config{})
		ctx, cancel := context.WithCancel(testCtx(t))
		cancel()
		err := v.CheckCAA(ctx, req)
		checkErr(t, err, KindDNS, "CAA lookup of www.example.test failed")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v does not unwrap to context.Canceled", err)
		}
	})
}

func TestParseIssueValue(t *testing.T) {
	tests := []struct {
		value  string
		issuer string
		params []caaParam
		err    string
	}{
		{value: "ca.example", issuer: "ca.example"},
		{value: " CA.Example ", issuer: "ca.example"},
		{value: ";"},
		{value: ""},
		{value: "ca.example;", issuer: "ca.example"},
		{value: "ca.example; AccountURI=https://ca.example/a/1 ;\tvalidationmethods = dns-01", issuer: "ca.example",
			params: []caaParam{{"accounturi", "https://ca.example/a/1"}, {"validationmethods", "dns-01"}}},
		{value: "ca.example; a=b=c", issuer: "ca.example", params: []caaParam{{"a", "b=c"}}},
		{value: "ca.example; a=", issuer: "ca.example", params: []caaParam{{"a", ""}}},
		{value: "ca.example; a", issuer: "ca.example", err: "not tag=value"},
		{value: "ca.example; -a=b", issuer: "ca.example", err: "parameter tag"},
		{value: "ca.example; a=b c", issuer: "ca.example", err: "space or a non-ASCII"},
		{value: "ca.example; a=é", issuer: "ca.example", err: "space or a non-ASCII"},
		{value: "ca example", issuer: "ca example", err: "not a domain name"},
		{value: "ca..example", issuer: "ca..example", err: "not a domain name"},
		{value: "ca-.example", issuer: "ca-.example", err: "not a domain name"},
		{value: "x--y.example", issuer: "x--y.example"},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			p := parseIssueValue(tc.value)
			if p.issuer != tc.issuer {
				t.Errorf("issuer = %q, want %q", p.issuer, tc.issuer)
			}
			if tc.err != "" {
				if p.err == nil || !strings.Contains(p.err.Error(), tc.err) {
					t.Errorf("err = %v, want one containing %q", p.err, tc.err)
				}
				return
			}
			if p.err != nil {
				t.Fatalf("err = %v", p.err)
			}
			if diff := cmp.Diff(tc.params, p.params, cmp.AllowUnexported(caaParam{})); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
		})
	}
}
