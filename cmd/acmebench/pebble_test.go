package main

import (
	"strconv"
	"testing"
)

// TestAgainstPebble runs the generator against Debian's Pebble, a
// different ACME implementation than acmegate, in always-valid mode and
// with real http-01 validation through the generator's responders. Pebble
// answers challenges and finalize "processing", so the generator polls.
// One worker: Pebble deadlocks now and then under concurrent clients (the
// reason scripts/bench.sh restarts it for every run and bounds each run).
func TestAgainstPebble(t *testing.T) {
	skipIfShort(t)
	for _, tc := range []struct {
		name        string
		alwaysValid bool
		challenge   string
	}{
		{"always valid", true, challengeNone},
		{"http-01", false, challengeHTTP01},
	} {
		t.Run(tc.name, func(t *testing.T) {
			httpPort, dnsPort := freePort(t), freePort(t)
			p := startPebble(t, tc.alwaysValid, httpPort, dnsPort)
			r := runBench(t, "-directory", p.dirURL, "-ca-root", p.trust, "-c", "1", "-n", "8",
				"-challenge", tc.challenge, "-http-port", strconv.Itoa(httpPort), "-dns-port", strconv.Itoa(dnsPort),
				"-label", "pebble", "-server-pid", strconv.Itoa(p.pid))
			checkClean(t, r, 8)
			rep := r.report
			// At least one poll each for the authorization and the order
			// besides the five requests.
			if rep.RequestsPerIssuance < 7 || rep.RequestsPerIssuance > 20 || rep.Polls < 16 {
				t.Errorf("%.2f requests per issuance and %d polls for 8 issuances", rep.RequestsPerIssuance, rep.Polls)
			}
			if rep.Server == nil || rep.Server.PeakRSSKiB <= 0 {
				t.Errorf("no server memory for pebble: %+v", rep.Server)
			}
		})
	}
}
