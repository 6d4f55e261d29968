package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/cmd/airlock/internal/drop"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/instance"
)

// Flags of the gateway commands (--pk and --dk are the pool commands').
const flagDeviceFile = "file"

// Errors of the gateway commands, with their hints below.
var (
	// errDeviceList means a --file device list has a line that is not
	// "PK DK" with valid keys.
	errDeviceList = errors.New("bad device list")
	// errNotActive means device status found the device not active now.
	errNotActive = errors.New("device not active")
)

var fleetHints = []struct {
	sentinel error
	hint     string
}{
	{instance.ErrActivationInstalled, "nothing to do: 'airlock instance device list' shows the devices it activated"},
	{instance.ErrActivationNotPending, "install the answer to the latest activation request, or make a new one with 'airlock instance activation request'"},
	{instance.ErrActivationNotNewer, "a newer activation file is installed; for the current windows make a new request with 'airlock instance activation request'"},
	{instance.ErrQueueFull, "make an activation request ('airlock instance activation request') and install its answer, then queue the rest"},
	{errDeviceList, "write one device per line as PK DK (letters, digits and . _ : - only); # starts a comment"},
}

func init() { hints = append(hints, fleetHints...) }

const instanceDeviceDescription = `device groups the commands of a gateway: an instance that activates the
devices of a plant (cameras, sensors, …) for the authority. Each device
is named by its product key (PK) and device key (DK); it consumes an
activation code from its product's pool when it first activates, and is
active for the window its code covers.

The gateway queues the devices that ask to activate (device add), makes
an activation request file of the queue (activation request), and
installs the activation file the authority answers with (activation
install): the window of every device it activated, and the devices it
refused, with the reason. Any instance may be a gateway, whatever its
reservation mode.

    $ airlock instance device add --pk PK-CAM cam-001 cam-002
    $ airlock instance activation request --out usb/activation-request.airlock
    $ airlock instance activation install usb/activation.airlock
    $ airlock instance device status --pk PK-CAM --dk cam-001`

func instanceDeviceCommand() *cli.Command {
	return &cli.Command{
		Name:            "device",
		Usage:           "queue devices for activation and show what the gateway knows of them",
		UsageText:       "airlock instance device COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     instanceDeviceDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:        "add",
				Usage:       "queue devices for the next activation request",
				UsageText:   "airlock instance device add [--pk PK DK...] [--file FILE|-] [--state DIR]",
				Description: instanceDeviceAddDescription,
				Flags: instanceFlags(
					&cli.StringFlag{Name: flagPK, Usage: "the product key `PK` of the device keys given as arguments"},
					&cli.StringFlag{Name: flagDeviceFile, Usage: "read devices from `FILE` (- for standard input), one \"PK DK\" per line"},
				),
				OnUsageError: onUsageError,
				Action:       instanceDeviceAdd,
			},
			{
				Name:        "list",
				Usage:       "list the devices queued or activated",
				UsageText:   "airlock instance device list [--pk PK] [--json] [--state DIR]",
				Description: instanceDeviceListDescription,
				Flags: instanceFlags(
					&cli.StringFlag{Name: flagPK, Usage: "only the devices of product `PK`"},
					&cli.BoolFlag{Name: flagJSON, Usage: "print JSON"},
				),
				OnUsageError: onUsageError,
				Action:       instanceDeviceList,
			},
			{
				Name:        "status",
				Usage:       "show one device, and exit 0 only if it is active now",
				UsageText:   "airlock instance device status --pk PK --dk DK [--json] [--state DIR]",
				Description: instanceDeviceStatusDescription,
				Flags: instanceFlags(
					&cli.StringFlag{Name: flagPK, Usage: "the device's product key `PK`"},
					&cli.StringFlag{Name: flagDK, Usage: "the device key `DK`"},
					&cli.BoolFlag{Name: flagJSON, Usage: "print JSON"},
				),
				OnUsageError: onUsageError,
				Action:       instanceDeviceStatus,
			},
		},
	}
}

