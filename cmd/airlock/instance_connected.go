package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
	"github.com/airlock-dev/airlock/instance"
)

// Flags of the connected-mode commands.
const (
	flagDirect    = "direct"
	flagSatellite = "satellite"
	flagProxy     = "proxy"
	flagProxyUser = "proxy-user"
	flagCA        = "ca"
	flagPrivate   = "private"
	flagOff       = "off"
	flagOnce      = "once"
	flagTimeout   = "timeout"
)

// envProxyPassword holds the proxy's password for scripts and the agent;
// on a terminal it is asked for instead. It is never stored.
const envProxyPassword = "AIRLOCK_PROXY_PASSWORD"

// connectedHints are the hints of the connected-mode sentinels.
var connectedHints = []struct {
	sentinel error
	hint     string
}{
	{instance.ErrOffline, "set the licensing service with 'airlock instance transport --direct URL' (or --satellite URL)"},
	{instance.ErrNotRegistered, "'airlock instance status' shows the registration; 'airlock instance register TOKEN' makes one"},
	{instance.ErrTransport, "write the service as https://host[:port] and a proxy as http://host:port; the proxy's user goes in --proxy-user, its password in " + envProxyPassword + " or the prompt"},
	{instance.ErrProxy, "check the proxy (airlock instance transport shows it), --proxy-user and " + envProxyPassword},
	{instance.ErrTLS, "pin the service's certificate with 'airlock instance transport --ca FILE' (the authority's tls.crt), or check the URL's host name"},
	{instance.ErrUnreachable, "nothing changed here; the agent tries again after a backoff ('airlock instance status' shows when)"},
	{instance.ErrBadAnswer, "check that the URL is an airlock licensing service (airlock instance transport)"},
	{instance.ErrExportRefused, "the service's reason is above; ask the licensing desk, or cancel the request with 'airlock instance export cancel FEATURE'"},
	{instance.ErrNotExportControlled, "'airlock instance status' lists the installed licenses and which are export-controlled"},
	{instance.ErrNoExport, "'airlock instance export status' lists the export requests waiting"},
	{instance.ErrExportDisabled, "install the answer to the return first ('airlock instance export status' shows it)"},
}

func init() { hints = append(hints, connectedHints...) }

// serviceHint adds what to do about the service's answer.
func serviceHint(err error) error {
	var se *instance.ServiceError
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code {
	case api.CodeNotRegistered:
		return withHint(err, "the service does not know this instance (removed at the authority?): 'airlock instance deregister', then register again with a token")
	case api.CodeTokenSpent:
		return withHint(err, "ask the licensing desk for a new registration token ('airlock authority token create')")
	case api.CodeUnauthenticated:
		return withHint(err, "the service does not hold this instance's key: check that the URL is the service this instance registered with")
	case api.CodeReplayed:
		return withHint(err, "run the command again: the next request carries a higher sequence number")
	case api.CodeConflict:
		return withHint(err, "registered with the service already (an answer lost?): 'airlock instance re-register TOKEN' registers it again")
	case api.CodeRateLimited, api.CodeUnavailable:
		if se.RetryAfter > 0 {
			return withHint(err, fmt.Sprintf("try again in %s", se.RetryAfter))
		}
		return withHint(err, "try again later")
	}
	return err
}

// openConnected checks that a connected-mode command has no argument,
// then opens the instance and its client of the service, which the
// caller closes.
func openConnected(c *cli.Context) (*instance.Instance, *instance.Client, error) {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return nil, nil, err
	}
	in, err := openInstance(c)
	if err != nil {
		return nil, nil, err
	}
	return in, connectedClient(c), nil
}

// connectedClient is the client of the connected-mode calls: the proxy's
// password comes from AIRLOCK_PROXY_PASSWORD or, on a terminal, a prompt
// without echo, asked at most once per command.
func connectedClient(c *cli.Context) *instance.Client {
	stdin, stderr := c.App.Reader, c.App.ErrWriter
	var once sync.Once
	var password string
	var perr error
	cl := &instance.Client{Timeout: c.Duration(flagTimeout)}
	cl.ProxyPassword = func(user string) (string, error) {
		once.Do(func() {
			if p, ok := os.LookupEnv(envProxyPassword); ok {
				password = p
				return
			}
			f, ok := stdin.(*os.File)
			if !ok || !isTerminal(f) {
				perr = fmt.Errorf("the proxy needs the password of user %q: set %s, or run the command on a terminal to type it", user, envProxyPassword)
				return
			}
			p, err := askSecret(f, stderr, "password of proxy user "+user)
			if err != nil {
				perr = fmt.Errorf("reading the password: %w", err)
				return
			}
			password = string(p)
		})
		return password, perr
	}
	return cl
}

