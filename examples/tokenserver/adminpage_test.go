package main

// The admin page: mounted at /admin (without a browser), and in a real
// browser: the real binary, and headless Chromium driven over the DevTools
// protocol with chromedp. Every state of the page is screenshotted under
// the test's temporary directory (or KEYTURN_SCREENSHOT_DIR, which outlives
// the test); with KEYTURN_UPDATE_SCREENSHOT=1 the signed-in list is also
// written to docs/admin.png, the README's picture.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// chromium finds the browser: /usr/bin/chromium or chromium on PATH. Without
// it the test is skipped, except under CI, where .ci/run installs it and
// its absence is a failure.
func chromium(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed, and CI is set: .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium); skipping the browser tests")
	return ""
}

// cspRecorder runs in every document before the page's own script: it
// records Content-Security-Policy violations and would-be alert dialogs for
// the test to read. (Scripts injected over DevTools are not subject to the
// page's CSP.)
const cspRecorder = `window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI), true);`

// tab is one browser tab and what it saw: every request's URL, and the
// problems (uncaught exceptions, CSP reports in the browser log, JavaScript
// dialogs) that fail the test.
type tab struct {
	t     *testing.T
	ctx   context.Context
	shots string // screenshots go here

	mu       sync.Mutex
	requests []string
	problems []string
}

// newBrowser starts Chromium with the flags of issue 17 and a fresh
// profile, and returns its first tab. The browser stops with the test.
func newBrowser(t *testing.T) *tab {
	t.Helper()
	exe := chromium(t)
	dir := t.TempDir()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
	)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	shots := filepath.Join(dir, "screenshots")
	if d := os.Getenv("KEYTURN_SCREENSHOT_DIR"); d != "" {
		shots = d // kept after the test, to look at
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", shots)
	return openTab(t, ctx, shots)
}

// openTab sets up the recording on the tab of ctx.
func openTab(t *testing.T, ctx context.Context, shots string) *tab {
	t.Helper()
	b := &tab{t: t, ctx: ctx, shots: shots}
	if err := chromedp.Listen(ctx, b.listen); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	b.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspRecorder})
		return err
	}))
	return b
}

// listen runs on chromedp's reading goroutine: it only records.
func (b *tab) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, ev.Request.URL)
	case *runtime.EventExceptionThrown:
		b.problems = append(b.problems, "uncaught exception: "+ev.ExceptionDetails.Text+" "+exceptionText(ev.ExceptionDetails))
	case *log.EventEntryAdded:
		if ev.Entry.Source == log.EntrySourceSecurity || strings.Contains(ev.Entry.Text, "Content Security Policy") {
			b.problems = append(b.problems, "browser log: "+ev.Entry.Text)
		}
	case *page.EventJavascriptDialogOpening:
		b.problems = append(b.problems, "a JavaScript dialog opened: "+ev.Message)
	}
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}

// do runs the actions, failing the test (with a screenshot) on error.
func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail("%v", err)
	}
}

// fail takes a screenshot of the failure and stops the test.
func (b *tab) fail(format string, args ...any) {
	b.t.Helper()
	b.screenshotQuiet("failure")
	b.t.Fatalf(format, args...)
}

// eval returns the value of a JavaScript expression.
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail("evaluating %s: %v", expr, err)
	}
	return v
}

// wait waits until the JavaScript expression is truthy.
func (b *tab) wait(expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		b.fail("waiting for %s: %v; the page's messages: %q %q", expr, err, b.text("#error"), b.text("#status"))
	}
}

