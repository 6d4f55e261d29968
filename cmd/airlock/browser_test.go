package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The browser test drives the web portal of `airlock authority serve
// --portal` in Debian's Chromium, with playwright-core from the npm
// registry (testdata/browser: the lock file pins it and its hash). The
// node script does one step per run and prints what it saw as JSON; this
// test decides whether that is right, and checks the ledger with the
// command line afterwards.

const (
	// envRequireBrowser set to 1 turns a missing node, npm or Chromium
	// into a failure instead of a skip (make test sets it under root,
	// where test-deps installs Chromium).
	envRequireBrowser = "AIRLOCK_REQUIRE_BROWSER"
	// envChromium names the Chromium binary; default /usr/bin/chromium.
	envChromium = "AIRLOCK_CHROMIUM"
	// envArtifacts names the folder of the screenshots; default
	// bin/artifacts/browser at the module's root.
	envArtifacts = "AIRLOCK_ARTIFACTS"

	// browserStepTimeout bounds one step of the script: launching
	// Chromium, signing in and a few pages, on a server slowed about five
	// times by the race detector on a loaded 2-core machine.
	browserStepTimeout = 4 * time.Minute
	// browserWaitTimeout bounds each wait inside a step (an element, a
	// navigation, a download).
	browserWaitTimeout = 90 * time.Second
)

// browserTools returns the paths of node, npm and Chromium, or skips the
// test (fails it under AIRLOCK_REQUIRE_BROWSER=1) when one is missing.
func browserTools(t *testing.T) (node, npm, chromium string) {
	t.Helper()
	var missing []string
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node (Debian: apt-get install nodejs)")
	}
	npm, err = exec.LookPath("npm")
	if err != nil {
		missing = append(missing, "npm (Debian: apt-get install npm)")
	}
	chromium = os.Getenv(envChromium)
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if fi, err := os.Stat(chromium); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		missing = append(missing, chromium+" (Debian: apt-get install chromium; or set "+envChromium+")")
	}
	if len(missing) > 0 {
		msg := "the browser test needs " + strings.Join(missing, ", ")
		if os.Getenv(envRequireBrowser) == "1" {
			t.Fatal(msg + " (" + envRequireBrowser + "=1)")
		}
		t.Skip(msg)
	}
	return node, npm, chromium
}

// moduleRoot returns the folder of go.mod above the package's folder.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = up
	}
}

