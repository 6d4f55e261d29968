package web

import (
	"fmt"
	"net/http"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// The files a site brings to the desk and takes back, at the desk's
// browser: a gateway's activation request (README runbook 13, `airlock
// authority activation process`), an instance's usage report (runbook 9,
// `airlock authority usage import`) and an export request code made
// offline (runbook 17, `airlock authority export`). Each is pasted or
// uploaded, reviewed (what the file is and asks, nothing changed), then
// taken by the same library call as the command's, scoped to the
// organization of the path, and answered with the code or file to carry
// back.

func (s *server) exchangeRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /orgs/{org}/activation/requests", s.inOrg(s.exchangeForm(activationExchange)))
	m.HandleFunc("POST /orgs/{org}/activation/requests/review", s.inOrg(s.activationReview))
	m.HandleFunc("POST /orgs/{org}/activation/requests", s.inOrg(s.activationProcess))
	m.HandleFunc("POST /orgs/{org}/activation/requests/download", s.inOrg(s.activationDownload))
	m.HandleFunc("GET /orgs/{org}/usage", s.inOrg(s.usageForm))
	m.HandleFunc("POST /orgs/{org}/usage/review", s.inOrg(s.usageReview))
	m.HandleFunc("POST /orgs/{org}/usage", s.inOrg(s.usageImport))
	m.HandleFunc("GET /orgs/{org}/export", s.inOrg(s.exchangeForm(exportExchange)))
	m.HandleFunc("POST /orgs/{org}/export/review", s.inOrg(s.exportReview))
	m.HandleFunc("POST /orgs/{org}/export", s.inOrg(s.onceInOrg(s.exportAnswer)))
	m.HandleFunc("POST /orgs/{org}/export/download", s.inOrg(s.exportDownload))
}

// An exchange is one kind of file a site brings: its form's words.
type exchange struct {
	Kind   codes.Kind
	Title  string // of the form's page
	Path   string // under /orgs/ORG/
	What   string // "activation request", in sentences
	Prompt string
	Button string
	Rows   int
}

var (
	activationExchange = &exchange{Kind: codes.KindActivationRequest, Title: "Answer an activation request", Path: "activation/requests",
		What: "activation request", Button: "Review the activation request", Rows: 6,
		Prompt: "Upload the activation request file a gateway wrote ('airlock instance activation request'), or paste it. You will see which gateway it comes from and what devices it lists before any code is consumed."}
	usageExchange = &exchange{Kind: codes.KindUsage, Title: "Usage reports", Path: "usage",
		What: "usage report", Button: "Review the usage report", Rows: 4,
		Prompt: "Upload the usage report an instance wrote ('airlock instance usage-report'), or paste it. You will see what it reports before it is recorded."}
	exportExchange = &exchange{Kind: codes.KindExportRequest, Title: "Answer an export request", Path: "export",
		What: "export request", Button: "Review the export request", Rows: 3,
		Prompt: "Paste the export request code (XR-…) an instance printed offline ('airlock instance export request' or 'export return'), or upload its file. You will see what it asks before it is answered."}
)

type exchangeFormData struct {
	*exchange
	Usage []authority.Event // the usage page's recent reports
}

// exchangeForm shows the form of a file a site brings to those who may
// manage the organization, and to its viewers a note that says who does.
func (s *server) exchangeForm(x *exchange) func(http.ResponseWriter, *http.Request, *session, *authority.Access) {
	return func(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
		s.render(w, r, http.StatusOK, "exchange_form.html", ss.page(x.Title, acc, &exchangeFormData{exchange: x}))
	}
}

// exchangeCode reads the file of x from a review's form (the "code" text
// or the uploaded "file"), for a person who manages the organization.
func exchangeCode(r *http.Request, acc *authority.Access, x *exchange) ([]byte, error) {
	if err := needManage(acc); err != nil {
		return nil, err
	}
	return readCode(r, "code", x.Kind)
}

// carried reads the file a review page carries to its button, typed.
func carried(r *http.Request, acc *authority.Access, x *exchange) ([]byte, error) {
	if err := needManage(acc); err != nil {
		return nil, err
	}
	code, err := codes.DecodeKind([]byte(r.PostFormValue("code")), x.Kind)
	if err != nil {
		return nil, err
	}
	if len(code) == 0 {
		return nil, &pageError{status: http.StatusBadRequest, title: "No code", msg: fmt.Sprintf("No %s was given.", x.What), hint: "Start again from the form."}
	}
	return code, nil
}

// carry types a file for the review page's hidden field, refusing one
// whose typed form would not fit the next request's bound.
func carry(x *exchange, code []byte) (string, error) {
	t := codes.EncodeText(x.Kind, code)
	if len(t) > MaxUpload-4<<10 {
		return "", &pageError{status: http.StatusRequestEntityTooLarge, title: "Too large",
			msg:  fmt.Sprintf("This %s is too large to take through the portal.", x.What),
			hint: "Process it on the desk's command line, e.g. 'airlock authority activation process --out FILE REQUEST'."}
	}
	return t, nil
}

type activationReviewData struct {
	Code   string // typed, for the button
	Review *authority.ActivationReview
	Hash   string
}

// activationReview opens a gateway's activation request and shows the
// gateway, the devices it lists per product and what the organization's
// products have left. Nothing is consumed.
func (s *server) activationReview(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	code, err := exchangeCode(r, acc, activationExchange)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	rv, err := ss.l.ReviewActivationIn(r.Context(), acc.Org.Name, code)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	t, err := carry(activationExchange, code)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	d := &activationReviewData{Code: t, Review: rv, Hash: codeHash(code)}
	s.render(w, r, http.StatusOK, "exchange_activation_review.html", ss.page("Review the activation request", acc, d))
}