// text is the text of the first element matching the CSS selector, "" when
// there is none.
func (b *tab) text(sel string) string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	q, _ := json.Marshal(sel)
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%s) || {}).textContent || ""`, q)))
	return s
}

// shown reports whether the element of the selector is displayed.
func shown(sel string) string {
	q, _ := json.Marshal(sel)
	return fmt.Sprintf(`(() => { const e = document.querySelector(%s); return !!e && e.offsetParent !== null; })()`, q)
}

// screenshot writes a full-page PNG of the current state and returns it.
func (b *tab) screenshot(name string) []byte {
	b.t.Helper()
	png, err := b.screenshotQuiet(name)
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	return png
}

func (b *tab) screenshotQuiet(name string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return nil, err
	}
	return png, os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644)
}

// axNames returns the accessible names of the page's controls, by role, as
// Chromium's accessibility tree has them (hidden parts are left out).
func (b *tab) axNames() map[string][]string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	res, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (accessibility.GetFullAXTreeResult, error) {
		return cdp.Call(ctx, tg, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	})
	if err != nil {
		b.fail("accessibility tree: %v", err)
	}
	names := map[string][]string{}
	for _, n := range res.Nodes {
		if n.Ignored || n.Role == nil || n.Name == nil {
			continue
		}
		var role, name string
		json.Unmarshal(n.Role.Value, &role)
		json.Unmarshal(n.Name.Value, &name)
		if name != "" {
			names[role] = append(names[role], name)
		}
	}
	return names
}

// checkClean fails the test on any problem the tab saw and on any request
// to an origin other than origin; it also checks that requests were seen
// at all, so that the check cannot pass by hearing nothing.
func (b *tab) checkClean(origin string) {
	b.t.Helper()
	if v := eval[[]string](b, `window.__csp || ["the recorder is missing"]`); len(v) > 0 {
		b.t.Errorf("CSP violations: %q", v)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("%s", p)
	}
	sawScript := false
	for _, u := range b.requests {
		if sameOrigin(u, origin) {
			sawScript = sawScript || strings.HasSuffix(u, "/admin/app.js")
			continue
		}
		b.t.Errorf("a request to another origin: %s", u)
	}
	if !sawScript {
		b.t.Errorf("no request for /admin/app.js was seen among %d: the network is not being watched", len(b.requests))
	}
}

func sameOrigin(raw, origin string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme+"://"+u.Host == origin
}

// signInPassword signs in with a user's name and password, from the keyboard
// (Enter submits the form), and waits for the key list.
func (b *tab) signInPassword(user, password string) {
	b.t.Helper()
	b.do(
		setValue("username", ""),
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), password+kb.Enter),
	)
	b.wait(shown("#app") + ` && document.querySelectorAll("#keys tbody tr").length > 0`)
}

// signInKey signs in with an admin key and waits for the key list.
func (b *tab) signInKey(key string) {
	b.t.Helper()
	b.do(chromedp.SendKeys(chromedp.ID("admin-key"), key+kb.Enter))
	b.wait(shown("#app") + ` && document.querySelectorAll("#keys tbody tr").length > 0`)
}

// create fills in the create form and submits it. scopes are the signed-in
// scopes to tick; extra goes into the field for narrower ones.
func (b *tab) create(name string, scopes []string, extra string, lifetime int) {
	b.t.Helper()
	b.do(chromedp.SendKeys(chromedp.ID("key-name"), name))
	for _, s := range scopes {
		b.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#scope-options input[value=%q]`, s))))
	}
	if extra != "" {
		b.do(chromedp.SendKeys(chromedp.ID("extra-scope"), extra))
	}
	b.do(setValue("lifetime", fmt.Sprint(lifetime)),
		chromedp.Click(chromedp.ID("create-button")))
}

// newKey waits for the new key panel and returns the key it shows.
func (b *tab) newKey() string {
	b.t.Helper()
	b.wait(shown("#new-key") + ` && document.getElementById("new-key-value").value !== ""`)
	return eval[string](b, `document.getElementById("new-key-value").value`)
}