const instanceDeviceAddDescription = `add queues devices for the next activation request: the device keys
given as arguments, of the product --pk names, and the devices of a
--file (- for standard input), one per line as "PK DK"; blank lines and
everything after a # are ignored. Keys are 1 to 64 letters, digits and
. _ : -. A device queued already is queued once. Every device of the
command is queued in one durable write, or none: a bad line is reported
with its number, and nothing is queued.

The queue holds up to 250,000 devices; installing the activation file
that answers a request takes the devices it lists out of it. A device
activated before may be queued again: the next activation file gives its
current window, or activates it if it was refused.

Examples:

    $ airlock instance device add --pk PK-CAM cam-001 cam-002
    airlock: queued 2 devices; the queue holds 2 devices
    airlock: make the request file with 'airlock instance activation request --out FILE'

    $ cat plant4.devices
    # plant 4, line 2
    PK-CAM   cam-003
    PK-TEMP  t-0101
    $ airlock instance device add --file plant4.devices
    airlock: queued 2 devices; the queue holds 4 devices

    $ airlock instance device add --file bad.devices
    airlock: error: bad device list: file "bad.devices" line 3: want "PK DK", got 3 fields

Exit status: 0 when the devices are queued (or were already); 1 when the
list has a bad line, the queue would be full, or the state cannot be
written; 2 for a wrong command line.`

func instanceDeviceAdd(c *cli.Context) error {
	cmd := c.Command.HelpName
	if err := checkArgs(c, 0, codes.MaxActivationDevices, "DK..."); err != nil {
		return err
	}
	pk, file := c.String(flagPK), c.String(flagDeviceFile)
	var groups []codes.DeviceGroup
	switch {
	case c.NArg() > 0 && pk == "":
		return usagef(cmd, "for example: --pk PK-CAM cam-001 cam-002", "device keys given without --%s", flagPK)
	case c.NArg() == 0 && pk != "":
		return usagef(cmd, "for example: --pk PK-CAM cam-001 cam-002", "--%s given without a device key", flagPK)
	case c.NArg() == 0 && file == "":
		return usagef(cmd, "for example: --pk PK-CAM cam-001, or --file devices.txt", "no device given: give --%s PK and device keys, or --%s FILE", flagPK, flagDeviceFile)
	case pk != "":
		if err := codes.CheckDeviceKey("product key", pk); err != nil {
			return usagef(cmd, "", "--%s: %v", flagPK, trimInvalid(err))
		}
		for _, dk := range c.Args().Slice() {
			if err := codes.CheckDeviceKey("device key", dk); err != nil {
				return usagef(cmd, "", "%v", trimInvalid(err))
			}
		}
		groups = append(groups, codes.DeviceGroup{ProductKey: pk, Devices: c.Args().Slice()})
	}
	if file != "" {
		in, err := readDeviceFile(c, file)
		if err != nil {
			return err
		}
		more, err := parseDeviceList(in)
		if err != nil {
			return err
		}
		groups = append(groups, more...)
	}
	inst, err := openInstance(c)
	if err != nil {
		return err
	}
	added, err := inst.QueueDeviceGroups(groups)
	if err != nil {
		return err
	}
	fs, err := inst.Fleet()
	if err != nil {
		return err
	}
	given := 0
	for _, g := range groups {
		given += len(g.Devices)
	}
	w := c.App.ErrWriter
	msg := "queued " + plural(added, "device", "devices")
	if again := given - added; again > 0 {
		msg += fmt.Sprintf(" (%s queued already)", plural(again, "was", "were"))
	}
	note(w, "%s; the queue holds %s", msg, plural(fs.Queued, "device", "devices"))
	if added > 0 {
		note(w, "make the request file with 'airlock instance activation request --out FILE'")
	}
	return nil
}

// trimInvalid drops the codes sentinel's words from a key error, which
// are about codes and read oddly for a command line.
func trimInvalid(err error) string {
	return strings.TrimPrefix(err.Error(), codes.ErrInvalid.Error()+": ")
}

