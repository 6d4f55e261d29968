package main

import (
	"bytes"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/instance"
)

const instanceExportDescription = `export asks for and gives back export-controlled licenses, one feature
(tag) at a time.

    export request [--count N] FEATURE   ask for N more (default 1)
    export return FEATURE                give back every license of it
    export cancel [FEATURE]              stop waiting for a request or return
    export status                        the requests and returns waiting

Online (a transport set and the instance registered), the licensing
service grants a request with the next authorization code, installed
and confirmed here, or refuses it with its reason (exit status 1). When
the service cannot be reached, the request is kept and the agent
retries it until 'export cancel'.

Offline, request and return print an export request code (XR-…) for the
licensing desk, typed on standard output, and with --out as an armored
file (--to encrypts it with age). The desk answers with an authorization
code: install it with 'airlock instance install'.

A return disables the feature here FIRST, durably: the product is
refused it from that moment, although the installed code still lists
it, until a code that no longer lists it is installed (the answer to the
return). A cancelled return leaves the feature disabled.

Examples:

    $ airlock instance export request --count 2 vms.crypto
    airlock: installed reservation 0a1b2c3d serial 5 (replacing serial 4): 10 vms.camera.core (perpetual), 2 vms.crypto (perpetual)
    airlock: granted: 2 vms.crypto

    $ airlock instance export return vms.crypto
    airlock: vms.crypto is disabled here from now on
    XR-…
    airlock: take the export request code to the licensing desk, then install the authorization code it answers with

Exit status: 0 when granted, given back, printed or cancelled; 1 when
refused (the reason is shown), when the service could not be reached
(the request is kept and retried), or when nothing waits to be
cancelled; 2 for a wrong command line.`

func instanceExportCommand() *cli.Command {
	outFlags := func(more ...cli.Flag) []cli.Flag {
		return fileOutFlags("offline: also write the export request as an armored `FILE` (or to an sftp:// URL)", append(more, timeoutFlag())...)
	}
	return &cli.Command{
		Name:            "export",
		Usage:           "ask for, give back, cancel and list export-controlled licenses",
		UsageText:       "airlock instance export request|return|cancel|status [OPTIONS] [FEATURE]",
		Description:     instanceExportDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:        "request",
				Usage:       "ask for export-controlled licenses of a feature",
				UsageText:   "airlock instance export request [--count N] [--out FILE|URL [--to RECIPIENT]...] [--state DIR] FEATURE",
				Description: instanceExportDescription,
				Flags: outFlags(
					&cli.UintFlag{Name: flagCount, Value: 1, Usage: "ask for `N` licenses"},
				),
				OnUsageError: onUsageError,
				Action:       func(c *cli.Context) error { return instanceExport(c, false) },
			},
			{
				Name:         "return",
				Usage:        "give back the export-controlled licenses of a feature (disabled here first)",
				UsageText:    "airlock instance export return [--out FILE|URL [--to RECIPIENT]...] [--state DIR] FEATURE",
				Description:  instanceExportDescription,
				Flags:        outFlags(),
				OnUsageError: onUsageError,
				Action:       func(c *cli.Context) error { return instanceExport(c, true) },
			},
			{
				Name:         "cancel",
				Usage:        "stop waiting for (and retrying) export requests",
				UsageText:    "airlock instance export cancel [--state DIR] [FEATURE]",
				Description:  instanceExportDescription,
				Flags:        instanceFlags(),
				OnUsageError: onUsageError,
				Action:       instanceExportCancel,
			},
			{
				Name:         "status",
				Usage:        "list the export requests and returns waiting",
				UsageText:    "airlock instance export status [--json] [--state DIR]",
				Description:  instanceExportDescription,
				Flags:        instanceFlags(&cli.BoolFlag{Name: flagJSON, Usage: "print JSON"}),
				OnUsageError: onUsageError,
				Action:       instanceExportStatus,
			},
		},
	}
}