// setValue sets the value of the form field with the id. (chromedp.SetValue
// refuses the empty value.)
func setValue(id, v string) chromedp.Action[chromedp.Void] {
	q, _ := json.Marshal(id)
	w, _ := json.Marshal(v)
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById(%s).value = %s`, q, w))
}

// fitsWidth is the page's width, or 10000 when it is wider than the
// window and scrolls sideways.
const fitsWidth = `(() => { const d = document.documentElement;
  return d.scrollWidth <= d.clientWidth ? d.scrollWidth : 10000; })()`

// row selects the list's row of the key id.
func row(id string) string { return fmt.Sprintf(`#keys tr[data-id=%q]`, id) }

// exchangeKey posts the key to the token endpoint over plain HTTP, as a client
// program would, and returns the status and body.
func exchangeKey(p *proc, key string) resp {
	return p.do("POST", "/oauth/token", bearer(key), "")
}

const (
	xssName  = `<img src=x onerror=alert(1)>`
	adaUser  = "ada"
	adaPass  = "correct horse"
	adaScope = "read:api_keys read:participants read:users write:api_keys"
	bobUser  = "bob"
	bobPass  = "battery staple"
)

// The example server mounts the page at /admin, told its own paths; this
// runs without a browser.
func TestAdminPageServed(t *testing.T) {
	_, base, _ := testServer(t)
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/admin", 200, `data-token-path="/oauth/token" data-password-path="/authorization" data-admin-path="/v1/api_keys"`},
		{"GET", "/admin/app.js", 200, `"use strict"`},
		{"GET", "/admin/app.css", 200, ":root"},
		{"GET", "/admin/icon.svg", 200, "<svg"},
		{"GET", "/admin/nothing", 404, ""},
		{"POST", "/admin", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := call(t, tt.method, base+tt.path, "", "")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d", r.status, tt.status)
			}
			if csp := r.header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'; script-src 'self';") ||
				!strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("headers %v", r.header)
			}
			if !strings.Contains(r.raw, tt.body) {
				t.Errorf("body lacks %s", tt.body)
			}
		})
	}
}

