package acmeproxy

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// maxHookOutput caps how much of a failing hook's output goes into the error.
const maxHookOutput = 512

// execHook returns a dns-01 solver that runs path as
// `path present|cleanup FQDN VALUE`, the interface of lego's exec provider,
// each run bounded by timeout.
func execHook(path string, timeout time.Duration) func(ctx context.Context, action, fqdn, value string) error {
	return func(ctx context.Context, action, fqdn, value string) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, path, action, fqdn, value)
		var out bytes.Buffer
		cmd.Stdout = &out
		cmd.Stderr = &out
		// A child the hook leaves running must not hold the pipes open and
		// stall Run past the timeout.
		cmd.WaitDelay = time.Second
		if err := cmd.Run(); err != nil {
			msg := strings.TrimSpace(out.String())
			if len(msg) > maxHookOutput {
				msg = msg[:maxHookOutput] + "…"
			}
			return fmt.Errorf("dns-01 hook %s %s %s: %w (output: %q)", path, action, fqdn, err, msg)
		}
		return nil
	}
}
