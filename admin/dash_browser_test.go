package admin

import (
	"context"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/acmegate/acmegate/storage"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// newBrowser starts headless Chromium and returns a tab whose context ends
// after timeout (the browser with it). Without Chromium the test is
// skipped, except under CI (CI=true), where it fails.
func newBrowser(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	path := chromiumPath
	if _, err := os.Stat(path); err != nil {
		p, lerr := exec.LookPath("chromium")
		if lerr != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("Chromium is not installed (%v) but CI must run the browser tests: apt-get install chromium", err)
			}
			t.Skipf("Chromium is not installed (%v); apt-get install chromium to run the browser tests", err)
		}
		path = p
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests may run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// The test server's certificate is httptest's self-signed one.
		chromedp.IgnoreCertErrors,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)
	// The first action starts the browser, bound to the tab's context.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return tab
}

// browse runs actions in the tab, failing the test on an error.
func tabDo(t testing.TB, tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(tab, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// text returns the text of the first element sel matches.
func tabText(t testing.TB, tab context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// browserLogin logs the tab in through the login form with token.
func browserLogin(t testing.TB, tab context.Context, base, token string) {
	t.Helper()
	tabDo(t, tab, "log in",
		chromedp.Navigate(base+"/admin/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.CSS("header.top nav")),
	)
}

// TestDashBrowser drives the dashboard in headless Chromium: an operator
// logs in, sees the pending approval on the home page, opens the order,
// approves it, watches the real job runner issue the certificate with the
// local CA, and exports the inventory as CSV through the browser's own
// download.
func TestDashBrowser(t *testing.T) {
	tab := newBrowser(t, 2*time.Minute)
	e := newDashEnv(t, dashEnvOptions{})
	acct := e.account("team-a", time.Now().UTC().Add(-time.Hour), "mailto:web@example.com")
	o := e.awaitingApproval(acct, orderSpec{names: []string{"shop.example.com", "www.shop.example.com"}}, time.Now().UTC().Add(72*time.Hour))

	browserLogin(t, tab, e.ts.URL, e.tokens[storage.RoleOperator])
	if h := tabText(t, tab, "main h1"); h != "Needs attention" {
		t.Fatalf("landing page heading %q", h)
	}
	pending := tabText(t, tab, "main section")
	if !strings.Contains(pending, "shop.example.com") || !strings.Contains(pending, "team-a") {
		t.Fatalf("the home page does not show the pending approval:\n%s", pending)
	}

	link := `a[href="/admin/orders/` + o.ID + `"]`
	tabDo(t, tab, "open the order",
		chromedp.Click(chromedp.CSS(link)),
		chromedp.WaitVisible(chromedp.ID("approve")),
	)
	if tl := tabText(t, tab, "ol.timeline"); !strings.Contains(tl, "Awaiting approval") || !strings.Contains(tl, "shop.example.com: validated") {
		t.Fatalf("timeline before approval:\n%s", tl)
	}
	tabDo(t, tab, "approve",
		chromedp.SendKeys(chromedp.ID("approve-reason"), "ticket CHG-7"),
		chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitVisible(chromedp.CSS("p.flash")),
	)
	if f := tabText(t, tab, "p.flash"); !strings.Contains(f, "approved") {
		t.Fatalf("flash after approving: %q", f)
	}

	// The runner issues the certificate; the operator reloads until the
	// page says so.
	deadline := time.Now().Add(45 * time.Second)
	for {
		h := tabText(t, tab, "main h1")
		if strings.Contains(h, "valid") && !strings.Contains(h, "invalid") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the order page still says %q after 45s", h)
		}
		time.Sleep(200 * time.Millisecond)
		tabDo(t, tab, "reload", chromedp.Reload())
	}
	tl := tabText(t, tab, "ol.timeline")
	for _, want := range []string{"Approved by " + e.names[storage.RoleOperator], "reason: ticket CHG-7", "Certificate issued"} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %q:\n%s", want, tl)
		}
	}
	stored := e.order(o.ID)
	if stored.Status != storage.StatusValid || stored.CertificateID == "" {
		t.Fatalf("stored order %s, certificate %q", stored.Status, stored.CertificateID)
	}
	cert, err := e.st.GetCertificate(e.ctx, stored.CertificateID)
	if err != nil {
		t.Fatal(err)
	}

	// Export the inventory through a real download: the browser saves the
	// attachment under its download GUID in dir.
	dir := t.TempDir()
	if _, err := chromedp.CallBrowser(tab, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: new(true),
	}); err != nil {
		t.Fatalf("set download behaviour: %v", err)
	}
	tabDo(t, tab, "open the inventory",
		chromedp.Navigate(e.ts.URL+"/admin/certificates?directory=team-a"),
		chromedp.WaitVisible(chromedp.ID("csv")),
	)
	dlCtx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	progress := chromedp.BrowserEvents(dlCtx, browser.DownloadProgress)
	tabDo(t, tab, "click Export CSV", chromedp.Click(chromedp.ID("csv")))
	var file string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("waiting for the download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatalf("the download was cancelled")
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			file = filepath.Join(dir, ev.GUID)
			break
		}
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("downloaded file: %v", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("the download is not CSV: %v", err)
	}
	if len(rows) != 2 || rows[0][1] != "serial" || rows[1][1] != cert.Serial || rows[1][2] != "team-a" {
		t.Fatalf("CSV = %v, want the header and certificate %s", rows, cert.Serial)
	}
}