func instanceExport(c *cli.Context, ret bool) error {
	cmd := c.Command.HelpName
	if err := checkArgs(c, 1, 1, "FEATURE"); err != nil {
		return err
	}
	tag := c.Args().First()
	if err := codes.CheckTag(tag); err != nil {
		return usagef(cmd, "", "FEATURE %q: %v", tag, err)
	}
	count := uint64(1)
	if !ret {
		count = uint64(c.Uint(flagCount))
		if count == 0 || count > 1<<31 {
			return usagef(cmd, "", "--%s must be from 1 to %d", flagCount, 1<<31)
		}
	}
	recipients, err := outRecipients(c, "export.age")
	if err != nil {
		return err
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	dest, err := prepareCopyOut(c)
	if err != nil {
		return err
	}
	defer dest.close()
	cl := connectedClient(c)
	defer cl.Close()
	w := c.App.ErrWriter
	var res *instance.ExportResult
	if ret {
		res, err = in.ReturnExport(contextOf(c), cl, tag)
	} else {
		res, err = in.RequestExport(contextOf(c), cl, tag, uint32(count))
	}
	if res != nil && ret {
		note(w, "%s is disabled here from now on", tag)
	}
	if res != nil && res.Answer != nil {
		reportAnswer(c, res.Answer, false)
	}
	if err != nil {
		if res != nil && res.Pending {
			return withHint(serviceHint(err), fmt.Sprintf("the %s is kept: the agent retries it until 'airlock instance export cancel %s'", verbOf(ret), tag))
		}
		return serviceHint(err)
	}
	if res.Online {
		if ret {
			note(w, "given back: %d %s", res.Count, tag)
		} else {
			note(w, "granted: %d %s", res.Count, tag)
		}
		return nil
	}
	if err := printNewCode(c, dest, codes.KindExportRequest, res.Code, recipients, "'airlock instance export status' prints the code again"); err != nil {
		return err
	}
	note(w, "export %s of %d %s for the licensing desk", verbOf(ret), res.Count, tag)
	note(w, "take the export request code to the licensing desk, then install the authorization code it answers with")
	return nil
}

func verbOf(ret bool) string {
	if ret {
		return "return"
	}
	return "request"
}

func instanceExportCancel(c *cli.Context) error {
	if err := checkArgs(c, 0, 1, "[FEATURE]"); err != nil {
		return err
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	done, err := in.CancelExport(c.Args().First())
	if err != nil {
		return err
	}
	w := c.App.ErrWriter
	for _, e := range done {
		note(w, "cancelled the %s of %d %s", verbOf(e.Return), e.Count, e.Tag)
		if e.Return {
			note(w, "%s stays disabled here until a code without it is installed", e.Tag)
		}
	}
	return nil
}

type exportJSON struct {
	Tag      string  `json:"tag"`
	Count    uint32  `json:"count"`
	Return   bool    `json:"return"`
	Offline  bool    `json:"offline"`
	Code     *string `json:"code"`
	MadeAt   string  `json:"made_at"`
	Failures int     `json:"failures"`
	RetryAt  *string `json:"retry_at"`
	Error    *string `json:"error"`
	Refused  *string `json:"refused"`
}

func exportsJSON(es []instance.ExportStatus) []exportJSON {
	out := []exportJSON{}
	for _, e := range es {
		j := exportJSON{Tag: e.Tag, Count: e.Count, Return: e.Return, Offline: e.Offline, MadeAt: rfc3339(e.MadeAt), Failures: e.Failures,
			RetryAt: optRFC3339(e.RetryAt), Error: optString(e.Error), Refused: optString(e.Refused)}
		if e.Code != nil {
			s := codes.EncodeText(codes.KindExportRequest, e.Code)
			j.Code = &s
		}
		out = append(out, j)
	}
	return out
}

func describeExport(e instance.ExportStatus) string {
	s := fmt.Sprintf("%s of %d %s, made %s", verbOf(e.Return), e.Count, e.Tag, rfc3339(e.MadeAt))
	switch {
	case e.Offline:
		s += ", offline: waiting for the desk's answer"
	case e.Refused != "":
		s += ", refused: " + e.Refused
	case e.Failures > 0:
		s += fmt.Sprintf(", %d failure(s), next try %s: %s", e.Failures, rfc3339(e.RetryAt), e.Error)
	default:
		s += ", waiting for the service"
	}
	return s
}

func instanceExportStatus(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	cs, err := in.Connected()
	if err != nil {
		return err
	}
	if c.Bool(flagJSON) {
		return writeJSON(c, struct {
			Exports  []exportJSON `json:"exports"`
			Disabled []string     `json:"disabled"`
		}{exportsJSON(cs.Exports), append([]string{}, cs.Disabled...)})
	}
	var b bytes.Buffer
	if len(cs.Exports) == 0 && len(cs.Disabled) == 0 {
		b.WriteString("no export request waiting\n")
	}
	for _, e := range cs.Exports {
		fmt.Fprintf(&b, "%s\n", describeExport(e))
		if e.Code != nil {
			fmt.Fprintf(&b, "  %s\n", codes.EncodeText(codes.KindExportRequest, e.Code))
		}
	}
	for _, t := range cs.Disabled {
		fmt.Fprintf(&b, "%s disabled here: given back, until the answer to the return is installed\n", t)
	}
	return writeResult(c.App.Writer, b.Bytes())
}
