package mxsandbox

import (
	"cmp"
	"crypto/rand"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The Connect widget (MX-API.md §11; OpenAPI requestWidgetURL): POST
// /users/{user}/widget_urls mints a single-use URL, and the end user,
// played by ConnectThroughWidget and RepairThroughWidget (or their
// control routes), connects a new member or fixes one there.

// WidgetURLLifetime is how long a widget URL works after it was minted, on
// the sandbox clock: OpenAPI requestWidgetURL, "The URL expires after ten
// minutes or upon first use, whichever occurs first".
const WidgetURLLifetime = 10 * time.Minute

// connectWidget is the only widget_type the sandbox serves.
const connectWidget = "connect_widget"

// Connect widget modes (OpenAPI WidgetRequest mode).
const (
	modeAggregation  = "aggregation"
	modeVerification = "verification"
)

// widgetPathPrefix is the path of every widget URL, followed by its token.
const widgetPathPrefix = "/_sandbox/widget/"

// Errors returned (wrapped) by ConnectThroughWidget and RepairThroughWidget.
// No error of the sandbox contains a widget URL or its token.
var (
	// ErrWidgetURLUnknown: the sandbox never minted this URL, or Reset
	// forgot it.
	ErrWidgetURLUnknown = errors.New("widget URL unknown")
	// ErrWidgetURLExpired: WidgetURLLifetime has passed since the URL was
	// minted.
	ErrWidgetURLExpired = errors.New("widget URL expired")
	// ErrWidgetURLUsed: the URL was opened before; each works once.
	ErrWidgetURLUsed = errors.New("widget URL already used")
)

// WidgetConnect is what the end user does in the Connect widget to connect
// a new member (ConnectThroughWidget).
type WidgetConnect struct {
	// InstitutionCode is the institution the end user picks; empty means
	// the URL's current_institution_code (or current_institution_guid).
	InstitutionCode string
	// Username and Password are the credentials the end user enters; both
	// are required. At mxbank the password picks the outcome.
	Username, Password string
	// Answers are the end user's MFA answers, used in order as the member
	// presents challenges (each challenge takes one); empty leaves a
	// CHALLENGED member waiting.
	Answers []string
}

// WidgetRepair is what the end user does in the Connect widget's fix view
// of a member (RepairThroughWidget).
type WidgetRepair struct {
	// Username and Password, when either is set, replace the member's
	// credentials (an empty one keeps its value).
	Username, Password string
	// Answers are the end user's MFA answers, used as in WidgetConnect.
	Answers []string
}

// WidgetOptions are the Connect widget options of a widget URL request
// (OpenAPI WidgetRequest), as sent: empty strings and nil pointers were not
// sent.
type WidgetOptions struct {
	CurrentInstitutionCode   string
	CurrentInstitutionGUID   string
	CurrentMemberGUID        string
	Mode                     string
	DisableBackgroundAgg     *bool
	DisableInstitutionSearch *bool
	ClientRedirectURL        string
	ColorScheme              string
	IsMobileWebview          *bool
	OAuthReferralSource      string
	UIMessageVersion         *int
	UpdateCredentials        *bool
	IncludeTransactions      *bool
}

// WidgetURLSnapshot is a read-only copy of what the sandbox knows about one
// minted widget URL, for test assertions. It holds neither the URL nor its
// token.
type WidgetURLSnapshot struct {
	UserGUID string
	// InstitutionCode is the institution the widget opens at: the current
	// member's, else that of current_institution_code or
	// current_institution_guid; empty when the end user searches.
	InstitutionCode string
	// MemberGUID is current_member_guid: the member whose fix view the
	// widget opens (RepairThroughWidget), or empty.
	MemberGUID string
	// Mode is "aggregation" (also when the request named none) or
	// "verification".
	Mode string
	// MintedAt is when the URL was minted; it works until ExpiresAt
	// (MintedAt + WidgetURLLifetime), on the sandbox clock.
	MintedAt, ExpiresAt time.Time
	// Used reports whether the URL has been opened.
	Used bool
	// Options are the request's options as sent.
	Options WidgetOptions
}

// widgetURL is one minted widget URL. Its token is a bearer secret: only
// the widgets map and the URL answered to the client hold it.
type widgetURL struct {
	token string
	user  *user
	// inst is the institution the widget opens at; nil when the end user
	// searches.
	inst       *institution
	memberGUID string
	mode       string
	opts       WidgetOptions
	mintedAt   time.Time
	expiresAt  time.Time
	used       bool
}

// backgroundDisabled is disable_background_agg, which defaults to false in
// aggregation mode and true in verification mode (OpenAPI WidgetRequest).
func (w *widgetURL) backgroundDisabled() bool {
	if w.opts.DisableBackgroundAgg != nil {
		return *w.opts.DisableBackgroundAgg
	}
	return w.mode == modeVerification
}

func (w *widgetURL) searchDisabled() bool {
	return w.opts.DisableInstitutionSearch != nil && *w.opts.DisableInstitutionSearch
}

func (w *widgetURL) snapshot() WidgetURLSnapshot {
	snap := WidgetURLSnapshot{
		UserGUID:   w.user.guid,
		MemberGUID: w.memberGUID,
		Mode:       w.mode,
		MintedAt:   w.mintedAt,
		ExpiresAt:  w.expiresAt,
		Used:       w.used,
		Options:    w.opts.clone(),
	}
	if w.inst != nil {
		snap.InstitutionCode = w.inst.Code
	}
	return snap
}

// clone copies o with pointers of its own, so a snapshot cannot change the
// sandbox's record.
func (o WidgetOptions) clone() WidgetOptions {
	o.DisableBackgroundAgg = clonePtr(o.DisableBackgroundAgg)
	o.DisableInstitutionSearch = clonePtr(o.DisableInstitutionSearch)
	o.IsMobileWebview = clonePtr(o.IsMobileWebview)
	o.UIMessageVersion = clonePtr(o.UIMessageVersion)
	o.UpdateCredentials = clonePtr(o.UpdateCredentials)
	o.IncludeTransactions = clonePtr(o.IncludeTransactions)
	return o
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// widgetInputError is a ConnectThroughWidget or RepairThroughWidget call
// the end user could not have made: a missing field, an institution the URL
// rules out, the other view. The control surface answers it 400.
type widgetInputError struct{ msg string }

func (e *widgetInputError) Error() string { return e.msg }

func inputErrorf(format string, args ...any) error {
	return &widgetInputError{msg: fmt.Sprintf(format, args...)}
}

// createWidgetURL answers OpenAPI requestWidgetURL for widget_type
// connect_widget: it mints a URL that works once, for WidgetURLLifetime.
// An unknown current_member_guid (or a member of another user) and an
// unknown current_institution_code or current_institution_guid are 404, as
// in every other lookup; a missing widget_type, another widget type and
// another mode are 400. disable_institution_search must come with an
// institution or a member (OpenAPI WidgetRequest: "must be used with").
func (s *Sandbox) createWidgetURL(req *request) reply {
	u, rep := s.lookupUser(req)
	if rep != nil {
		return *rep
	}
	var body widgetURLRequest
	if !decodeBody(req.body, &body) || body.WidgetURL == nil {
		return errReply(http.StatusBadRequest, "A valid widget_url object is required.")
	}
	f := body.WidgetURL
	switch f.WidgetType {
	case "":
		return errReply(http.StatusBadRequest, "widget_type is required.")
	case connectWidget:
	default:
		return errReply(http.StatusBadRequest, "The sandbox serves only connect_widget, not %q.", f.WidgetType)
	}
	w := &widgetURL{
		user:      u,
		mode:      cmp.Or(f.Mode, modeAggregation),
		opts:      WidgetOptions(f.widgetOptionsJSON),
		mintedAt:  req.now,
		expiresAt: req.now.Add(WidgetURLLifetime),
	}
	if w.mode != modeAggregation && w.mode != modeVerification {
		return errReply(http.StatusBadRequest, "mode must be aggregation or verification, not %q.", f.Mode)
	}
	if rep := s.resolveWidgetView(w); rep != nil {
		return *rep
	}
	if w.searchDisabled() && w.inst == nil {
		return errReply(http.StatusBadRequest, "disable_institution_search needs current_institution_code, current_institution_guid or current_member_guid.")
	}
	w.token = rand.Text()
	s.widgets[w.token] = w
	s.widgetOrder = append(s.widgetOrder, w)
	return reply{status: http.StatusOK, body: widgetURLResponse{WidgetURL: widgetURLJSON{
		Type:   connectWidget,
		URL:    widgetLink(req, w.token),
		UserID: strPtr(u.id),
	}}}
}

// resolveWidgetView sets the member and institution the widget opens at:
// current_member_guid, which takes precedence (OpenAPI WidgetRequest), else
// current_institution_code and current_institution_guid, which must agree.
func (s *Sandbox) resolveWidgetView(w *widgetURL) *reply {
	o := w.opts
	if o.CurrentMemberGUID != "" {
		m, ok := s.members[o.CurrentMemberGUID]
		if !ok || m.user != w.user {
			rep := errReply(http.StatusNotFound, "Member not found.")
			return &rep
		}
		w.memberGUID, w.inst = m.guid, m.inst
		return nil
	}
	var byCode, byGUID *institution
	if o.CurrentInstitutionCode != "" {
		if byCode = s.instByCode[o.CurrentInstitutionCode]; byCode == nil {
			rep := errReply(http.StatusNotFound, "Institution not found.")
			return &rep
		}
	}
	if o.CurrentInstitutionGUID != "" {
		if byGUID = s.institutionByGUID(o.CurrentInstitutionGUID); byGUID == nil {
			rep := errReply(http.StatusNotFound, "Institution not found.")
			return &rep
		}
	}
	if byCode != nil && byGUID != nil && byCode != byGUID {
		rep := errReply(http.StatusBadRequest, "current_institution_code and current_institution_guid name different institutions.")
		return &rep
	}
	w.inst = cmp.Or(byCode, byGUID)
	return nil
}

func (s *Sandbox) institutionByGUID(guid string) *institution {
	for _, inst := range s.institutions {
		if inst.GUID == guid {
			return inst
		}
	}
	return nil
}

// widgetLink is the URL of the widget page with token on the host the
// request was sent to.
func widgetLink(req *request, token string) string {
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + req.Host + widgetPathPrefix + token
}

// widgetTokenOf returns the token of a widget URL, "" when link is not one.
func widgetTokenOf(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return ""
	}
	token, ok := strings.CutPrefix(u.Path, widgetPathPrefix)
	if !ok || strings.Contains(token, "/") {
		return ""
	}
	return token
}

// RedactPath returns path with the token of a widget URL path
// (/_sandbox/widget/<token>) replaced by "{token}", and any other path
// unchanged: the form in which a request log may show it.
func RedactPath(path string) string {
	rest, ok := strings.CutPrefix(path, widgetPathPrefix)
	if !ok || rest == "connect" || rest == "repair" {
		return path
	}
	return widgetPathPrefix + "{token}"
}

// openWidgetLocked opens the widget URL link at now for the fix view of a
// member (repair) or for connecting a new member, and uses it up. Unknown,
// used and expired URLs, and a URL minted for the other view, are refused
// and left as they were.
func (s *Sandbox) openWidgetLocked(link string, now time.Time, repair bool) (*widgetURL, error) {
	w, ok := s.widgets[widgetTokenOf(link)]
	switch {
	case !ok:
		return nil, fmt.Errorf("opening the Connect widget: %w", ErrWidgetURLUnknown)
	case w.used:
		return nil, fmt.Errorf("opening the Connect widget of user %q: %w", w.user.guid, ErrWidgetURLUsed)
	case !now.Before(w.expiresAt):
		return nil, fmt.Errorf("opening the Connect widget of user %q, minted at %s: %w", w.user.guid, w.mintedAt.UTC().Format(time.RFC3339), ErrWidgetURLExpired)
	case repair && w.memberGUID == "":
		return nil, inputErrorf("the widget URL was minted without current_member_guid, so it opens no member's fix view: use ConnectThroughWidget")
	case !repair && w.memberGUID != "":
		return nil, inputErrorf("the widget URL opens the fix view of member %q: use RepairThroughWidget", w.memberGUID)
	}
	w.used = true
	return w, nil
}

// ConnectThroughWidget plays the end user opening a Connect widget URL the
// sandbox minted and connecting a new member of the URL's user there, as
// MX's widget does: the member has no partner id (id null; PUT …/members
// can give it one), is at c.InstitutionCode (or the URL's institution),
// has c's credentials, has background aggregation as disable_background_agg
// says (default: on in aggregation mode, off in verification mode) and
// starts its first aggregation exactly as one created by POST …/members
// does, webhooks included. With c.Answers the end user answers the
// challenges as they come (as PUT …/resume would); once the answers run
// out, or fall short of a step's challenges, the member waits in
// CHALLENGED.
//
// The URL is used up as soon as it is opened, even when the connection then
// fails. It returns ErrWidgetURLUnknown, ErrWidgetURLExpired or
// ErrWidgetURLUsed (wrapped) for a URL it cannot open, ErrNotFound for an
// unknown institution or a deleted user, and an error naming the problem
// for a missing username or password, a URL that names no institution when
// c does not either, a different institution when the URL disables the
// institution search, an OAuth-only institution, the same credentials as an
// existing member of the user, and a URL minted with current_member_guid
// (that one is for RepairThroughWidget and is not used up).
func (s *Sandbox) ConnectThroughWidget(url string, c WidgetConnect) (memberGUID string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.processLocked(now)
	w, err := s.openWidgetLocked(url, now, false)
	if err != nil {
		return "", err
	}
	if w.user.deleted {
		return "", fmt.Errorf("user %q of the widget URL: %w", w.user.guid, ErrNotFound)
	}
	inst, err := s.widgetInstitution(w, c.InstitutionCode)
	if err != nil {
		return "", err
	}
	switch {
	case len(inst.Credentials) == 0:
		return "", inputErrorf("institution %s only supports OAuth; the sandbox's widget connects institutions with credentials", inst.Code)
	case c.Username == "":
		return "", inputErrorf("WidgetConnect.Username is required")
	case c.Password == "":
		return "", inputErrorf("WidgetConnect.Password is required")
	case s.sameCredentials(w.user, inst, c.Username, c.Password):
		return "", fmt.Errorf("user %q already has a member at %s with these credentials", w.user.guid, inst.Code)
	}
	m := &member{
		guid:       s.newGUID("MBR"),
		user:       w.user,
		inst:       inst,
		username:   c.Username,
		password:   c.Password,
		bgDisabled: w.backgroundDisabled(),
	}
	s.addMember(m)
	if s.startNewMember(m, now, false) {
		m.widgetAnswers = slices.Clone(c.Answers)
	}
	return m.guid, nil
}

// widgetInstitution is the institution the end user connects at: code, or
// the URL's when code is empty. With disable_institution_search the end
// user cannot leave the URL's institution.
func (s *Sandbox) widgetInstitution(w *widgetURL, code string) (*institution, error) {
	if code == "" {
		if w.inst == nil {
			return nil, inputErrorf("the widget URL names no institution: set WidgetConnect.InstitutionCode to the one the end user searched for")
		}
		return w.inst, nil
	}
	if w.searchDisabled() && code != w.inst.Code {
		return nil, inputErrorf("the widget URL disables institution search: the end user can only connect at %s, not %s", w.inst.Code, code)
	}
	inst, ok := s.instByCode[code]
	if !ok {
		return nil, fmt.Errorf("institution %q: %w", code, ErrNotFound)
	}
	return inst, nil
}

// RepairThroughWidget plays the end user opening a Connect widget URL
// minted with current_member_guid and fixing that member in the widget's
// fix view. The member keeps its guid and partner id.
//
//   - r.Username or r.Password set: the member's credentials are replaced
//     and an aggregation starts, showing UPDATED, as PUT …/members/{member}
//     with credentials does.
//   - Only r.Answers set: a CHALLENGED member is answered now; a member
//     whose aggregation runs is answered when it presents challenges;
//     otherwise an aggregation starts (the end user re-ran it) and is
//     answered when it does.
//   - Neither: an aggregation starts, as StartJob(guid, JobAggregation)
//     does, with its errors (ErrJobRunning, also while CHALLENGED, and
//     ErrJobRefused).
//
// Answers are used as in ConnectThroughWidget. The URL is used up as soon
// as it is opened, even when the repair then fails. It returns
// ErrWidgetURLUnknown, ErrWidgetURLExpired or ErrWidgetURLUsed (wrapped)
// for a URL it cannot open, ErrNotFound when the member is gone, and an
// error naming the problem for new credentials on an OAuth member and for
// a URL minted without current_member_guid (that one is for
// ConnectThroughWidget and is not used up).
func (s *Sandbox) RepairThroughWidget(url string, r WidgetRepair) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.processLocked(now)
	w, err := s.openWidgetLocked(url, now, true)
	if err != nil {
		return err
	}
	m, ok := s.members[w.memberGUID]
	if !ok || m.user != w.user {
		return fmt.Errorf("member %q of the widget URL: %w", w.memberGUID, ErrNotFound)
	}
	switch {
	case r.Username != "" || r.Password != "":
		if m.isOAuth {
			return inputErrorf("member %q is an OAuth member: it has no credentials to replace", m.guid)
		}
		m.username = cmp.Or(r.Username, m.username)
		m.password = cmp.Or(r.Password, m.password)
		m.failedLogins = 0
		s.startAggregation(m, now, false, StatusUpdated)
	case len(r.Answers) > 0 && m.aggregating:
	default:
		if err := s.startJobLocked(m, JobAggregation, now); err != nil {
			return err
		}
	}
	m.widgetAnswers = slices.Clone(r.Answers)
	if m.status == StatusChallenged {
		s.answerFromWidget(m, now)
	}
	return nil
}