// readDeviceFile reads --file: a regular file or standard input.
func readDeviceFile(c *cli.Context, path string) (*input, error) {
	if path == "-" {
		b, err := readCapped(c.App.Reader, maxInputSize, "standard input")
		if err != nil {
			return nil, err
		}
		return &input{data: b, source: "standard input"}, nil
	}
	b, err := readFile(path, maxInputSize)
	if err != nil {
		return nil, err
	}
	return &input{data: b, source: fmt.Sprintf("file %q", path)}, nil
}

// parseDeviceList reads "PK DK" lines, grouped by product in the order
// they come.
func parseDeviceList(in *input) ([]codes.DeviceGroup, error) {
	var groups []codes.DeviceGroup
	index := map[string]int{}
	for n, line := range strings.Split(string(in.data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("%w: %s line %d: want \"PK DK\", got %s", errDeviceList, in.source, n+1, plural(len(fields), "field", "fields"))
		}
		pk, dk := fields[0], fields[1]
		for _, k := range []struct{ what, v string }{{"product key", pk}, {"device key", dk}} {
			if err := codes.CheckDeviceKey(k.what, k.v); err != nil {
				return nil, fmt.Errorf("%w: %s line %d: %s", errDeviceList, in.source, n+1, trimInvalid(err))
			}
		}
		i, ok := index[pk]
		if !ok {
			i = len(groups)
			index[pk] = i
			groups = append(groups, codes.DeviceGroup{ProductKey: pk})
		}
		groups[i].Devices = append(groups[i].Devices, dk)
	}
	if len(groups) == 0 {
		return nil, fmt.Errorf("%w: %s lists no device", errDeviceList, in.source)
	}
	return groups, nil
}

const instanceDeviceListDescription = `list prints the devices the gateway knows, queued or in the installed
activation file, sorted by product and device key (--pk: one product's
only), one per line: product key, device key, state, the window
(from, until), and the reason of a refusal. It rereads the state and
changes nothing.

The states: active (its window covers now), expired (its window has
ended), not-started (its window starts later), clock-behind (its window
would cover now, but the system clock is behind the last time the
instance saw by more than a day: no device is active until it is set
right), refused (the authority did not activate it: the reason says
why), queued (waiting for the next activation request's answer; a
refused device queued again shows its last reason).

Example:

    $ airlock instance device list
    PK       DK       STATE    FROM                  UNTIL                 REASON
    PK-CAM   cam-001  active   2025-01-15T09:30:00Z  2026-01-15T09:30:00Z
    PK-CAM   cam-002  queued   -                     -
    PK-TEMP  t-0101   refused  -                     -                     the product has no activation code left

With --json, list prints one JSON object: activation (null, or
request_nonce, issued_at, key_id), problem (null, or why the installed
activation file cannot be used), queued, pending (nonce, issued_at,
key_id, devices) and devices: pk, dk, state, active, valid_from,
valid_until (null when there is no window), refusal (null, or code and
reason) and queued. Times are RFC 3339 in UTC.

Exit status: 0 when the list was printed; 1 when the state cannot be
read, or the installed activation file cannot be used (the error says
why); 2 for a wrong command line.`

type fleetDeviceJSON struct {
	PK         string       `json:"pk"`
	DK         string       `json:"dk"`
	State      string       `json:"state"`
	Active     bool         `json:"active"`
	ValidFrom  *string      `json:"valid_from"`
	ValidUntil *string      `json:"valid_until"`
	Refusal    *refusalJSON `json:"refusal"`
	Queued     bool         `json:"queued"`
}

type refusalJSON struct {
	Code   uint8  `json:"code"`
	Reason string `json:"reason"`
}

type fleetListJSON struct {
	Activation *fleetActivationJSON `json:"activation"`
	Problem    *string              `json:"problem"`
	Queued     int                  `json:"queued"`
	Pending    []fleetPendingJSON   `json:"pending"`
	Devices    []fleetDeviceJSON    `json:"devices"`
}

type fleetActivationJSON struct {
	RequestNonce string  `json:"request_nonce"`
	IssuedAt     string  `json:"issued_at"`
	KeyID        *string `json:"key_id"`
}

type fleetPendingJSON struct {
	Nonce    string `json:"nonce"`
	IssuedAt string `json:"issued_at"`
	KeyID    string `json:"key_id"`
	Devices  int    `json:"devices"`
}