func TestAdminPageInBrowser(t *testing.T) {
	b := newBrowser(t)
	p := start(t, nil, "memory", "-user", adaUser+":"+adaPass+":"+adaScope, "-user", bobUser+":"+bobPass+":read:api_keys")
	admin := p.bootstrapKey()
	b.do(chromedp.EmulateViewport(1280, 900), chromedp.Navigate(p.base+"/admin"))
	b.wait(shown("#signin"))

	// The steps build on each other: the first failure ends the test.
	// Within a step, the helpers report to the step.
	step := func(name string, f func(t *testing.T)) {
		parent := t
		ok := t.Run(name, func(t *testing.T) {
			b.t, p.t = t, t
			defer func() { b.t, p.t = parent, parent }()
			f(t)
		})
		if !ok {
			t.FailNow()
		}
	}

	step("signed out: the controls and their names", func(t *testing.T) {
		b.screenshot("1-sign-in")
		names := b.axNames()
		for role, want := range map[string][]string{
			"textbox": {"Username", "Password", "Admin key"},
			"button":  {"Sign in", "Sign in"},
		} {
			for _, n := range want {
				if !slices.Contains(names[role], n) {
					t.Errorf("no %s named %q; the %ss are %q", role, n, role, names[role])
				}
			}
		}
		if n := len(slices.DeleteFunc(slices.Clone(names["button"]), func(s string) bool { return s != "Sign in" })); n != 2 {
			t.Errorf("%d buttons named Sign in, want 2 (one per form)", n)
		}
		if slices.Contains(names["button"], "Sign out") {
			t.Error("Sign out is offered before signing in")
		}
		if got := eval[string](b, `document.activeElement.id`); got != "username" {
			t.Errorf("focus starts on %q, want username", got)
		}
	})

	step("a wrong password is refused in words", func(t *testing.T) {
		b.do(chromedp.SendKeys(chromedp.ID("username"), adaUser),
			chromedp.SendKeys(chromedp.ID("password"), "wrong horse"+kb.Enter))
		b.wait(`document.getElementById("error").textContent !== ""`)
		if got := b.text("#error"); got != "The username or password is wrong." {
			t.Errorf("error %q", got)
		}
		b.screenshot("2-wrong-password")
		b.do(setValue("username", ""))
	})

	step("sign in with a name and password, from the keyboard", func(t *testing.T) {
		b.signInPassword(adaUser, adaPass)
		if got := b.text("#who"); !strings.Contains(got, "Signed in as ada") || !strings.Contains(got, "write:api_keys") {
			t.Errorf("who: %q", got)
		}
		if v := eval[string](b, `document.getElementById("password").value`); v != "" {
			t.Error("the password stays in its field after signing in")
		}
		if eval[string](b, `document.cookie`) != "" || eval[int](b, `localStorage.length + sessionStorage.length`) != 0 {
			t.Error("the page stored something in cookies or Web Storage")
		}
		names := b.axNames()
		for role, want := range map[string][]string{
			"button":     {"Sign out", "Create key", "Revoke", "Rotate secret"},
			"textbox":    {"Name"},
			"group":      {"Scope"},
			"spinbutton": {"Token lifetime"},
		} {
			for _, n := range want {
				if !slices.Contains(names[role], n) {
					t.Errorf("no %s named %q; the %ss are %q", role, n, role, names[role])
				}
			}
		}
		// The list shows every column of the contract.
		for _, col := range []string{"Name", "ID", "Scope", "Token lifetime", "Owner", "Created", "Last used", "Expires", "Status"} {
			if !slices.Contains(names["columnheader"], col) {
				t.Errorf("no column %q; the columns are %q", col, names["columnheader"])
			}
		}
		// The scopes offered are the signed-in ones.
		offered := eval[[]string](b, `Array.from(document.querySelectorAll("#scope-options input"), (e) => e.value)`)
		if got := strings.Join(offered, " "); got != adaScope {
			t.Errorf("scopes offered %q, want %q", got, adaScope)
		}
		b.screenshot("3-signed-in-password")
	})

	var key, id string
	step("create a key with a hostile name; it is shown once and works", func(t *testing.T) {
		b.create(xssName, []string{"read:users"}, "", 600)
		key = b.newKey()
		if !strings.HasPrefix(key, "ds_live_") {
			t.Fatalf("the page shows %q as the new key", key)
		}
		id, _ = split(key)
		if got := b.text("#new-key"); !strings.Contains(got, "you will not see this again") {
			t.Errorf("the new key panel does not warn that it is shown once: %q", got)
		}
		if names := b.axNames(); !slices.Contains(names["button"], "Copy") {
			t.Errorf("no button named Copy; the buttons are %q", names["button"])
		}
		b.screenshot("4-new-key")
		r := p.want(exchangeKey(p, key), 200, "exchanging the key copied from the page")
		if r.body["scope"] != "read:users" || r.body["expires_in"] != float64(600) {
			t.Errorf("token response %s", r.raw)
		}
	})

	step("the hostile name is shown as text", func(t *testing.T) {
		b.wait(shown(row(id)))
		if got := b.text(row(id) + " td.name"); got != xssName {
			t.Errorf("name cell %q, want %q", got, xssName)
		}
		if n := eval[int](b, `document.querySelectorAll("img").length`); n != 0 {
			t.Errorf("%d img elements in the page", n)
		}
		for _, want := range []string{"read:users", "10 min", "user:ada", "never", "Active"} {
			if got := b.text(row(id)); !strings.Contains(got, want) {
				t.Errorf("the row %q lacks %q", got, want)
			}
		}
	})

	step("Copy puts the key on the clipboard", func(t *testing.T) {
		b.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			for _, name := range []string{"clipboard-read", "clipboard-write"} {
				if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
					Permission: &browser.PermissionDescriptor{Name: name}, Setting: "granted", Origin: p.base,
				}); err != nil {
					return err
				}
			}
			return nil
		}))
		b.do(chromedp.Focus(chromedp.ID("copy")))
		if got := eval[string](b, `document.activeElement.textContent`); got != "Copy" {
			t.Errorf("the focused Copy button is %q", got)
		}
		b.do(chromedp.KeyEvent(kb.Enter)) // the button, from the keyboard
		b.wait(`document.getElementById("copy-status").textContent !== ""`)
		if got := b.text("#copy-status"); got != "Copied to the clipboard." {
			t.Errorf("copy status %q", got)
		}
		if got := eval[string](b, `navigator.clipboard.readText()`); got != key {
			t.Errorf("the clipboard holds %q, want the key", got)
		}
	})

	step("hiding the new key removes it from the page", func(t *testing.T) {
		b.do(chromedp.Click(chromedp.ID("dismiss")))
		b.wait(`!(` + shown("#new-key") + `)`)
		if eval[bool](b, fmt.Sprintf(`document.body.textContent.includes(%q) || document.getElementById("new-key-value").value !== ""`, key)) {
			t.Error("the key is still in the page")
		}
	})

	step("a scope wider than one's own is refused in words", func(t *testing.T) {
		b.create("too wide", nil, "introspect", 900)
		b.wait(`document.getElementById("error").textContent !== ""`)
		if got := b.text("#error"); !strings.Contains(got, "That scope is wider than your own permissions") {
			t.Errorf("error %q", got)
		}
		if eval[bool](b, shown("#new-key")) {
			t.Error("a key is shown after a refusal")
		}
		b.screenshot("5-wider-scope")
		b.do(setValue("key-name", ""), setValue("extra-scope", ""))
	})

	var rotated string
	step("rotate the key after a confirmation", func(t *testing.T) {
		b.do(chromedp.Click(chromedp.CSS(row(id) + " button.rotate")))
		b.wait(`document.getElementById("confirm").open`)
		if got := b.text("#confirm-text"); !strings.Contains(got, id) {
			t.Errorf("the confirmation does not name the key: %q", got)
		}
		b.screenshot("6-rotate-confirm")
		b.do(chromedp.Click(chromedp.ID("confirm-ok")))
		rotated = b.newKey()
		if rotated == key || !strings.HasPrefix(rotated, "ds_live_"+id+"_") {
			t.Fatalf("rotation showed %q", rotated)
		}
		b.screenshot("7-rotated")
		p.want(exchangeKey(p, rotated), 200, "the rotated key")
		if r := exchangeKey(p, key); r.status != 401 {
			t.Errorf("the old secret after a rotation without grace: %d %s", r.status, r.raw)
		}
		b.do(chromedp.Click(chromedp.ID("dismiss")))
	})

	step("revoke the key after a confirmation; cancelling changes nothing", func(t *testing.T) {
		b.do(chromedp.Click(chromedp.CSS(row(id) + " button.revoke")))
		b.wait(`document.getElementById("confirm").open`)
		b.screenshot("8-revoke-confirm")
		b.do(chromedp.Click(chromedp.ID("confirm-cancel")))
		b.wait(`!document.getElementById("confirm").open`)
		p.want(exchangeKey(p, rotated), 200, "the key after a cancelled revocation")

		b.do(chromedp.Click(chromedp.CSS(row(id) + " button.revoke")))
		b.wait(`document.getElementById("confirm").open`)
		b.do(chromedp.Click(chromedp.ID("confirm-ok")))
		b.wait(fmt.Sprintf(`(document.querySelector(%q) || {}).textContent === "Revoked"`, row(id)+" td.state"))
		if eval[bool](b, fmt.Sprintf(`!!document.querySelector(%q)`, row(id)+" button")) {
			t.Error("a revoked key still offers Revoke or Rotate secret")
		}
		b.screenshot("9-revoked")
		if r := exchangeKey(p, rotated); r.status != 401 || r.body["error"] != "invalid_client" {
			t.Errorf("the revoked key's exchange: %d %s", r.status, r.raw)
		}
	})

	step("sign out forgets everything", func(t *testing.T) {
		b.do(chromedp.Click(chromedp.ID("sign-out")))
		b.wait(shown("#signin") + ` && !(` + shown("#app") + `)`)
		if n := eval[int](b, `document.querySelectorAll("#keys tbody tr, #scope-options input").length`); n != 0 {
			t.Errorf("%d rows or scopes remain after signing out", n)
		}
		if eval[bool](b, fmt.Sprintf(`document.body.textContent.includes(%q)`, id)) {
			t.Error("the key list is still in the page")
		}
		b.screenshot("10-signed-out")
	})

	step("a wrong admin key is refused in words", func(t *testing.T) {
		// The refusal is a 401 with a Basic challenge: the page asks
		// without credentials mode, so no browser sign-in prompt appears.
		adminID, _ := split(admin)
		b.do(chromedp.SendKeys(chromedp.ID("admin-key"), "ds_live_"+adminID+"_NotTheSecret"+kb.Enter))
		b.wait(`document.getElementById("error").textContent !== ""`)
		if got := b.text("#error"); got != "That admin key was not accepted: it may be mistyped, revoked or expired." {
			t.Errorf("error %q", got)
		}
		if eval[bool](b, shown("#app")) {
			t.Error("signed in with a wrong key")
		}
		b.do(setValue("admin-key", ""))
	})

	var entity string // a key made with a compound scope
	step("sign in with an admin key; compound scopes", func(t *testing.T) {
		b.signInKey(admin)
		adminID, _ := split(admin)
		if got := b.text("#who"); !strings.Contains(got, "admin key "+adminID) || !strings.Contains(got, "target-entity:*:*") {
			t.Errorf("who: %q", got)
		}
		if v := eval[string](b, `document.getElementById("admin-key").value`); v != "" {
			t.Error("the admin key stays in its field after signing in")
		}
		b.create("entity E1", nil, "target-entity:E1:write,read", 3599)
		k := b.newKey()
		entity = k
		r := p.want(exchangeKey(p, k), 200, "a key with a compound scope")
		if r.body["scope"] != "target-entity:E1:read,write" || r.body["expires_in"] != float64(3599) {
			t.Errorf("token response %s", r.raw)
		}
		b.do(chromedp.Click(chromedp.ID("dismiss")))
		b.wait(`!(` + shown("#new-key") + `)`)
		b.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
		if w := eval[int](b, fitsWidth); w > 1280 {
			t.Errorf("the signed-in page is %d px wide at 1280", w)
		}
		png := b.screenshot("11-signed-in-key")
		if os.Getenv("KEYTURN_UPDATE_SCREENSHOT") == "1" {
			if err := os.WriteFile(filepath.Join("..", "..", "docs", "admin.png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Log("wrote docs/admin.png")
		}
	})

	step("rotate with a grace period: the old secret keeps working", func(t *testing.T) {
		entityID, _ := split(entity)
		b.do(chromedp.Click(chromedp.CSS(row(entityID) + " button.rotate")))
		b.wait(`document.getElementById("confirm").open`)
		b.do(setValue("grace", "300"), chromedp.Click(chromedp.ID("confirm-ok")))
		next := b.newKey()
		if next == entity {
			t.Fatal("the rotation showed the old key")
		}
		p.want(exchangeKey(p, next), 200, "the new secret")
		p.want(exchangeKey(p, entity), 200, "the old secret within its grace period")
		b.do(chromedp.Click(chromedp.ID("dismiss")))
	})

	step("an ended session returns to the sign-in form", func(t *testing.T) {
		// A second admin key signs in; revoked behind the page's back, its
		// token is refused at the next request.
		tok := p.tokenFor(admin)
		r := p.want(p.do("POST", "/v1/api_keys", map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"},
			`{"name":"short-lived admin","scope":"read:api_keys write:api_keys"}`), 201, "creating an admin key")
		second := r.body["key"].(string)
		b.do(chromedp.Click(chromedp.ID("sign-out")))
		b.signInKey(second)
		p.want(p.do("DELETE", "/v1/api_keys/"+r.body["id"].(string), bearer(tok), ""), 204, "revoking it")
		b.do(chromedp.Click(chromedp.ID("refresh")))
		b.wait(shown("#signin"))
		if got := b.text("#error"); got != "Your session has expired: sign in again." {
			t.Errorf("error %q", got)
		}
		if got := eval[string](b, `document.activeElement.id`); got != "username" {
			t.Errorf("focus after the session ended: %q", got)
		}
		b.screenshot("12-session-ended")
	})

	step("a user who may only read sees no way to change keys", func(t *testing.T) {
		b.signInPassword(bobUser, bobPass)
		if eval[bool](b, shown("#create")) {
			t.Error("the create form is offered without write:api_keys")
		}
		if n := eval[int](b, `document.querySelectorAll("#keys button").length`); n != 0 {
			t.Errorf("%d Revoke or Rotate secret buttons without write:api_keys", n)
		}
		if got := b.text("#keys-note"); !strings.Contains(got, "write:api_keys") {
			t.Errorf("the note says %q", got)
		}
		b.screenshot("13-read-only")
		b.do(chromedp.Click(chromedp.ID("sign-out")))
		b.wait(shown("#signin"))
	})

	step("revoking the key one signed in with signs out", func(t *testing.T) {
		tok := p.tokenFor(admin)
		r := p.want(p.do("POST", "/v1/api_keys", map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"},
			`{"name":"revokes itself","scope":"read:api_keys write:api_keys"}`), 201, "creating an admin key")
		self, selfID := r.body["key"].(string), r.body["id"].(string)
		b.signInKey(self)
		b.do(chromedp.Click(chromedp.CSS(row(selfID) + " button.revoke")))
		b.wait(`document.getElementById("confirm").open`)
		b.do(chromedp.Click(chromedp.ID("confirm-ok")))
		b.wait(shown("#signin"))
		if got := b.text("#error"); got != "You revoked the key you signed in with, so you are signed out." {
			t.Errorf("error %q", got)
		}
		if r := exchangeKey(p, self); r.status != 401 {
			t.Errorf("the revoked key's exchange: %d %s", r.status, r.raw)
		}
	})

	step("readable at 400 px", func(t *testing.T) {
		// A phone 400 px wide (overlay scrollbars, as on phones).
		b.do(chromedp.EmulateViewport(400, 800, chromedp.EmulateMobile))
		if w := eval[int](b, fitsWidth); w > 400 {
			t.Errorf("the sign-in page is %d px wide at 400", w)
		}
		b.screenshot("14-narrow-sign-in")
		b.signInPassword(adaUser, adaPass)
		b.create("a key with a long name that has to wrap somewhere on a narrow screen", []string{"read:participants", "read:users"}, "", 900)
		b.newKey()
		if w := eval[int](b, fitsWidth); w > 400 {
			t.Errorf("the signed-in page is %d px wide at 400", w)
		}
		b.screenshot("15-narrow-signed-in")
		if !eval[bool](b, shown(row(id))) {
			t.Error("the revoked key is not in the narrow list")
		}
		b.do(chromedp.Click(chromedp.CSS(`#keys tbody tr.active button.rotate`)))
		b.wait(`document.getElementById("confirm").open`)
		if w := eval[int](b, fitsWidth); w > 400 {
			t.Errorf("the page with the dialog is %d px wide at 400", w)
		}
		b.screenshot("16-narrow-dialog")
		b.do(chromedp.KeyEvent(kb.Escape)) // Escape cancels
		b.wait(`!document.getElementById("confirm").open`)
	})

	step("no CSP violation, no error, no request to another origin", func(t *testing.T) {
		b.checkClean(p.base)
	})

	step("the checks see a violation", func(t *testing.T) {
		// A second tab breaks the policy on purpose: the same recording
		// must catch it, or the clean bill above means nothing.
		ctx, cancel := chromedp.NewContext(b.ctx)
		defer cancel()
		other := openTab(t, ctx, b.shots)
		other.do(chromedp.Navigate(p.base + "/admin"))
		other.wait(shown("#signin"))
		other.do(chromedp.Evaluate[chromedp.Void](`{
			try { // HTML from a string: refused by Trusted Types
				const s = document.createElement("script");
				s.textContent = "window.inline = 1";
				document.body.append(s);
			} catch (e) {}
			document.body.setAttribute("style", "outline: 1px solid red"); // inline style
			const i = new Image(); // an image from another origin
			i.src = "http://192.0.2.1/x.png";
			document.body.append(i);
		}`))
		other.wait(`window.__csp.length >= 3`)
		got := strings.Join(eval[[]string](other, `window.__csp`), "\n")
		for _, want := range []string{"require-trusted-types-for", "style-src-attr", "img-src http://192.0.2.1/x.png"} {
			if !strings.Contains(got, want) {
				t.Errorf("no %s violation among %q", want, got)
			}
		}
		if eval[bool](other, `window.inline === 1`) {
			t.Error("an inline script ran")
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			other.mu.Lock()
			n := len(other.problems)
			other.mu.Unlock()
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the browser log reported no CSP violation")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