// browserModules installs testdata/browser's locked packages with npm ci
// into the user's cache, in a folder named by the lock file's hash so a
// new lock gets a new folder and an old one is reused, and returns its
// node_modules. Nothing is installed inside the repository.
func browserModules(t *testing.T, npm, src string) string {
	t.Helper()
	lock, err := os.ReadFile(filepath.Join(src, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile(filepath.Join(src, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	sum := sha256.Sum256(append(append([]byte{}, manifest...), lock...))
	dir := filepath.Join(cache, "airlock-browser", hex.EncodeToString(sum[:8]))
	modules := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "playwright-core", "package.json")); err == nil {
		t.Logf("browser packages: %s (cached)", modules)
		return modules
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	// Installed beside, then renamed into place: a run killed half-way
	// or another one at the same time never leaves a half folder under
	// the final name.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	for name, b := range map[string][]byte{"package.json": manifest, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = tmp
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		// Most often the registry is out of reach: a skip, as for a
		// missing tool, unless the browser test is required.
		msg := fmt.Sprintf("npm ci of testdata/browser's packages: %v\n%s", err, out)
		if os.Getenv(envRequireBrowser) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(modules, "playwright-core", "package.json")); serr != nil {
			t.Fatal(err)
		}
	}
	t.Logf("browser packages: installed in %s with npm ci in %v", modules, time.Since(start).Round(time.Millisecond))
	return modules
}

// browserArtifacts returns the folder of the screenshots, made empty.
func browserArtifacts(t *testing.T, root string) string {
	t.Helper()
	dir := os.Getenv(envArtifacts)
	if dir == "" {
		dir = filepath.Join(root, "bin", "artifacts", "browser")
	} else {
		dir = filepath.Join(dir, "browser")
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser runs the node script's steps.
type browser struct {
	node, script string
	base         map[string]any // options every step gets
}

// run runs one step with the options opts added to the base ones, and
// decodes what the script printed into out.
func (b *browser) run(t *testing.T, step string, opts map[string]any, out any) {
	t.Helper()
	all := map[string]any{}
	for k, v := range b.base {
		all[k] = v
	}
	for k, v := range opts {
		all[k] = v
	}
	arg, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(b.node, b.script, step, string(arg))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	start := time.Now()
	select {
	case err = <-done:
	case <-time.After(browserStepTimeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("browser step %s did not finish in %v\n%s%s", step, browserStepTimeout, stdout.String(), stderr.String())
	}
	if err != nil {
		t.Fatalf("browser step %s: %v\n%s%s", step, err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), out); err != nil {
		t.Fatalf("browser step %s printed no result: %v\n%s%s", step, err, stdout.String(), stderr.String())
	}
	t.Logf("browser step %s: %v", step, time.Since(start).Round(time.Millisecond))
}

// stepResult is what every step reports besides its own findings.
type stepResult struct {
	OK          bool     `json:"ok"`
	Problems    []string `json:"problems"` // accessibility problems of the pages visited
	Screenshots []string `json:"screenshots"`
}

func (r *stepResult) check(t *testing.T, step string) {
	t.Helper()
	if !r.OK {
		t.Fatalf("browser step %s did not report ok", step)
	}
	for _, p := range r.Problems {
		t.Errorf("browser step %s: accessibility: %s", step, p)
	}
}

// airlockCLI runs the command line in-process and fails the test unless it
// exits 0; it returns standard output.
func airlockCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	code, stdout, stderr := runApp(t, stdin, args...)
	if code != 0 {
		t.Fatalf("airlock %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

func TestPortalInTheBrowser(t *testing.T) {
	node, npm, chromium := browserTools(t)
	root := moduleRoot(t)
	src := filepath.Join(root, "cmd", "airlock", "testdata", "browser")
	modules := browserModules(t, npm, src)
	artifacts := browserArtifacts(t, root)
	t.Logf("screenshots: %s", artifacts)

	work := t.TempDir()
	t.Chdir(work)
	desk := filepath.Join(work, "desk")
	t.Setenv(envAuthorityDir, desk)
	t.Setenv(envPassphrase, "browser-test-passphrase-not-secret")
	t.Setenv(envActor, "")
	t.Setenv(envDB, "")
	t.Setenv(testNowEnv, "")

	const (
		udi     = "P:VMS,S:cam-1,U:0f2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b"
		admin   = "ann@acme.example"
		viewer  = "vic@acme.example"
		vendor  = "sam@vendor.example"
		adminPW = "ann-browser-test-password"
		viewPW  = "vic-browser-test-password"
	)
	airlockCLI(t, "", "authority", "init", "--name", "ACME licensing")
	airlockCLI(t, "", "authority", "org", "add", "acme")
	airlockCLI(t, "", "authority", "account", "add", "--org", "acme", "plant")
	airlockCLI(t, "", "authority", "lot", "add", "--account", "acme/plant", "--tag", "vms.camera.core", "--count", "25", "--perpetual")
	airlockCLI(t, "", "authority", "org", "add", "globex")
	airlockCLI(t, "", "authority", "account", "add", "--org", "globex", "hq")
	airlockCLI(t, "", "authority", "lot", "add", "--account", "globex/hq", "--tag", "vms.camera.core", "--count", "7", "--perpetual")
	airlockCLI(t, "", "authority", "person", "add", "--email", vendor, "--name", "Sam", "--role", "vendor")
	t.Setenv(envActor, vendor)
	airlockCLI(t, "", "authority", "person", "add", "--email", admin, "--name", "Ann", "--role", "admin", "--org", "acme")
	airlockCLI(t, "", "authority", "person", "add", "--email", viewer, "--name", "Vic", "--role", "viewer", "--org", "acme")
	airlockCLI(t, adminPW+"\n", "authority", "person", "password", "--email", admin, "--password-stdin")
	airlockCLI(t, viewPW+"\n", "authority", "person", "password", "--email", viewer, "--password-stdin")

	site := filepath.Join(work, "site")
	airlockCLI(t, "", "instance", "--state", site, "init", "--udi", udi, "--trust", filepath.Join(desk, "trust.airlock"))
	airlockCLI(t, "", "instance", "--state", site, "enable")
	request := strings.TrimSpace(airlockCLI(t, "", "instance", "--state", site, "request", "--license", "vms.camera.core=3"))

	// Each person's cookies go from one browser step to the next, so that
	// they sign in once, within the sign-in rate limit of their account.
	adminState := filepath.Join(work, "admin-browser-state.json")
	srv := startPortal(t, desk)
	b := &browser{node: node, script: filepath.Join(src, "portal.mjs"), base: map[string]any{
		"url": srv.url, "chromium": chromium, "modules": modules, "artifacts": artifacts,
		"timeoutMs": browserWaitTimeout.Milliseconds(), "org": "acme", "otherOrg": "globex",
		"spki": certSPKI(t, filepath.Join(desk, "tls.crt")),
	}}

	// a) The administrator reserves from the pasted request code, with the
	// keyboard alone from the Licenses page on, and downloads the file.
	var reserved struct {
		stepResult
		Banner        string         `json:"banner"`
		ReserveBanner string         `json:"reserveBanner"`
		Tabs          map[string]int `json:"tabs"`
		Review        string         `json:"review"`
		Reserved      string         `json:"reserved"`
		Typed         string         `json:"typed"`
		Filename      string         `json:"filename"`
	}
	authFile := filepath.Join(work, "downloaded.airlock")
	b.run(t, "reserve", map[string]any{"email": admin, "password": adminPW, "state": adminState, "request": request, "download": authFile}, &reserved)
	reserved.check(t, "reserve")
	if reserved.Banner != "acme" || reserved.ReserveBanner != "acme" {
		t.Errorf("organization banner %q on Licenses and %q on Reserve, want acme on both", reserved.Banner, reserved.ReserveBanner)
	}
	t.Logf("presses of Tab: %v", reserved.Tabs)
	for _, want := range []string{udi, "3 vms.camera.core", "acme/plant"} {
		if !strings.Contains(reserved.Review, want) {
			t.Errorf("the review does not show %q:\n%s", want, reserved.Review)
		}
	}
	if !strings.HasPrefix(reserved.Typed, "AU-") {
		t.Errorf("the reserved page's typed code is %q, want AU-…", reserved.Typed)
	}
	for _, want := range []string{udi, "3 vms.camera.core", "acme/plant"} {
		if !strings.Contains(reserved.Reserved, want) {
			t.Errorf("the reserved page does not show %q:\n%s", want, reserved.Reserved)
		}
	}
	if !strings.HasPrefix(reserved.Filename, "authorization-") || !strings.HasSuffix(reserved.Filename, ".airlock") {
		t.Errorf("downloaded file named %q, want authorization-….airlock", reserved.Filename)
	}
	if av, rs, tr := balance(t, "acme/plant"); av != 22 || rs != 3 || tr != 0 {
		t.Fatalf("after the reservation in the browser acme/plant has %d available, %d reserved, %d in transition; want 22, 3, 0", av, rs, tr)
	}

	// b) The site installs the downloaded file. A first reservation makes
	// no confirmation code: only an update does, so the administrator opens
	// the instance in the portal, cuts it to 2, reviews and issues the
	// update, and downloads it; the site installs that file and prints a
	// confirmation code.
	airlockCLI(t, "", "instance", "--state", site, "install-file", authFile)
	status := airlockCLI(t, "", "instance", "--state", site, "status")
	if !strings.Contains(status, "vms.camera.core") {
		t.Errorf("instance status after installing the downloaded file:\n%s", status)
	}
	var updated struct {
		stepResult
		Instance string   `json:"instance"`
		Review   pageText `json:"review"`
		Updated  pageText `json:"updated"`
		Typed    string   `json:"typed"`
		Filename string   `json:"filename"`
	}
	updateFile := filepath.Join(work, "update.airlock")
	b.run(t, "update", map[string]any{"email": admin, "password": adminPW, "state": adminState, "udi": udi, "tag": "vms.camera.core", "count": 2, "download": updateFile}, &updated)
	updated.check(t, "update")
	for _, want := range []string{udi, "acme/plant", "3 vms.camera.core"} {
		if !strings.Contains(updated.Instance, want) {
			t.Errorf("the instance page does not show %q:\n%s", want, updated.Instance)
		}
	}
	updated.Review.want(t, "update review", "Review the update", udi, "vms.camera.core")
	updated.Updated.want(t, "updated", "", udi, "serial 2", "2 vms.camera.core", "Enter a confirmation code")
	if !strings.HasPrefix(updated.Typed, "AU-") || !strings.HasPrefix(updated.Filename, "authorization-") {
		t.Errorf("the update page shows code %q and downloads %q, want AU-… and authorization-….airlock", updated.Typed, updated.Filename)
	}
	confirmation := lastLine(airlockCLI(t, "", "instance", "--state", site, "install-file", updateFile))
	if !strings.HasPrefix(confirmation, "CF-") {
		t.Fatalf("the instance printed %q on installing the downloaded update, want a confirmation code CF-…", confirmation)
	}
	if av, rs, tr := balance(t, "acme/plant"); av != 22 || rs != 2 || tr != 1 {
		t.Fatalf("after the update acme/plant has %d available, %d reserved, %d in transition; want 22, 2, 1", av, rs, tr)
	}

	// c) The administrator enters the confirmation code in the portal.
	var confirmed struct {
		stepResult
		Heading string `json:"heading"`
		Banner  string `json:"banner"`
		Applied string `json:"applied"`
	}
	b.run(t, "confirm", map[string]any{"email": admin, "password": adminPW, "state": adminState, "code": confirmation}, &confirmed)
	confirmed.check(t, "confirm")
	if confirmed.Heading != "Confirmed" || confirmed.Banner != "acme" {
		t.Errorf("after the confirmation code: heading %q in organization %q, want Confirmed in acme\n%s", confirmed.Heading, confirmed.Banner, confirmed.Applied)
	}
	for _, want := range []string{udi, "serial 2", "1 vms.camera.core"} {
		if !strings.Contains(confirmed.Applied, want) {
			t.Errorf("the confirmation page does not show %q:\n%s", want, confirmed.Applied)
		}
	}

	// d) The viewer reads acme, is refused Reserve, and cannot read globex.
	var viewed struct {
		stepResult
		Orgs           []string `json:"orgs"`
		LicensesStatus int      `json:"licensesStatus"`
		Banner         string   `json:"banner"`
		ReserveLinks   int      `json:"reserveLinks"`
		ReserveStatus  int      `json:"reserveStatus"`
		ReserveHeading string   `json:"reserveHeading"`
		ReserveAlert   string   `json:"reserveAlert"`
		ReserveForms   int      `json:"reserveForms"`
		OtherStatus    int      `json:"otherStatus"`
		OtherHeading   string   `json:"otherHeading"`
		OtherText      string   `json:"otherText"`
		OtherBanner    string   `json:"otherBanner"`
	}
	b.run(t, "viewer", map[string]any{"email": viewer, "password": viewPW}, &viewed)
	viewed.check(t, "viewer")
	if len(viewed.Orgs) != 1 || viewed.Orgs[0] != "acme" {
		t.Errorf("the viewer's organizations: %q, want only acme", viewed.Orgs)
	}
	if viewed.LicensesStatus != 200 || viewed.Banner != "acme" || viewed.ReserveLinks != 0 {
		t.Errorf("the viewer's Licenses page: status %d, banner %q, %d Reserve links; want 200, acme, none", viewed.LicensesStatus, viewed.Banner, viewed.ReserveLinks)
	}
	if viewed.ReserveStatus != 403 || viewed.ReserveHeading != "Not allowed" || viewed.ReserveForms != 0 ||
		!strings.Contains(viewed.ReserveAlert, "not change them") {
		t.Errorf("the viewer at Reserve: status %d, heading %q, %d forms, alert %q; want 403, Not allowed, no form, a message that says the viewer may not change licenses",
			viewed.ReserveStatus, viewed.ReserveHeading, viewed.ReserveForms, viewed.ReserveAlert)
	}
	if viewed.OtherStatus != 403 && viewed.OtherStatus != 404 {
		t.Errorf("the viewer at globex's licenses: status %d, want 403 or 404\n%s", viewed.OtherStatus, viewed.OtherText)
	}
	if viewed.OtherBanner != "" || strings.Contains(viewed.OtherText, "hq") || strings.Contains(viewed.OtherText, "Owned") {
		t.Errorf("the viewer at globex's licenses sees organization %q or its accounts:\n%s", viewed.OtherBanner, viewed.OtherText)
	}

	// The ledger, from the command line: the reservation holds 2 after the
	// confirmation released 1, the history is intact, and it names ann
	// for what she did in the browser.
	if av, rs, tr := balance(t, "acme/plant"); av != 23 || rs != 2 || tr != 0 {
		t.Errorf("after the confirmation acme/plant has %d available, %d reserved, %d in transition; want 23, 2, 0", av, rs, tr)
	}
	if av, rs, tr := balance(t, "globex/hq"); av != 7 || rs != 0 || tr != 0 {
		t.Errorf("globex/hq has %d available, %d reserved, %d in transition; want 7, 0, 0", av, rs, tr)
	}
	airlockCLI(t, "", "authority", "verify")
	var history []struct {
		Actor    string `json:"actor"`
		Action   string `json:"action"`
		Instance string `json:"instance"`
		Detail   string `json:"detail"`
	}
	if err := json.Unmarshal([]byte(airlockCLI(t, "", "authority", "history", "--json")), &history); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, h := range history {
		if h.Instance == udi {
			seen[h.Action] = h.Actor
		}
	}
	for _, action := range []string{"reserve", "update", "confirm"} {
		if seen[action] != admin {
			t.Errorf("history: %s of %s by %q, want %s (history: %v)", action, udi, seen[action], admin, seen)
		}
	}

	// e) The administrator redeems a license key the vendor issued into a
	// product's wallet.
	airlockCLI(t, "", "authority", "product", "add", "--org", "acme", "--software", "vms", "site-1")
	key := lastLine(airlockCLI(t, "", "authority", "key", "issue", "--product", "vms", "--tag", "vms.camera.core", "--count", "10", "--years", "3"))
	var redeemed struct {
		stepResult
		Review   pageText `json:"review"`
		Redeemed pageText `json:"redeemed"`
	}
	b.run(t, "redeem", map[string]any{"email": admin, "password": adminPW, "state": adminState, "product": "site-1", "key": key}, &redeemed)
	redeemed.check(t, "redeem")
	redeemed.Review.want(t, "redeem review", "", "site-1", "vms.camera.core", "30")
	redeemed.Redeemed.want(t, "redeemed", "", "redeemed into the wallet of acme/site-1", "vms.camera.core")
	var wallet struct {
		Totals []struct {
			Tag   string `json:"tag"`
			Count int64  `json:"count"`
		} `json:"totals"`
	}
	if err := json.Unmarshal([]byte(airlockCLI(t, "", "authority", "wallet", "show", "--org", "acme", "--product", "site-1", "--json")), &wallet); err != nil {
		t.Fatal(err)
	}
	if len(wallet.Totals) != 1 || wallet.Totals[0].Tag != "vms.camera.core" || wallet.Totals[0].Count != 30 {
		t.Errorf("the wallet of acme/site-1 after redeeming in the browser: %+v, want 30 vms.camera.core", wallet.Totals)
	}

	// f) The administrator allocates activation codes the vendor sold to a
	// fleet product, past the warning that it cannot be undone.
	airlockCLI(t, "", "authority", "pool", "product", "add", "--org", "acme", "--pk", "PK-LOCK", "--name", "locks")
	airlockCLI(t, "", "authority", "pool", "buy", "--org", "acme", "--package", "trial", "--validity", "20d", "--count", "20", "--reference", "PO-8")
	var allocated struct {
		stepResult
		Review    pageText `json:"review"`
		Warning   string   `json:"warning"`
		Allocated pageText `json:"allocated"`
	}
	b.run(t, "allocate", map[string]any{"email": admin, "password": adminPW, "state": adminState, "product": "PK-LOCK", "count": 6}, &allocated)
	allocated.check(t, "allocate")
	if !strings.Contains(allocated.Warning, "irreversible") {
		t.Errorf("the allocation review warns %q, want that allocating is irreversible", allocated.Warning)
	}
	allocated.Review.want(t, "allocation review", "", "PK-LOCK", "trial", "20")
	allocated.Allocated.want(t, "allocated", "", "6 codes of package trial", "PK-LOCK", "14")
	var pools struct {
		Unallocated []struct {
			Package string `json:"package"`
			Count   int64  `json:"count"`
		} `json:"unallocated"`
	}
	if err := json.Unmarshal([]byte(airlockCLI(t, "", "authority", "pool", "show", "--org", "acme", "--json")), &pools); err != nil {
		t.Fatal(err)
	}
	if len(pools.Unallocated) != 1 || pools.Unallocated[0].Package != "trial" || pools.Unallocated[0].Count != 14 {
		t.Errorf("after allocating 6 of 20 in the browser, pool show says %+v unallocated, want 14 of trial", pools.Unallocated)
	}

	// g) A gateway on the site activates two locks on 20-day codes; the
	// administrator sees them in the near-expiry list.
	gw := filepath.Join(work, "gateway")
	airlockCLI(t, "", "instance", "--state", gw, "init", "--udi", "P:GW,S:gw-1,U:5b1e7c2a-3d4f-4a6b-8c9d-0e1f2a3b4c5d", "--trust", filepath.Join(desk, "trust.airlock"))
	airlockCLI(t, "", "instance", "--state", gw, "device", "add", "--pk", "PK-LOCK", "lock-01", "lock-02")
	airlockCLI(t, "", "instance", "--state", gw, "activation", "request", "--out", filepath.Join(work, "gw-request.airlock"))
	airlockCLI(t, "", "authority", "activation", "process", "--out", filepath.Join(work, "gw-activation.airlock"), filepath.Join(work, "gw-request.airlock"))
	airlockCLI(t, "", "instance", "--state", gw, "activation", "install", filepath.Join(work, "gw-activation.airlock"))
	var near struct {
		stepResult
		List   pageText `json:"list"`
		Rows   []string `json:"rows"`
		Charts int      `json:"charts"`
	}
	b.run(t, "nearExpiry", map[string]any{"email": admin, "password": adminPW}, &near)
	near.check(t, "nearExpiry")
	if len(near.Rows) != 2 || !strings.Contains(near.Rows[0]+near.Rows[1], "lock-01") || !strings.Contains(near.Rows[0]+near.Rows[1], "lock-02") {
		t.Errorf("the near-expiry list has rows %q, want lock-01 and lock-02", near.Rows)
	}
	if near.Charts < 1 {
		t.Errorf("the near-expiry page has no chart:\n%s", near.List.Text)
	}

	shots := append(append(append(reserved.Screenshots, updated.Screenshots...), confirmed.Screenshots...), viewed.Screenshots...)
	shots = append(append(append(shots, redeemed.Screenshots...), allocated.Screenshots...), near.Screenshots...)
	t.Logf("%d screenshots in %s", len(shots), artifacts)
	select {
	case <-srv.done:
		t.Errorf("authority serve ended during the test: %v", srv.cmd.ProcessState)
	default:
	}
}

// pageText is a page's h1 and the text of its main element.
type pageText struct {
	Heading string `json:"heading"`
	Text    string `json:"text"`
}

// want checks the heading (unless "") and that the text holds each of
// subs.
func (p pageText) want(t *testing.T, what, heading string, subs ...string) {
	t.Helper()
	if heading != "" && p.Heading != heading && !strings.Contains(p.Text, heading) {
		t.Errorf("%s: heading %q, want %q", what, p.Heading, heading)
	}
	for _, s := range subs {
		if !strings.Contains(p.Text, s) {
			t.Errorf("%s: the page does not show %q:\n%s", what, s, p.Text)
		}
	}
}

// lastLine returns the last line of a command's output, trimmed.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.TrimSpace(s[strings.LastIndex(s, "\n")+1:])
}

// A portal is an `airlock authority serve --portal` child.
type portal struct {
	cmd  *exec.Cmd
	url  string
	log  *bytes.Buffer
	done chan struct{} // closed when the child has exited
}

// startPortal starts `airlock authority serve --portal` on a free
// loopback port and waits until it listens. The child is killed when the
// test ends.
func startPortal(t *testing.T, desk string) *portal {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "portal.addr")
	s := &portal{log: new(bytes.Buffer), done: make(chan struct{})}
	s.cmd = exec.Command("airlock", "authority", "serve", "--dir", desk, "--portal", "--listen", "127.0.0.1:0",
		"--address-file", addrFile)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
		if t.Failed() {
			t.Logf("authority serve's log:\n%s", s.log)
		}
	})
	deadline := time.After(2 * time.Minute)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		b, err := os.ReadFile(addrFile)
		if err == nil && bytes.HasSuffix(b, []byte("\n")) {
			s.url = "https://" + strings.TrimSpace(string(b))
			break
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		select {
		case <-s.done:
			t.Fatalf("authority serve ended before it listened: %v\n%s", s.cmd.ProcessState, s.log)
		case <-deadline:
			t.Fatalf("authority serve did not listen in 2 minutes:\n%s", s.log)
		case <-tick.C:
		}
	}
	t.Logf("portal at %s", s.url)
	return s
}

// certSPKI returns the base64 SHA-256 of the public key of the PEM
// certificate in file, as Chromium's --ignore-certificate-errors-spki-list
// takes it: the browser then trusts that key alone, as an instance pins
// tls.crt.
func certSPKI(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", file)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// balance returns what `airlock authority licenses --json` says of
// vms.camera.core in the account ref.
func balance(t *testing.T, ref string) (available, reserved, inTransition int64) {
	t.Helper()
	var bs []struct {
		Account      string `json:"account"`
		Tag          string `json:"tag"`
		Available    int64  `json:"available"`
		Reserved     int64  `json:"reserved"`
		InTransition int64  `json:"in_transition"`
	}
	if err := json.Unmarshal([]byte(airlockCLI(t, "", "authority", "licenses", "--account", ref, "--json")), &bs); err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Account == ref && b.Tag == "vms.camera.core" {
			return b.Available, b.Reserved, b.InTransition
		}
	}
	t.Fatalf("licenses: no vms.camera.core in %s: %+v", ref, bs)
	return 0, 0, 0
}