// answerFromWidget plays the end user answering, in the Connect widget, the
// challenges m presents at time at, with the next of the answers the widget
// session was given. With fewer answers left than challenges the end user
// has given up: m stays CHALLENGED and the rest are dropped.
func (s *Sandbox) answerFromWidget(m *member, at time.Time) {
	n := len(m.challenges)
	if n == 0 || len(m.widgetAnswers) < n {
		m.widgetAnswers = nil
		return
	}
	values := m.widgetAnswers[:n:n]
	m.widgetAnswers = m.widgetAnswers[n:]
	s.resume(m, at, values)
}

// WidgetURLs returns a snapshot of every widget URL minted since the
// sandbox was created or Reset, in the order they were minted.
func (s *Sandbox) WidgetURLs() []WidgetURLSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]WidgetURLSnapshot, 0, len(s.widgetOrder))
	for _, w := range s.widgetOrder {
		out = append(out, w.snapshot())
	}
	return out
}

// Control surface.

// widgetErrorStatus is the control-surface status of a ConnectThroughWidget
// or RepairThroughWidget error.
func widgetErrorStatus(err error) int {
	var input *widgetInputError
	switch {
	case errors.Is(err, ErrWidgetURLUnknown), errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrWidgetURLExpired):
		return http.StatusGone
	case errors.As(err, &input):
		return http.StatusBadRequest
	}
	return http.StatusConflict
}