type activationDoneData struct {
	Code      string // the request, typed, for the download
	Activated *authority.Activated
	Hash      string // of the activation file
	Active    int    // devices the file lists as active
	Refused   int
}

// activationProcess answers the activation request as `airlock authority
// activation process` does, for a gateway of the organization.
func (s *server) activationProcess(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	code, err := carried(r, acc, activationExchange)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	a, err := ss.l.ProcessActivationIn(r.Context(), acc.Org.Name, code)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	d := &activationDoneData{Code: codes.EncodeText(codes.KindActivationRequest, code), Activated: a, Hash: codeHash(a.Code)}
	for _, g := range a.Answer.Products {
		d.Active += len(g.Active)
		d.Refused += len(g.Refused)
	}
	s.render(w, r, http.StatusOK, "exchange_activation_done.html", ss.page("Activation request answered", acc, d))
}

// activationDownload serves the activation file that answered a request,
// armored. It processes nothing: a request not answered yet is refused.
func (s *server) activationDownload(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	code, err := carried(r, acc, activationExchange)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	rv, err := ss.l.ReviewActivationIn(r.Context(), acc.Org.Name, code)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	if rv.Answered == nil {
		s.failIn(w, r, ss, acc, fmt.Errorf("%w: this activation request has not been answered: review it and answer it first", authority.ErrNotFound))
		return
	}
	attach(w, fmt.Sprintf("%s.activation.airlock", rv.Request.UDI.SN), codes.EncodeArmor(codes.KindActivation, rv.Answered))
}

// attach writes an armored file as a download.
func attach(w http.ResponseWriter, name string, body []byte) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+safeFileName(name)+`"`)
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// safeFileName keeps the letters, digits and ".-_" of a name made from a
// code's fields, so that a header never carries what a site chose.
func safeFileName(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 96; i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_' {
			b = append(b, c)
		} else {
			b = append(b, '_')
		}
	}
	return string(b)
}

// usageForm shows the usage report form and the reports imported last.
func (s *server) usageForm(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	es, err := ss.l.UsageEventsIn(r.Context(), acc.Org.Name, 20)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "exchange_form.html", ss.page(usageExchange.Title, acc, &exchangeFormData{exchange: usageExchange, Usage: es}))
}

type usageData struct {
	Code   string // typed, for the button
	Usage  *authority.UsageImported
	Hash   string
	Review bool // nothing recorded yet
}

// usageReview opens a usage report of an instance of the organization
// and shows what it reports and what importing it would flag.
func (s *server) usageReview(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	code, err := exchangeCode(r, acc, usageExchange)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	u, err := ss.l.ReviewUsageIn(r.Context(), acc.Org.Name, code)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	t, err := carry(usageExchange, code)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "exchange_usage.html", ss.page("Review the usage report", acc, &usageData{Code: t, Usage: u, Hash: codeHash(code), Review: true}))
}

// usageImport records the usage report as `airlock authority usage
// import` does, for an instance of the organization.
func (s *server) usageImport(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	code, err := carried(r, acc, usageExchange)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	u, err := ss.l.ImportUsageIn(r.Context(), acc.Org.Name, code)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	title := "Usage report imported"
	if u.Again {
		title = "Usage report imported before"
	}
	s.render(w, r, http.StatusOK, "exchange_usage.html", ss.page(title, acc, &usageData{Usage: u, Hash: codeHash(code)}))
}

type exportReviewData struct {
	Code   string // typed, for the button
	Review *authority.ExportReview
	Hash   string
}

// exportReview opens an export request code of an instance of the
// organization and shows what it asks and whether it would be answered.
func (s *server) exportReview(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	code, err := exchangeCode(r, acc, exportExchange)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	rv, err := ss.l.ReviewExportIn(r.Context(), acc.Org.Name, code)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	t, err := carry(exportExchange, code)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "exchange_export_review.html", ss.page("Review the export request", acc, &exportReviewData{Code: t, Review: rv, Hash: codeHash(code)}))
}

type exportDoneData struct {
	Code       string // the request, typed, for the download
	Authorized *authority.Authorized
	Typed      string
	Hash       string
}

// exportAnswer answers the export request code as `airlock authority
// export` does, for an instance of the organization.
func (s *server) exportAnswer(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	code, err := carried(r, acc, exportExchange)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	a, err := ss.l.AnswerExportRequestIn(r.Context(), acc.Org.Name, code)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	d := &exportDoneData{Code: codes.EncodeText(codes.KindExportRequest, code), Authorized: a,
		Typed: codes.EncodeText(codes.KindAuthorization, a.Code), Hash: codeHash(a.Code)}
	s.render(w, r, http.StatusOK, "exchange_export_done.html", ss.page("Export request answered", acc, d))
}

// exportDownload serves the authorization code that answered an export
// request code, armored. It answers nothing.
func (s *server) exportDownload(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	code, err := carried(r, acc, exportExchange)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	rv, err := ss.l.ReviewExportIn(r.Context(), acc.Org.Name, code)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	if rv.Answered == nil {
		s.failIn(w, r, ss, acc, fmt.Errorf("%w: this export request code has not been answered: review it and answer it first", authority.ErrNotFound))
		return
	}
	attach(w, fmt.Sprintf("authorization-%s-%d.airlock", rv.Reservation, rv.Answered.Serial), codes.EncodeArmor(codes.KindAuthorization, rv.Answered.Code))
}

func init() {
	// exchangeNeeded is how many codes a product's listed devices need at
	// most: those holding no valid code.
	funcs["exchangeNeeded"] = func(listed, valid int) int64 { return int64(listed - valid) }
}