// timeoutFlag bounds each call to the service.
func timeoutFlag() cli.Flag {
	return &cli.DurationFlag{Name: flagTimeout, Value: instance.DefaultTimeout, Usage: "give up a call to the service after `DURATION`"}
}

const instanceTransportDescription = `transport sets how the instance reaches its licensing service in
connected mode, or shows the setting when given no option.

--direct URL names the vendor's service (airlock authority serve), and
--satellite URL a satellite on the site; both speak the same protocol,
over HTTPS only: write https://host[:port]. Either starts a new setting,
with the --proxy, --proxy-user, --ca and --private given beside it.
Without them, --proxy, --proxy-user, --ca and --private change the
current setting (for example, add a proxy to the direct URL set before).
--off goes back to offline mode (codes only); a registration stays until
'airlock instance deregister'.

--proxy http://host:port sends every call through an HTTP proxy with
CONNECT: the TLS session runs from the instance to the service through
it. --proxy-user USER authenticates to the proxy (Basic); its password
is never stored nor given on the command line: it is read from
AIRLOCK_PROXY_PASSWORD, or asked on the terminal without echo, each time
a command calls the service. The environment's HTTPS_PROXY is ignored:
the setting alone says whether a proxy is used.

--ca FILE pins the PEM certificates the service's certificate must chain
to (the authority's tls.crt, or the site's CA), instead of the system's
roots. The file is copied into the state folder; a copy changed outside
airlock is refused.

--private withholds the hostname and the IP addresses from the
registration.

Examples:

    $ airlock instance transport --direct https://licensing.example.com:8443 --ca tls.crt
    airlock: transport: direct https://licensing.example.com:8443, CA pinned
    $ airlock instance transport --proxy http://proxy.plant.example:3128 --proxy-user lic
    airlock: transport: direct https://licensing.example.com:8443 through proxy http://proxy.plant.example:3128 as lic, CA pinned
    $ airlock instance transport
    transport        direct
    url              https://licensing.example.com:8443
    proxy            http://proxy.plant.example:3128, user lic (password from AIRLOCK_PROXY_PASSWORD or the prompt)
    ca               pinned, sha256 6a0e…
    private          no

With --json, the setting is one JSON object: kind ("offline", "direct"
or "satellite"), url, proxy, proxy_user (null when unset), ca_sha256
(null for the system's roots) and private.

Exit status: 0 when the setting was changed or shown; 1 when the state
cannot be read or written, or the CA file not read; 2 for a wrong
command line (including a malformed URL).`

func instanceTransportCommand() *cli.Command {
	return &cli.Command{
		Name:        "transport",
		Usage:       "set or show how the instance reaches its licensing service (connected mode)",
		UsageText:   "airlock instance transport [--direct URL | --satellite URL | --off] [--proxy URL [--proxy-user USER]] [--ca FILE] [--private] [--json] [--state DIR]",
		Description: instanceTransportDescription,
		Flags: instanceFlags(
			&cli.StringFlag{Name: flagDirect, Usage: "the vendor's licensing service at `URL` (https://host[:port])"},
			&cli.StringFlag{Name: flagSatellite, Usage: "a satellite at `URL` (https://host[:port])"},
			&cli.StringFlag{Name: flagProxy, Usage: "call through the HTTP proxy at `URL` (http://host:port), with CONNECT"},
			&cli.StringFlag{Name: flagProxyUser, Usage: "authenticate to the proxy as `USER`; the password comes from " + envProxyPassword + " or the prompt"},
			&cli.StringFlag{Name: flagCA, Usage: "trust the PEM certificates in `FILE` for the service instead of the system's roots"},
			&cli.BoolFlag{Name: flagPrivate, Usage: "withhold the hostname and IP addresses from registration"},
			&cli.BoolFlag{Name: flagOff, Usage: "go back to offline mode"},
			&cli.BoolFlag{Name: flagJSON, Usage: "print the setting as JSON"},
		),
		OnUsageError: onUsageError,
		Action:       instanceTransport,
	}
}