// ctlWidgetConnect plays the end user connecting through a widget URL, as
// ConnectThroughWidget does: 201 with the new member's guid.
func (s *Sandbox) ctlWidgetConnect(w http.ResponseWriter, r *http.Request) {
	var body widgetConnectRequest
	b, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if !decodeBody(b, &body) || body.URL == "" {
		ctlError(w, http.StatusBadRequest, `Body must be {"url": "<widget URL>", "institution_code": "…", "username": "…", "password": "…", "answers": ["…"]}; url, username and password are required.`)
		return
	}
	guid, err := s.ConnectThroughWidget(body.URL, WidgetConnect{
		InstitutionCode: body.InstitutionCode,
		Username:        body.Username,
		Password:        body.Password,
		Answers:         body.Answers,
	})
	if err != nil {
		ctlError(w, widgetErrorStatus(err), err.Error())
		return
	}
	ctlJSON(w, http.StatusCreated, widgetConnectResponse{MemberGUID: guid})
}

// ctlWidgetRepair plays the end user in the fix view of a member, as
// RepairThroughWidget does: 204.
func (s *Sandbox) ctlWidgetRepair(w http.ResponseWriter, r *http.Request) {
	var body widgetRepairRequest
	b, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if !decodeBody(b, &body) || body.URL == "" {
		ctlError(w, http.StatusBadRequest, `Body must be {"url": "<widget URL>", "username": "…", "password": "…", "answers": ["…"]}; url is required.`)
		return
	}
	err := s.RepairThroughWidget(body.URL, WidgetRepair{Username: body.Username, Password: body.Password, Answers: body.Answers})
	if err != nil {
		ctlError(w, widgetErrorStatus(err), err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) ctlWidgetURLs(w http.ResponseWriter, _ *http.Request) {
	out := widgetURLsResponse{WidgetURLs: []widgetURLSnapshotJSON{}}
	for _, snap := range s.WidgetURLs() {
		out.WidgetURLs = append(out.WidgetURLs, widgetURLSnapshotJSON{
			UserGUID:        snap.UserGUID,
			InstitutionCode: snap.InstitutionCode,
			MemberGUID:      snap.MemberGUID,
			Mode:            snap.Mode,
			MintedAt:        snap.MintedAt.UTC().Format(time.RFC3339Nano),
			ExpiresAt:       snap.ExpiresAt.UTC().Format(time.RFC3339Nano),
			Used:            snap.Used,
			Options:         widgetOptionsJSON(snap.Options),
		})
	}
	ctlJSON(w, http.StatusOK, out)
}

// ctlWidgetPage is the page a widget URL points at, what a browser opening
// it gets: it says how to play the end user. Loading it does not open the
// URL, so it stays usable (404 for a URL the sandbox did not mint, 409 once
// used, 410 once expired).
func (s *Sandbox) ctlWidgetPage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	wu, ok := s.widgets[r.PathValue("token")]
	now := s.clock.Now()
	status := http.StatusOK
	switch {
	case !ok:
		status = http.StatusNotFound
	case wu.used:
		status = http.StatusConflict
	case !now.Before(wu.expiresAt):
		status = http.StatusGone
	}
	s.mu.Unlock()
	text := "MX Connect (sandbox): this page connects nothing. Play the end user with " +
		`POST /_sandbox/widget/connect {"url": "<this URL>", "username": "…", "password": "…"} ` +
		`(or POST /_sandbox/widget/repair for a member's fix view), or ConnectThroughWidget and RepairThroughWidget in Go.`
	switch status {
	case http.StatusNotFound:
		text = "MX Connect (sandbox): this widget URL is unknown."
	case http.StatusConflict:
		text = "MX Connect (sandbox): this widget URL has already been used."
	case http.StatusGone:
		text = "MX Connect (sandbox): this widget URL has expired."
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "<!doctype html><title>MX Connect (sandbox)</title><p>"+html.EscapeString(text)+"</p>\n")
}