func deviceJSONOf(s instance.DeviceStatus) fleetDeviceJSON {
	j := fleetDeviceJSON{PK: s.ProductKey, DK: s.DeviceKey, State: s.State.String(), Active: s.State == instance.DeviceActive, Queued: s.Queued}
	if !s.From.IsZero() {
		from, until := rfc3339(s.From), rfc3339(s.Until)
		j.ValidFrom, j.ValidUntil = &from, &until
	}
	if s.Reason != 0 {
		j.Refusal = &refusalJSON{Code: uint8(s.Reason), Reason: s.Reason.String()}
	}
	return j
}

func instanceDeviceList(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	pk := c.String(flagPK)
	if pk != "" {
		if err := codes.CheckDeviceKey("product key", pk); err != nil {
			return usagef(c.Command.HelpName, "", "--%s: %v", flagPK, trimInvalid(err))
		}
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	fs, err := in.Fleet()
	if err != nil {
		return err
	}
	if fs.Problem != nil {
		return fs.Problem
	}
	list, err := in.Devices(pk)
	if err != nil {
		return err
	}
	if c.Bool(flagJSON) {
		j := fleetListJSON{Queued: fs.Queued, Pending: []fleetPendingJSON{}, Devices: make([]fleetDeviceJSON, 0, len(list))}
		if a := fs.Activation; a != nil {
			j.Activation = &fleetActivationJSON{RequestNonce: hex.EncodeToString(a.Nonce), IssuedAt: rfc3339(a.IssuedAt)}
			if a.KeyID != (codes.KeyID{}) {
				id := a.KeyID.String()
				j.Activation.KeyID = &id
			}
		}
		for _, p := range fs.Pending {
			j.Pending = append(j.Pending, fleetPendingJSON{Nonce: hex.EncodeToString(p.Nonce), IssuedAt: rfc3339(p.IssuedAt), KeyID: p.KeyID.String(), Devices: p.Devices})
		}
		for _, s := range list {
			j.Devices = append(j.Devices, deviceJSONOf(s))
		}
		return writeJSON(c, j)
	}
	if len(list) == 0 {
		if pk != "" {
			note(c.App.ErrWriter, "no device of product %q is queued or activated", pk)
		} else {
			note(c.App.ErrWriter, "no device is queued or activated")
		}
		return nil
	}
	return writeResult(c.App.Writer, deviceTable(list))
}

// deviceTable writes the devices as aligned columns.
func deviceTable(list []instance.DeviceStatus) []byte {
	rows := [][]string{{"PK", "DK", "STATE", "FROM", "UNTIL", "REASON"}}
	for _, s := range list {
		from, until, reason := "-", "-", ""
		if !s.From.IsZero() {
			from, until = rfc3339(s.From), rfc3339(s.Until)
		}
		if s.Reason != 0 {
			reason = s.Reason.String()
		}
		rows = append(rows, []string{s.ProductKey, s.DeviceKey, s.State.String(), from, until, reason})
	}
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, f := range r {
			width[i] = max(width[i], len(f))
		}
	}
	var b bytes.Buffer
	for _, r := range rows {
		var line strings.Builder
		for i, f := range r {
			if i == len(r)-1 {
				line.WriteString(f)
			} else {
				fmt.Fprintf(&line, "%-*s  ", width[i], f)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

const instanceDeviceStatusDescription = `status shows what the gateway knows of one device: its state, the window
the installed activation file gives it, the reason of a refusal, and
whether it is queued; and answers by its exit status whether it is
active now, for scripts. It changes nothing.

The clock is trusted only forward: a window is judged at the later of the
system clock and the activation file's issue time, and while the clock
is behind the last time the instance saw by more than a day, no device
is active (state clock-behind) until it is set right. Setting the clock
back never brings an ended window back.

Examples:

    $ airlock instance device status --pk PK-CAM --dk cam-001
    pk               PK-CAM
    dk               cam-001
    state            active
    window           2025-01-15T09:30:00Z to 2026-01-15T09:30:00Z
    queued           no

    $ airlock instance device status --pk PK-TEMP --dk t-0101
    pk               PK-TEMP
    dk               t-0101
    state            refused
    reason           the product has no activation code left
    queued           no
    airlock: error: device not active: device "t-0101" of product "PK-TEMP" is refused: the product has no activation code left
    airlock: hint: when the product has codes again, queue the device again and make a new activation request

With --json, status prints one JSON object: pk, dk, state, active,
valid_from, valid_until (null when there is no window), refusal (null,
or code and reason) and queued; the state is "unknown" for a device
neither queued nor activated.

Exit status: 0 when the device is active now; 1 when it is not (the
status is printed all the same, and the state says why: queued,
refused, not-started, expired, clock-behind or unknown), or when the
state cannot be read (then nothing is printed on standard output); 2 for
a wrong command line.`

func instanceDeviceStatus(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	pk, err := requireFlag(c, flagPK, "PK-CAM")
	if err != nil {
		return err
	}
	dk, err := requireFlag(c, flagDK, "cam-001")
	if err != nil {
		return err
	}
	for _, k := range []struct{ what, flag, v string }{{"product key", flagPK, pk}, {"device key", flagDK, dk}} {
		if err := codes.CheckDeviceKey(k.what, k.v); err != nil {
			return usagef(c.Command.HelpName, "", "--%s: %v", k.flag, trimInvalid(err))
		}
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	fs, err := in.Fleet() // reports a fleet that cannot be read
	if err != nil {
		return err
	}
	if fs.Problem != nil {
		return fs.Problem
	}
	s, _ := in.Device(pk, dk)
	if c.Bool(flagJSON) {
		err = writeJSON(c, deviceJSONOf(s))
	} else {
		err = writeResult(c.App.Writer, deviceStatusText(s))
	}
	if err != nil {
		return err
	}
	return notActiveError(s)
}

func deviceStatusText(s instance.DeviceStatus) []byte {
	var b bytes.Buffer
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-16s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("pk", "%s", s.ProductKey)
	line("dk", "%s", s.DeviceKey)
	line("state", "%s", s.State)
	if !s.From.IsZero() {
		line("window", "%s to %s", rfc3339(s.From), rfc3339(s.Until))
	}
	if s.Reason != 0 {
		line("reason", "%s", s.Reason)
	}
	line("queued", "%s", map[bool]string{true: "yes", false: "no"}[s.Queued])
	return b.Bytes()
}

// notActiveError is nil for an active device, and otherwise says why it
// is not, with what to do.
func notActiveError(s instance.DeviceStatus) error {
	what := fmt.Sprintf("device %q of product %q", s.DeviceKey, s.ProductKey)
	request := "make an activation request ('airlock instance activation request') and install its answer"
	switch s.State {
	case instance.DeviceActive:
		return nil
	case instance.DeviceQueued:
		return withHint(fmt.Errorf("%w: %s is queued, not activated yet", errNotActive, what), request)
	case instance.DeviceRefused:
		return withHint(fmt.Errorf("%w: %s is refused: %s", errNotActive, what, s.Reason), refusalHint(s.Reason))
	case instance.DeviceNotStarted:
		return fmt.Errorf("%w: %s is active from %s", errNotActive, what, rfc3339(s.From))
	case instance.DeviceExpired:
		return withHint(fmt.Errorf("%w: %s expired %s", errNotActive, what, rfc3339(s.Until)),
			"the authority renews it when its product allows: "+request+" for the current window")
	case instance.DeviceClockBehind:
		return withHint(fmt.Errorf("%w: %s: the system clock is behind the last time the instance saw, so no device is active", errNotActive, what),
			"set the system clock right (the instance trusts it only forward)")
	}
	return withHint(fmt.Errorf("%w: %s is unknown: neither queued nor activated", errNotActive, what),
		"queue it with 'airlock instance device add --pk "+s.ProductKey+" "+s.DeviceKey+"'")
}

func refusalHint(r codes.Refusal) string {
	switch r {
	case codes.RefusedNoCodes, codes.RefusedNoPool:
		return "when the product has activation codes again, queue the device again and make a new activation request"
	case codes.RefusedUnknownProduct, codes.RefusedProductDeleted, codes.RefusedOtherGateway:
		return "check the product key with the authority; a device of another product key is queued anew"
	}
	return "ask the authority why"
}

const instanceActivationDescription = `activation groups the commands that carry a gateway's devices to the
authority and back: request writes the activation request file of the
queued devices, install installs the activation file the authority
answers with. See 'airlock instance device --help'.`

func instanceActivationCommand() *cli.Command {
	return &cli.Command{
		Name:            "activation",
		Usage:           "write activation request files and install activation files",
		UsageText:       "airlock instance activation COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     instanceActivationDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:         "request",
				Usage:        "write the activation request file of the queued devices",
				UsageText:    "airlock instance activation request [--out FILE|-|URL] [--to RECIPIENT]... [--known-hosts FILE] [--ssh-key FILE]... [--state DIR]",
				Description:  instanceActivationRequestDescription,
				Flags:        fileOutFlags("write the armored request to `FILE` (- for standard output, the default, or an sftp:// URL)"),
				OnUsageError: onUsageError,
				Action:       instanceActivationRequest,
			},
			{
				Name:        "install",
				Usage:       "verify and install an activation file",
				UsageText:   "airlock instance activation install [--identity FILE]... [--known-hosts FILE] [--ssh-key FILE]... [--state DIR] FILE|URL|-",
				Description: instanceActivationInstallDescription,
				Flags: instanceFlags(append([]cli.Flag{
					&cli.StringSliceFlag{Name: flagIdentity, Usage: "open an age-encrypted file with the identity in `FILE` (age or ssh-ed25519 private key); repeatable"},
				}, transportFlags()...)...),
				OnUsageError: onUsageError,
				Action:       instanceActivationInstall,
			},
		},
	}
}

const instanceActivationRequestDescription = `request writes an activation request file: every device queued (all of
them, including those a request before listed, until an answer is
installed), with this instance's UDI and key and a fresh nonce, MACed
for the trust file's current authority key. The file is armored, on
standard output or in --out FILE (never over an existing file); --to
encrypts it with age for removable media. Its nonce is kept as a pending
activation request (the last 8 are), so that the activation file the
authority answers with installs.

With no device queued, the request asks only for the current windows of
the devices activated before (a refresh): renewals, deletions.

Examples:

    $ airlock instance activation request --out usb/plant4-request.airlock
    airlock: wrote usb/plant4-request.airlock
    airlock: activation request 3f9a0c11d2e4b5a6 for authority key 115f3d60785cabde: 3 devices
    airlock: take the file to the authority, then install the activation file it answers with

` + sftpWriteHelp + `

Exit status: 0 when the file was written; 1 when it could not be made
(no authority key valid now) or written (then make a new one); 2 for a
wrong command line.`

func instanceActivationRequest(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	recipients, err := recipientsFlag(c)
	if err != nil {
		return err
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	out := c.String(flagOut)
	if out == "" {
		out = "-"
	}
	dest, err := prepareNewOut(c, out)
	if err != nil {
		return err
	}
	defer dest.close()
	code, err := in.ActivationRequest()
	if err != nil {
		return err
	}
	if err := writeCodeOut(c, dest, codes.KindActivationRequest, code, recipients); err != nil {
		return withHint(err, "the queue is kept: run 'airlock instance activation request' again for a new file")
	}
	fs, err := in.Fleet()
	if err != nil {
		return err
	}
	w := c.App.ErrWriter
	if n := len(fs.Pending); n > 0 {
		p := fs.Pending[n-1]
		what := plural(p.Devices, "device", "devices")
		if p.Devices == 0 {
			what = "no device queued, a refresh of the devices activated before"
		}
		note(w, "activation request %x for authority key %s: %s", p.Nonce, p.KeyID, what)
	}
	note(w, "take the file to the authority, then install the activation file it answers with")
	return nil
}

const instanceActivationInstallDescription = `install verifies an activation file and installs it in place of the
gateway's device table. The argument is the file's path (armored, raw
binary, or age-encrypted with --identity), an sftp:// URL of such a
file, or - for standard input.

The file must verify with a key of the trust file, name this instance's
UDI and key, and answer a pending activation request; it must not be
older than the one installed. Refused, each with its reason: the
installed file again, a file answering a request answered before or
superseded by a later answer, a file for another gateway, and any file
while the system clock is behind its issue time by more than a day.

The file lists every device the gateway activated that the authority
still holds, with its window (ended ones too), and the devices of the
request it refused: installing it replaces the table, so a device it no
longer lists is not active any more. The devices it lists leave the
queue; those queued since the request stay for the next one.

Examples:

    $ airlock instance activation install usb/plant4-activation.airlock
    airlock: installed the activation for request 3f9a0c11d2e4b5a6, issued 2025-01-15T10:02:00Z by key 115f3d60785cabde
    airlock: 3 devices with a window, 2 active now; 1 refused
    airlock: refused 1 device of PK-TEMP: the product has no activation code left (t-0101)
    airlock: 0 devices left in the queue

    $ airlock instance activation install usb/plant4-activation.airlock
    airlock: error: activation file installed already: it answers activation request 3f9a0c11d2e4b5a6 and was issued 2025-01-15T10:02:00Z; nothing changed
    airlock: hint: nothing to do: 'airlock instance device list' shows the devices it activated

` + sftpReadHelp + `

Exit status: 0 when the file is installed; 1 when it is refused or
cannot be read; 2 for a wrong command line.`

func instanceActivationInstall(c *cli.Context) error {
	if err := checkArgs(c, 1, 1, "FILE|URL|-"); err != nil {
		return err
	}
	arg := c.Args().First()
	ids, err := identities(c)
	if err != nil {
		return err
	}
	var src *input
	if drop.IsURL(arg) {
		src, err = readURL(c, arg)
	} else {
		src, err = readCodeArg(arg, c.App.Reader, c.App.ErrWriter)
	}
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(src.data)) == 0 {
		return fmt.Errorf("%w: %s is empty", errEmpty, src.source)
	}
	code, err := codes.DecodeKind(src.data, codes.KindActivation, ids...)
	if err != nil {
		return decodeError(src, err, len(ids) > 0)
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	s, err := in.InstallActivation(code)
	if err != nil {
		return err
	}
	printActivationSummary(c.App.ErrWriter, s)
	return nil
}

// maxRefusedShown caps the device keys a refusal line names; device list
// shows them all.
const maxRefusedShown = 5

func printActivationSummary(w io.Writer, s *instance.ActivationSummary) {
	note(w, "installed the activation for request %x, issued %s by key %s", s.Nonce, rfc3339(s.IssuedAt), s.KeyID)
	line := fmt.Sprintf("%s with a window, %d active now", plural(s.Listed, "device", "devices"), s.Active)
	if len(s.Refused) > 0 {
		line += fmt.Sprintf("; %d refused", len(s.Refused))
	}
	note(w, "%s", line)
	type group struct {
		pk     string
		reason codes.Refusal
	}
	byGroup := map[group][]string{}
	for _, r := range s.Refused {
		g := group{r.ProductKey, r.Reason}
		byGroup[g] = append(byGroup[g], r.DeviceKey)
	}
	groups := make([]group, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool {
		return groups[i].pk < groups[j].pk || groups[i].pk == groups[j].pk && groups[i].reason < groups[j].reason
	})
	for _, g := range groups {
		dks := byGroup[g]
		shown := strings.Join(dks[:min(len(dks), maxRefusedShown)], ", ")
		if len(dks) > maxRefusedShown {
			shown += fmt.Sprintf(", and %d more", len(dks)-maxRefusedShown)
		}
		note(w, "refused %s of %s: %s (%s)", plural(len(dks), "device", "devices"), g.pk, g.reason, shown)
	}
	if s.Removed > 0 {
		note(w, "%s no longer listed: deleted at the authority, not active any more", plural(s.Removed, "device", "devices"))
	}
	if s.Superseded > 0 {
		note(w, "%s made before the one answered dropped: their answers will not install", plural(s.Superseded, "activation request", "activation requests"))
	}
	note(w, "%s left in the queue", plural(s.Queued, "device", "devices"))
}