func instanceTransport(c *cli.Context) error {
	cmd := c.Command.HelpName
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	direct, sat := c.IsSet(flagDirect), c.IsSet(flagSatellite)
	change := direct || sat || c.IsSet(flagOff) || c.IsSet(flagProxy) || c.IsSet(flagProxyUser) || c.IsSet(flagCA) || c.IsSet(flagPrivate)
	switch {
	case direct && sat:
		return usagef(cmd, "", "give --%s or --%s, not both", flagDirect, flagSatellite)
	case c.Bool(flagOff) && (direct || sat || c.IsSet(flagProxy) || c.IsSet(flagProxyUser) || c.IsSet(flagCA) || c.IsSet(flagPrivate)):
		return usagef(cmd, "", "--%s takes no other option", flagOff)
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	cur, err := in.Transport()
	if err != nil {
		return err
	}
	if !change {
		if c.Bool(flagJSON) {
			return writeJSON(c, transportJSONOf(cur))
		}
		return writeResult(c.App.Writer, transportText(cur))
	}
	next := cur
	switch {
	case c.Bool(flagOff):
		next = instance.Transport{}
	case direct || sat:
		next = instance.Transport{Kind: instance.TransportDirect, URL: c.String(flagDirect)}
		if sat {
			next = instance.Transport{Kind: instance.TransportSatellite, URL: c.String(flagSatellite)}
		}
	case cur.Kind == instance.TransportOffline:
		return usagef(cmd, "for example: --direct https://licensing.example.com:8443", "no service is set: give --%s URL or --%s URL first", flagDirect, flagSatellite)
	}
	if c.IsSet(flagProxy) {
		next.Proxy = c.String(flagProxy)
		if !c.IsSet(flagProxyUser) {
			next.ProxyUser = ""
		}
	}
	if c.IsSet(flagProxyUser) {
		next.ProxyUser = c.String(flagProxyUser)
	}
	if c.IsSet(flagPrivate) {
		next.Private = c.Bool(flagPrivate)
	}
	if c.IsSet(flagCA) {
		b, err := readFile(c.String(flagCA), instance.MaxCASize)
		if err != nil {
			return fmt.Errorf("--%s: %w", flagCA, err)
		}
		next.CA = b
	}
	if err := in.SetTransport(next); err != nil {
		if errors.Is(err, instance.ErrTransport) {
			return usagef(cmd, "write the service as https://host[:port] and a proxy as http://host:port; the proxy's password never goes in the URL", "%v", err)
		}
		return err
	}
	w := c.App.ErrWriter
	note(w, "transport: %s", describeTransport(next))
	if next.Kind == instance.TransportOffline {
		if cs, err := in.Connected(); err == nil && cs.Registered {
			warn(w, "still registered with %s: renewals stop until a transport is set again; 'airlock instance deregister' ends the registration", cs.Account)
		}
	}
	return nil
}

// describeTransport is the setting on one line.
func describeTransport(t instance.Transport) string {
	if t.Kind == instance.TransportOffline {
		return "offline (codes only)"
	}
	s := t.Kind.String() + " " + t.URL
	if t.Proxy != "" {
		s += " through proxy " + t.Proxy
		if t.ProxyUser != "" {
			s += " as " + t.ProxyUser
		}
	}
	if t.CA != nil {
		s += ", CA pinned"
	}
	if t.Private {
		s += ", private"
	}
	return s
}

type transportJSON struct {
	Kind      string  `json:"kind"`
	URL       *string `json:"url"`
	Proxy     *string `json:"proxy"`
	ProxyUser *string `json:"proxy_user"`
	CASHA256  *string `json:"ca_sha256"`
	Private   bool    `json:"private"`
}

func transportJSONOf(t instance.Transport) *transportJSON {
	j := &transportJSON{Kind: t.Kind.String(), URL: optString(t.URL), Proxy: optString(t.Proxy), ProxyUser: optString(t.ProxyUser), Private: t.Private}
	if t.CA != nil {
		sum := sha256.Sum256(t.CA)
		s := hex.EncodeToString(sum[:])
		j.CASHA256 = &s
	}
	return j
}

func transportText(t instance.Transport) []byte {
	var b bytes.Buffer
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-16s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("transport", "%s", t.Kind)
	if t.Kind == instance.TransportOffline {
		return b.Bytes()
	}
	line("url", "%s", t.URL)
	switch {
	case t.Proxy == "":
		line("proxy", "none")
	case t.ProxyUser == "":
		line("proxy", "%s", t.Proxy)
	default:
		line("proxy", "%s, user %s (password from %s or the prompt)", t.Proxy, t.ProxyUser, envProxyPassword)
	}
	if t.CA != nil {
		sum := sha256.Sum256(t.CA)
		line("ca", "pinned, sha256 %x", sum)
	} else {
		line("ca", "the system's roots")
	}
	if t.Private {
		line("private", "yes: the hostname and IP addresses are withheld from registration")
	} else {
		line("private", "no")
	}
	return b.Bytes()
}

const instanceRegisterDescription = `register registers the instance with its licensing service (see
airlock instance transport) using a registration token from the
licensing desk or the site's administrator (TK-…; - reads it from
standard input, which keeps it out of the process list). It leaves the
evaluation: reservation is enabled, a request code for the licenses
asked for with --license is sent with the token, and the authorization
code of the answer is installed. The licenses asked for are kept, and
asked for again at every renewal.

The answer says what the account covered: the licenses authorized, the
shortfall (asked for and not covered), what a higher tier covered
(borrowed), and what was refused and why (export control). When nothing
could be authorized, the request stays pending and a renewal answers it
once the account holds the licenses.

From then on, the agent ('airlock instance agent', or 'airlock instance
agent --once' from cron) renews the authorization every 30 days and the
registration every 6 months, and reports usage every 6 hours. An
authorization not renewed for 90 days lapses: every license it holds is
refused until a renewal succeeds.

Example:

    $ airlock instance register --license vms.camera.core=10 TK-…
    airlock: registered with acme/plant until 2026-01-15T09:30:00Z; export-controlled licenses allowed
    airlock: installed reservation 0a1b2c3d serial 1: 10 vms.camera.core (perpetual)
    airlock: the authorization lapses 2025-04-15T09:30:00Z unless renewed; run 'airlock instance agent' to renew it

Exit status: 0 when registered; 1 when refused (the service's reason is
shown) or the service could not be reached (the URL, the proxy and what
to check are shown); 2 for a wrong command line.`

const instanceReregisterDescription = `re-register moves a registered instance to the virtual account of
another registration token: the service gives the licenses of its
reservation back to the old account and authorizes those asked for from
the new one (--license, or else those asked for so far). The code of the
answer replaces the installed one; a code for a new reservation retires
the old one here.

Example:

    $ airlock instance re-register TK-…
    airlock: registered with acme/lab until 2026-01-15T09:30:00Z; export-controlled licenses not allowed
    airlock: installed reservation 7c1e0f22 serial 1: 10 vms.camera.core (perpetual)

Exit status: 0 when moved; 1 when refused or the service could not be
reached; 2 for a wrong command line.`

func instanceRegisterCommand(again bool) *cli.Command {
	name, usage, desc := "register", "register with the licensing service, with a token (connected mode)", instanceRegisterDescription
	if again {
		name, usage, desc = "re-register", "move the instance to the account of another registration token", instanceReregisterDescription
	}
	return &cli.Command{
		Name:        name,
		Usage:       usage,
		UsageText:   "airlock instance " + name + " [--license TAG=N]... [--timeout DURATION] [--state DIR] TOKEN|-",
		Description: desc,
		Flags: instanceFlags(
			&cli.StringSliceFlag{Name: flagWant, Usage: "ask for `TAG=N` licenses; repeatable"},
			timeoutFlag(),
		),
		OnUsageError: onUsageError,
		Action:       func(c *cli.Context) error { return instanceRegister(c, again) },
	}
}

func instanceRegister(c *cli.Context, again bool) error {
	if err := checkArgs(c, 1, 1, "TOKEN"); err != nil {
		return err
	}
	wanted, err := parseWant(c, flagWant)
	if err != nil {
		return err
	}
	token := c.Args().First()
	if token == "-" {
		in, err := readCodeArg("-", c.App.Reader, c.App.ErrWriter)
		if err != nil {
			return err
		}
		token = strings.TrimSpace(string(in.data))
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	cl := connectedClient(c)
	defer cl.Close()
	var ans *instance.Answer
	if again {
		if !c.IsSet(flagWant) {
			wanted = nil
		}
		ans, err = in.Reregister(contextOf(c), cl, token, wanted)
	} else {
		ans, err = in.Register(contextOf(c), cl, token, wanted)
	}
	if ans != nil {
		reportAnswer(c, ans, true)
	}
	if err != nil {
		return serviceHint(err)
	}
	note(c.App.ErrWriter, "next: run 'airlock instance agent' (or 'airlock instance agent --once' from cron) to keep the authorization renewed")
	return nil
}

// reportAnswer prints what the service answered.
func reportAnswer(c *cli.Context, a *instance.Answer, registration bool) {
	w := c.App.ErrWriter
	if r := a.Registration; registration && r.Account != "" {
		exp := "not allowed"
		if r.ExportAllowed {
			exp = "allowed"
		}
		note(w, "registered with %s until %s; export-controlled licenses %s", r.Account, codes.FormatTime(r.ExpiresAt), exp)
	}
	if i := a.Installed; i != nil {
		au := i.Authorization
		switch {
		case i.Again:
			note(w, "reservation %x serial %d is installed already: nothing changed", au.Reservation, au.Serial)
		case i.Update:
			note(w, "installed reservation %x serial %d (replacing serial %d): %s", au.Reservation, au.Serial, i.PreviousSerial, describeEntitlements(au.Entitlements))
		default:
			note(w, "installed reservation %x serial %d: %s", au.Reservation, au.Serial, describeEntitlements(au.Entitlements))
		}
		if au.Lapses != 0 {
			note(w, "the authorization lapses %s unless renewed", codes.FormatTime(au.Lapses))
		}
	} else if registration {
		note(w, "no authorization code: the account holds none of the licenses asked for; a renewal asks again")
	}
	switch {
	case a.Confirmed:
		note(w, "the service took the confirmation")
	case a.ConfirmError != nil:
		warn(w, "the confirmation did not reach the service (%v): the agent sends it again", a.ConfirmError)
	}
	for _, l := range a.Shortfall {
		warn(w, "shortfall: %d %s asked for and not covered by the account", l.Count, l.Tag)
	}
	for _, b := range a.Borrowed {
		note(w, "borrowed: %d %s covered by the higher tier %s", b.Count, b.Tag, b.From)
	}
	for _, r := range a.Refused {
		warn(w, "refused: %s: %s", r.Tag, r.Reason)
	}
}

const instanceRenewDescription = `renew asks the licensing service now for what the agent does on its
schedule:

    renew authorization   the next authorization code, for the licenses
                          asked for at registration; installed, and its
                          confirmation sent. It lapses 90 days later
                          unless renewed again (the agent renews every 30).
    renew registration    the registration, valid a year from now (the
                          agent renews every 6 months).

A renewal by hand moves the agent's next one a full period on.

Example:

    $ airlock instance renew authorization
    airlock: installed reservation 0a1b2c3d serial 4 (replacing serial 3): 10 vms.camera.core (perpetual)
    airlock: the authorization lapses 2025-07-14T09:30:00Z unless renewed
    airlock: the service took the confirmation

Exit status: 0 when renewed; 1 when refused or the service could not be
reached; 2 for a wrong command line.`

func instanceRenewCommand() *cli.Command {
	sub := func(name, usage string, registration bool) *cli.Command {
		return &cli.Command{
			Name:         name,
			Usage:        usage,
			UsageText:    "airlock instance renew " + name + " [--timeout DURATION] [--state DIR]",
			Description:  instanceRenewDescription,
			Flags:        instanceFlags(timeoutFlag()),
			OnUsageError: onUsageError,
			Action:       func(c *cli.Context) error { return instanceRenew(c, registration) },
		}
	}
	return &cli.Command{
		Name:            "renew",
		Usage:           "renew the authorization or the registration now (connected mode)",
		UsageText:       "airlock instance renew authorization|registration [OPTIONS]",
		Description:     instanceRenewDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			sub("authorization", "renew the authorization code now", false),
			sub("registration", "renew the registration now", true),
		},
	}
}

func instanceRenew(c *cli.Context, registration bool) error {
	in, cl, err := openConnected(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	var ans *instance.Answer
	if registration {
		ans, err = in.RenewRegistration(contextOf(c), cl)
	} else {
		ans, err = in.RenewAuthorization(contextOf(c), cl)
	}
	if ans != nil {
		reportAnswer(c, ans, false)
		if registration {
			note(c.App.ErrWriter, "registration with %s renewed until %s", ans.Registration.Account, codes.FormatTime(ans.Registration.ExpiresAt))
		}
	}
	return serviceHint(err)
}

const instanceUsageUpdateDescription = `usage update sends a usage report to the licensing service now (the
agent does every 6 hours): for each license, the peak and the current
count in use since the last report. A report that did not reach the
service is sent again, unchanged, before a new one is made.

Example:

    $ airlock instance usage update
    airlock: usage report sent to https://licensing.example.com:8443

Exit status: 0 when the service took the report; 1 when it refused or
could not be reached (the report is kept and sent again); 2 for a wrong
command line.`

func instanceUsageCommand() *cli.Command {
	return &cli.Command{
		Name:            "usage",
		Usage:           "send a usage report to the licensing service (connected mode)",
		UsageText:       "airlock instance usage update [OPTIONS]",
		Description:     "usage groups the connected-mode usage commands: update sends a report now. Offline, 'airlock instance usage-report --out FILE' writes one for the authority.",
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{{
			Name:         "update",
			Usage:        "send a usage report now",
			UsageText:    "airlock instance usage update [--timeout DURATION] [--state DIR]",
			Description:  instanceUsageUpdateDescription,
			Flags:        instanceFlags(timeoutFlag()),
			OnUsageError: onUsageError,
			Action:       instanceUsageUpdate,
		}},
	}
}

func instanceUsageUpdate(c *cli.Context) error {
	in, cl, err := openConnected(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := in.UpdateUsage(contextOf(c), cl); err != nil {
		return serviceHint(err)
	}
	t, _ := in.Transport()
	note(c.App.ErrWriter, "usage report sent to %s", t.URL)
	return nil
}

const instanceDeregisterDescription = `deregister ends the registration: the installed reservation is
returned (its code destroyed, as 'airlock instance return' does) and the
return code sent to the licensing service, which gives every license
back to the virtual account. The transport setting stays.

When the service cannot be reached (or refuses), the instance
deregisters here all the same, and says so: the authority must then
remove it by hand, with the command printed, so that its licenses go
back to the account. The return code is kept: 'airlock instance return'
prints it again for the licensing desk.

Example:

    $ airlock instance deregister
    airlock: returned reservation 0a1b2c3d serial 4
    airlock: deregistered from acme/plant; the service gave the licenses back

Exit status: 0 when deregistered: by the service, or here only, with
a warning that says why the service could not be told and the command
that removes the instance at the authority; 1 when it was not
registered (nothing changed); 2 for a wrong command line.`

func instanceDeregisterCommand() *cli.Command {
	return &cli.Command{
		Name:         "deregister",
		Usage:        "end the registration and give every license back (connected mode)",
		UsageText:    "airlock instance deregister [--timeout DURATION] [--state DIR]",
		Description:  instanceDeregisterDescription,
		Flags:        instanceFlags(timeoutFlag()),
		OnUsageError: onUsageError,
		Action:       instanceDeregister,
	}
}

func instanceDeregister(c *cli.Context) error {
	in, cl, err := openConnected(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	d, err := in.Deregister(contextOf(c), cl)
	if err != nil {
		return err
	}
	w := c.App.ErrWriter
	if r := d.Returned; r != nil {
		note(w, "returned reservation %x serial %d", r.Reservation, r.Serial)
	}
	if d.NotTold == nil {
		note(w, "deregistered from %s; the service gave the licenses back", d.Account)
		return nil
	}
	// Deregistered here all the same: a warning, not a failure, and what
	// the desk must do.
	warn(w, "deregistered locally from %s; the service was not told: %v", d.Account, d.NotTold)
	note(w, "next: on the authority, remove the instance so its licenses go back to %s: airlock authority remove --instance %s --reason \"deregistered while the service was unreachable\"", d.Account, in.UDI())
	if d.Returned != nil {
		note(w, "the return code is kept: 'airlock instance return' prints it again for the licensing desk")
	}
	return nil
}

const instanceAgentDescription = `agent does the periodic work of connected mode until it is stopped
(SIGINT or SIGTERM): it renews the authorization every 30 days and the
registration every 6 months, reports usage every 6 hours, sends a
confirmation the service has not taken, and retries the export requests
that could not reach the service (until 'airlock instance export
cancel'). A failed call is tried again after a backoff that doubles from
a minute to an hour (or the service's Retry-After). Each call is logged
on standard error.

The schedule is kept in the state folder, so the agent may run as a
service, or from cron with --once (do what is due, then exit), and work
done by hand ('airlock instance renew authorization') counts. The proxy's
password, if the transport names a proxy user, comes from
AIRLOCK_PROXY_PASSWORD.

Example:

    $ airlock instance agent --once
    airlock: renew authorization: done
    airlock: usage update: done
    airlock: next work due 2025-02-14T15:30:00Z

Exit status: 0 when stopped by a signal, or with --once when every call
succeeded; 1 when a call failed with --once, or the state cannot be
read; 2 for a wrong command line.`

func instanceAgentCommand() *cli.Command {
	return &cli.Command{
		Name:        "agent",
		Usage:       "renew, report usage and retry export requests on schedule (connected mode)",
		UsageText:   "airlock instance agent [--once] [--timeout DURATION] [--state DIR]",
		Description: instanceAgentDescription,
		Flags: instanceFlags(
			&cli.BoolFlag{Name: flagOnce, Usage: "do the work that is due, then exit (for cron)"},
			timeoutFlag(),
		),
		OnUsageError: onUsageError,
		Action:       instanceAgent,
	}
}

func instanceAgent(c *cli.Context) error {
	in, cl, err := openConnected(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	// The agent never prompts: it runs unattended.
	cl.ProxyPassword = func(user string) (string, error) {
		if p, ok := os.LookupEnv(envProxyPassword); ok {
			return p, nil
		}
		return "", fmt.Errorf("the proxy needs the password of user %q: set %s for the agent", user, envProxyPassword)
	}
	ag := instance.NewAgent(in, cl)
	w := c.App.ErrWriter
	failed := false
	report := func(r *instance.TickReport, err error) {
		if err != nil {
			warn(w, "%v", err)
			failed = true
		}
		if r == nil {
			return
		}
		for _, d := range r.Done {
			if d.Err != nil {
				warn(w, "%s", d)
				failed = true
			} else {
				note(w, "%s", d)
			}
		}
		switch {
		case r.Next.IsZero():
			note(w, "nothing scheduled: the instance is offline or not registered")
		case r.Held:
			note(w, "the service could not be reached: calls resume %s", rfc3339(r.Next))
		case len(r.Done) > 0 || c.Bool(flagOnce):
			note(w, "next work due %s", rfc3339(r.Next))
		}
	}
	if c.Bool(flagOnce) {
		r, err := ag.Tick(contextOf(c))
		report(r, nil)
		if err != nil {
			return err
		}
		if failed {
			return errors.New("some of the work failed (see above): it is tried again at the next run")
		}
		return nil
	}
	ctx, stop := signal.NotifyContext(contextOf(c), os.Interrupt, syscall.SIGTERM)
	defer stop()
	note(w, "agent started for %s", in.UDI().Short())
	err = ag.Run(ctx, report)
	note(w, "agent stopped")
	return err
}

// connectedJSON is the connected part of status --json.
type connectedJSON struct {
	Transport                *transportJSON         `json:"transport"`
	Registered               bool                   `json:"registered"`
	Account                  *string                `json:"account"`
	RegisteredAt             *string                `json:"registered_at"`
	RegistrationExpires      *string                `json:"registration_expires"`
	ExportAllowed            bool                   `json:"export_allowed"`
	Wanted                   []licenseFields        `json:"wanted"`
	LastContact              *string                `json:"last_contact"`
	AuthorizationRenewed     *string                `json:"authorization_renewed"`
	NextAuthorizationRenewal *string                `json:"next_authorization_renewal"`
	RegistrationRenewed      *string                `json:"registration_renewed"`
	NextRegistrationRenewal  *string                `json:"next_registration_renewal"`
	UsageReported            *string                `json:"usage_reported"`
	NextUsageReport          *string                `json:"next_usage_report"`
	Lapses                   *string                `json:"lapses"`
	Lapsed                   bool                   `json:"lapsed"`
	Unconfirmed              *uint64                `json:"unconfirmed_serial"`
	Failures                 []connectedFailureJSON `json:"failures"`
	Exports                  []exportJSON           `json:"exports"`
	Disabled                 []string               `json:"disabled"`
}

type connectedFailureJSON struct {
	Job      string `json:"job"`
	Failures int    `json:"failures"`
	At       string `json:"at"`
	RetryAt  string `json:"retry_at"`
	Error    string `json:"error"`
}

func optRFC3339(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := rfc3339(t)
	return &s
}

func connectedJSONOf(cs *instance.ConnectedStatus) *connectedJSON {
	j := &connectedJSON{
		Transport: transportJSONOf(cs.Transport), Registered: cs.Registered, Account: optString(cs.Account),
		RegisteredAt: optRFC3339(cs.RegisteredAt), RegistrationExpires: optRFC3339(cs.RegistrationExpires), ExportAllowed: cs.ExportAllowed,
		Wanted: licenses(cs.Wanted), LastContact: optRFC3339(cs.LastContact),
		AuthorizationRenewed: optRFC3339(cs.AuthorizationRenewed), NextAuthorizationRenewal: optRFC3339(cs.NextAuthorization),
		RegistrationRenewed: optRFC3339(cs.RegistrationRenewed), NextRegistrationRenewal: optRFC3339(cs.NextRegistration),
		UsageReported: optRFC3339(cs.UsageReported), NextUsageReport: optRFC3339(cs.NextUsage),
		Lapses: optRFC3339(cs.Lapses), Lapsed: cs.Lapsed,
		Failures: []connectedFailureJSON{}, Exports: exportsJSON(cs.Exports), Disabled: append([]string{}, cs.Disabled...),
	}
	if cs.Unconfirmed != 0 {
		u := cs.Unconfirmed
		j.Unconfirmed = &u
	}
	for _, f := range cs.Failures {
		j.Failures = append(j.Failures, connectedFailureJSON{Job: f.Job.String(), Failures: f.Failures, At: rfc3339(f.At), RetryAt: rfc3339(f.RetryAt), Error: f.Error})
	}
	return j
}

// writeConnectedText adds the connected-mode lines of status.
func writeConnectedText(b *bytes.Buffer, cs *instance.ConnectedStatus, now time.Time) {
	if cs == nil {
		return
	}
	line := func(label, format string, args ...any) {
		fmt.Fprintf(b, "%-16s %s\n", label, fmt.Sprintf(format, args...))
	}
	if cs.Transport.Kind == instance.TransportOffline && !cs.Registered {
		if !cs.Lapses.IsZero() || len(cs.Exports) > 0 {
			line("transport", "offline (codes only)")
		}
	} else {
		line("transport", "%s", describeTransport(cs.Transport))
	}
	if cs.Registered {
		line("registration", "%s, until %s (next renewal %s)", cs.Account, rfc3339(cs.RegistrationExpires), rfc3339(cs.NextRegistration))
		last := "never"
		if !cs.LastContact.IsZero() {
			last = rfc3339(cs.LastContact)
		}
		line("last contact", "%s", last)
		line("usage report", "next %s", rfc3339(cs.NextUsage))
	}
	switch {
	case cs.Lapsed:
		line("authorization", "LAPSED %s, %d days after the last renewal: every license of it is refused; check the transport (airlock instance transport) and run 'airlock instance renew authorization'",
			rfc3339(cs.Lapses), int(api.AuthorizationValidity/(24*time.Hour)))
	case !cs.Lapses.IsZero():
		s := fmt.Sprintf("serial %d, lapses %s (in %s)", cs.Serial, rfc3339(cs.Lapses), plural(daysLeft(now, cs.Lapses), "day", "days"))
		if cs.Registered {
			s += ", next renewal " + rfc3339(cs.NextAuthorization)
		}
		line("authorization", "%s", s)
	case cs.Registered && cs.Serial == 0:
		line("authorization", "none yet: the account holds none of the licenses asked for; next try %s", rfc3339(cs.NextAuthorization))
	}
	if cs.Unconfirmed != 0 {
		line("confirmation", "serial %d not yet taken by the service: the agent sends it again", cs.Unconfirmed)
	}
	for _, f := range cs.Failures {
		line("failing", "%s: %d failure(s), last %s, next try %s: %s", f.Job, f.Failures, rfc3339(f.At), rfc3339(f.RetryAt), f.Error)
	}
	for _, e := range cs.Exports {
		line("export", "%s", describeExport(e))
	}
	for _, t := range cs.Disabled {
		line("disabled", "%s: given back, refused here until the answer to the return is installed", t)
	}
}
