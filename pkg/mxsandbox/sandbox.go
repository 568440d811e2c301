package mxsandbox

import (
	"container/heap"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AcceptVersion is the media type MX requires in the Accept header of every
// request.
const AcceptVersion = "application/vnd.mx.api.v1+json"

// DefaultAggregationDuration is the sandbox time one aggregation step takes
// when Options.AggregationDuration is zero.
const DefaultAggregationDuration = 2 * time.Second

// BackgroundInterval is how often, in sandbox time, MX aggregates every
// eligible member in the background.
const BackgroundInterval = 24 * time.Hour

// BackgroundFreshness is how recently a member may have been aggregated for
// the background sweep to skip it.
const BackgroundFreshness = 20 * time.Hour

// ChallengeTimeout is how long a member waits in CHALLENGED before it
// becomes EXPIRED.
const ChallengeTimeout = 10 * time.Minute

// maxBody bounds request bodies.
const maxBody = 1 << 20

// tickInterval is how often the background ticker applies due transitions
// (and so queues webhooks) without waiting for a request.
const tickInterval = 100 * time.Millisecond

// Options configures a Sandbox.
type Options struct {
	// ClientID and APIKey are the HTTP Basic pair every MX request must carry;
	// anything else is answered 401. Both are required.
	ClientID, APIKey string
	// Clock supplies sandbox time; nil means the real clock.
	Clock Clock
	// AggregationDuration is the sandbox time one aggregation step takes
	// (0 means DefaultAggregationDuration).
	AggregationDuration time.Duration
	// EnableControl serves the /_sandbox/ control surface. It needs no MX
	// credentials and is meant for tests and demos only.
	EnableControl bool
	// WebhookURL, when set, receives CONNECTION_STATUS and AGGREGATION
	// webhooks, POSTed asynchronously with HTTP Basic
	// WebhookUsername/WebhookPassword (when the username is set).
	WebhookURL, WebhookUsername, WebhookPassword string
	// WebhookRetryInterval is the sandbox time before the first retry of a
	// failed webhook delivery; each of the WebhookRetries retries waits twice
	// as long as the one before (0 means DefaultWebhookRetryInterval, which
	// spreads them over about 24 h as MX does).
	WebhookRetryInterval time.Duration
	// IntegerChallengeTypes makes challenges report "type" as MX's integer
	// code (TEXT 0, OPTIONS 2, TOKEN 12, IMAGE_DATA 13, IMAGE_OPTIONS 14)
	// instead of the default string.
	IntegerChallengeTypes bool
	// PendingPostsWithNewGUID makes a pending transaction that posts (at the
	// next successful aggregation on a later day) come back as a new
	// transaction with a new guid, the pending one disappearing, as MX does
	// for some institutions (MX-API.md §11, "Transactions"). By default it
	// keeps its guid and only its status and updated_at change.
	PendingPostsWithNewGUID bool
	// TransactionDescriptionPrefix, when set, starts the description and
	// original_description of every transaction listed: a canary for tests
	// that prove where transaction content never goes (status, events, logs,
	// metrics). Nothing else about a transaction changes.
	TransactionDescriptionPrefix string
	// AggregationThrottle is how long after a member's last successful
	// aggregation a foreground aggregation request starts nothing, at every
	// institution but mxbank: 0 means MX's ThrottleWindow (3 h), a negative
	// value disables the throttle.
	AggregationThrottle time.Duration
}

// Sandbox is an in-memory MX Platform API. It is an http.Handler; all its
// methods are safe for concurrent use.
type Sandbox struct {
	opts         Options
	clock        Clock
	fake         *FakeClock
	duration     time.Duration
	throttle     time.Duration
	institutions []*institution
	instByCode   map[string]*institution
	mux          *http.ServeMux
	hooks        *webhookSender

	mu          sync.Mutex
	users       map[string]*user
	usersByID   map[string]*user
	userOrder   []*user
	members     map[string]*member
	membersByID map[string]*member
	memberOrder []*member
	accounts    map[string]*account
	// widgets maps the token of every minted widget URL to it; widgetOrder
	// lists them in minting order.
	widgets     map[string]*widgetURL
	widgetOrder []*widgetURL
	seqs        map[string]uint64
	events      eventHeap
	eventSeq    uint64
	nextSweep   time.Time
	calls       map[string]int
	requests    requestLog
	faults      map[string]*faultState
	// held counts the requests a Hold fault holds; closing release lets
	// them go.
	held    int
	release chan struct{}

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// NewSandbox returns a running Sandbox, or an error when opts are invalid:
// ClientID or APIKey empty, or a WebhookURL that is not an absolute http or
// https URL. Call Close to stop its background goroutines. NewServer and
// Start also serve it over HTTP.
func NewSandbox(opts Options) (*Sandbox, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return newSandbox(opts), nil
}

// New is NewSandbox for options known to be valid: it panics where
// NewSandbox returns an error.
func New(opts Options) *Sandbox {
	s, err := NewSandbox(opts)
	if err != nil {
		panic(err)
	}
	return s
}

// validate reports the first invalid option.
func (o Options) validate() error {
	if o.ClientID == "" || o.APIKey == "" {
		return errors.New("mxsandbox: Options.ClientID and Options.APIKey are required")
	}
	if o.WebhookURL != "" {
		u, err := url.Parse(o.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("mxsandbox: Options.WebhookURL %q is not an absolute http or https URL", o.WebhookURL)
		}
	}
	return nil
}

func newSandbox(opts Options) *Sandbox {
	s := &Sandbox{
		opts:       opts,
		clock:      opts.Clock,
		duration:   opts.AggregationDuration,
		instByCode: map[string]*institution{},
		stop:       make(chan struct{}),
		release:    make(chan struct{}),
	}
	if s.clock == nil {
		s.clock = realClock{}
	}
	s.fake, _ = s.clock.(*FakeClock)
	if s.duration <= 0 {
		s.duration = DefaultAggregationDuration
	}
	switch s.throttle = opts.AggregationThrottle; {
	case s.throttle == 0:
		s.throttle = ThrottleWindow
	case s.throttle < 0:
		s.throttle = 0
	}
	s.institutions = catalog()
	for _, inst := range s.institutions {
		s.instByCode[inst.Code] = inst
	}
	s.resetLocked()
	s.routes()
	if opts.WebhookURL != "" {
		s.hooks = newWebhookSender(opts, s.clock)
		s.hooks.start()
	}
	s.wg.Add(1)
	go s.tick()
	return s
}

// ServeHTTP serves the MX API (and, with EnableControl, the control surface).
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Close stops the ticker and the webhook sender (undelivered webhooks are
// dropped) and ends held requests with a closed connection. It is safe to
// call more than once.
func (s *Sandbox) Close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.wg.Wait()
		if s.hooks != nil {
			s.hooks.close()
		}
	})
}

// Advance moves the sandbox's FakeClock forward by d and applies every
// transition (and queues every webhook) that became due, in order. It panics
// when the sandbox does not run on a *FakeClock.
func (s *Sandbox) Advance(d time.Duration) {
	if s.fake == nil {
		panic("sandbox: Advance needs Options.Clock to be a *FakeClock")
	}
	s.fake.Advance(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.processLocked(s.clock.Now())
	if s.hooks != nil {
		s.hooks.poke()
	}
}

// Options returns the options the sandbox was created with.
func (s *Sandbox) Options() Options {
	return s.opts
}

// Now returns the sandbox's time: its Clock's (GET /_sandbox/clock).
func (s *Sandbox) Now() time.Time {
	return s.clock.Now()
}

// Calls returns a copy of the per-endpoint call counters.
func (s *Sandbox) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// CallCount returns how many requests reached endpoint.
func (s *Sandbox) CallCount(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[endpoint]
}

// TotalCalls returns how many requests reached any MX endpoint.
func (s *Sandbox) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := 0
	for _, v := range s.calls {
		total += v
	}
	return total
}

// ResetCalls zeroes the call counters.
func (s *Sandbox) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
}

// Reset drops every user, member, account, minted widget URL, fault,
// counter, request record and queued webhook, releases held requests and restarts guid sequences and
// the background schedule, as if the sandbox had just been created (the
// clock is left alone).
func (s *Sandbox) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
	s.releaseHeldLocked()
	if s.hooks != nil {
		s.hooks.drop()
	}
}

func (s *Sandbox) resetLocked() {
	s.users = map[string]*user{}
	s.usersByID = map[string]*user{}
	s.userOrder = nil
	s.members = map[string]*member{}
	s.membersByID = map[string]*member{}
	s.memberOrder = nil
	s.accounts = map[string]*account{}
	s.widgets = map[string]*widgetURL{}
	s.widgetOrder = nil
	s.seqs = map[string]uint64{}
	s.events = nil
	s.eventSeq = 0
	s.nextSweep = s.clock.Now().Add(BackgroundInterval)
	s.calls = map[string]int{}
	s.requests.reset()
	s.faults = map[string]*faultState{}
}

// UserCount returns how many users exist.
func (s *Sandbox) UserCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.users)
}

// MemberCount returns how many members exist, across all users.
func (s *Sandbox) MemberCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.members)
}

// MemberSnapshot is a read-only copy of a member's state for test assertions.
type MemberSnapshot struct {
	GUID              string
	ID                string
	UserGUID          string
	UserID            string
	InstitutionCode   string
	ConnectionStatus  string
	IsBeingAggregated bool
	IsOAuth           bool
	MostRecentJobGUID string
	// AggregatedAt and SuccessfullyAggregatedAt are zero when never set.
	AggregatedAt             time.Time
	SuccessfullyAggregatedAt time.Time
}

// Members returns a snapshot of every member, in creation order, after
// applying the transitions due now.
func (s *Sandbox) Members() []MemberSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.processLocked(s.clock.Now())
	out := make([]MemberSnapshot, 0, len(s.memberOrder))
	for _, m := range s.memberOrder {
		out = append(out, s.snapshot(m))
	}
	return out
}

// Member returns a snapshot of the member with guid, after applying the
// transitions due now; false when no such member exists (never created, or
// deleted).
func (s *Sandbox) Member(guid string) (MemberSnapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.processLocked(s.clock.Now())
	m, ok := s.members[guid]
	if !ok {
		return MemberSnapshot{}, false
	}
	return s.snapshot(m), true
}

func (s *Sandbox) snapshot(m *member) MemberSnapshot {
	return MemberSnapshot{
		GUID:                     m.guid,
		ID:                       m.id,
		UserGUID:                 m.user.guid,
		UserID:                   m.user.id,
		InstitutionCode:          m.inst.Code,
		ConnectionStatus:         m.status,
		IsBeingAggregated:        m.aggregating,
		IsOAuth:                  m.isOAuth,
		MostRecentJobGUID:        m.jobGUID,
		AggregatedAt:             m.aggregatedAt,
		SuccessfullyAggregatedAt: m.successAt,
	}
}

// newGUID returns the next guid with prefix, shaped like MX's guids and
// counting up from 1 per prefix (USR-00000000-0000-0000-0000-000000000001).
func (s *Sandbox) newGUID(prefix string) string {
	s.seqs[prefix]++
	return fmt.Sprintf("%s-00000000-0000-0000-0000-%012d", prefix, s.seqs[prefix])
}

func (s *Sandbox) tick() {
	defer s.wg.Done()
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			s.processLocked(s.clock.Now())
			s.mu.Unlock()
			if s.hooks != nil {
				s.hooks.poke()
			}
		}
	}
}

// Request handling.

// request is what an MX handler sees: the request, its body (already read,
// so no handler reads from the network while holding the lock) and the
// sandbox time the request is served at.
type request struct {
	*http.Request
	body []byte
	now  time.Time
}

// reply is what an MX handler answers; the body is encoded as JSON unless nil.
type reply struct {
	status int
	body   any
}

type apiHandler func(req *request) reply

func errReply(status int, format string, args ...any) reply {
	return reply{status: status, body: errorBody{Error: errorMessage{Message: fmt.Sprintf(format, args...)}}}
}

func (s *Sandbox) handle(endpoint string, h apiHandler) {
	s.mux.HandleFunc(endpoint, func(w http.ResponseWriter, r *http.Request) {
		s.serveAPI(endpoint, h, w, r)
	})
}

func (s *Sandbox) routes() {
	s.mux = http.NewServeMux()
	s.handle(EndpointCreateUser, s.createUser)
	s.handle(EndpointListUsers, s.listUsers)
	s.handle(EndpointReadUser, s.readUser)
	s.handle(EndpointUpdateUser, s.updateUser)
	s.handle(EndpointDeleteUser, s.deleteUser)
	s.handle(EndpointListInstitutions, s.listInstitutions)
	s.handle(EndpointReadInstitution, s.readInstitution)
	s.handle(EndpointListCredentials, s.listCredentials)
	s.handle(EndpointCreateMember, s.createMember)
	s.handle(EndpointListMembers, s.listMembers)
	s.handle(EndpointReadMember, s.readMember)
	s.handle(EndpointUpdateMember, s.updateMember)
	s.handle(EndpointDeleteMember, s.deleteMember)
	s.handle(EndpointReadMemberStatus, s.readMemberStatus)
	s.handle(EndpointAggregateMember, s.aggregateMember)
	s.handle(EndpointListChallenges, s.listChallenges)
	s.handle(EndpointResumeMember, s.resumeMember)
	s.handle(EndpointReadOAuthWindowURI, s.readOAuthWindowURI)
	s.handle(EndpointListMemberAccounts, s.listMemberAccounts)
	s.handle(EndpointListMemberTransactions, s.listMemberTransactions)
	s.handle(EndpointListAccountTransactions, s.listAccountTransactions)
	s.handle(EndpointListUserTransactions, s.listUserTransactions)
	s.handle(EndpointCreateWidgetURL, s.createWidgetURL)
	if s.opts.EnableControl {
		s.controlRoutes()
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, errReply(http.StatusNotFound, "no route for %s %s", r.Method, RedactPath(r.URL.Path)))
	})
}

// serveAPI runs one MX request: count and log it, apply the endpoint's
// fault, check credentials and the Accept version, then run the handler
// under the lock after applying the transitions due now.
func (s *Sandbox) serveAPI(endpoint string, h apiHandler, rw http.ResponseWriter, r *http.Request) {
	w := &statusWriter{ResponseWriter: rw}
	rec := RequestRecord{Time: s.clock.Now(), WallTime: time.Now(), Endpoint: endpoint}
	defer func() {
		rec.Status = w.status
		s.recordRequest(rec)
	}()
	s.mu.Lock()
	s.calls[endpoint]++
	latency := s.faultLatencyLocked(endpoint)
	s.mu.Unlock()

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="MX Platform API"`)
		writeJSON(w, errReply(http.StatusUnauthorized, "The client_id and api_key combination is not valid."))
		return
	}
	if !acceptsVersion(r.Header.Values("Accept")) {
		writeJSON(w, errReply(http.StatusNotAcceptable, "An Accept header of %s is required.", AcceptVersion))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeJSON(w, errReply(http.StatusBadRequest, "The request body could not be read."))
		return
	}

	rep, d := s.execute(endpoint, h, &request{Request: r, body: body})
	if d.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(d.retryAfter/time.Second), 10))
	}
	switch {
	case d.rateLimited:
		writeJSON(w, errReply(http.StatusTooManyRequests, "Too many requests. Please slow down."))
	case d.serverError:
		writeJSON(w, errReply(http.StatusInternalServerError, "An unexpected error occurred. Please try again."))
	case d.serviceUnavailable:
		writeJSON(w, errReply(http.StatusServiceUnavailable, "The service is temporarily unavailable for maintenance. Please try again later."))
	case d.commitThenFail && d.drop:
		dropConnection(w)
	case d.commitThenFail:
		writeJSON(w, errReply(http.StatusInternalServerError, "An unexpected error occurred. Please try again."))
	case d.malformed:
		writeMalformed(w, rep)
	case d.hold:
		s.holdResponse(w, r)
	default:
		writeJSON(w, rep)
	}
}

func (s *Sandbox) execute(endpoint string, h apiHandler, req *request) (reply, faultDecision) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.decideFaultLocked(endpoint)
	if d.noEffect() {
		return reply{}, d
	}
	req.now = s.clock.Now()
	s.processLocked(req.now)
	return h(req), d
}

func (s *Sandbox) authorized(r *http.Request) bool {
	id, key, ok := r.BasicAuth()
	if !ok {
		return false
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(s.opts.ClientID)) == 1
	keyOK := subtle.ConstantTimeCompare([]byte(key), []byte(s.opts.APIKey)) == 1
	return idOK && keyOK
}

// acceptsVersion reports whether any media range in the Accept header(s) is
// MX's version media type.
func acceptsVersion(values []string) bool {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err == nil && mt == AcceptVersion {
				return true
			}
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, rep reply) {
	if rep.body == nil {
		w.WriteHeader(rep.status)
		return
	}
	b, err := json.Marshal(rep.body)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", AcceptVersion+"; charset=utf-8")
	w.WriteHeader(rep.status)
	_, _ = w.Write(append(b, '\n'))
}

// writeMalformed answers rep with its status and headers but only the first
// half of its JSON body: a proper prefix of a JSON object is never valid
// JSON. A reply without a body is written as is.
func writeMalformed(w http.ResponseWriter, rep reply) {
	if rep.body == nil {
		writeJSON(w, rep)
		return
	}
	b, err := json.Marshal(rep.body)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", AcceptVersion+"; charset=utf-8")
	w.WriteHeader(rep.status)
	_, _ = w.Write(b[:len(b)/2])
}

// dropConnection closes the client connection without answering.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

// decodeBody decodes a JSON request body into v; it reports whether the body
// was present and valid.
func decodeBody(body []byte, v any) bool {
	if len(strings.TrimSpace(string(body))) == 0 {
		return false
	}
	return json.Unmarshal(body, v) == nil
}

// Event scheduling.

type eventKind int

const (
	evNone eventKind = iota
	// evFinish ends the running job in m.pendingFinal.
	evFinish
	// evChallenge presents the challenges of m.mfaStep.
	evChallenge
	// evDelayed shows DELAYED and schedules the (late) finish.
	evDelayed
	// evExpire ends an unanswered CHALLENGED in EXPIRED.
	evExpire
	// evOAuthExpire deletes an OAuth member still PENDING.
	evOAuthExpire
)

type event struct {
	at     time.Time
	seq    uint64
	member *member
	gen    uint64
}

type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// schedule makes kind the member's single pending transition, due at at; any
// previously scheduled transition of the member is superseded.
func (s *Sandbox) schedule(m *member, at time.Time, kind eventKind) {
	m.gen++
	m.next = kind
	m.nextAt = at
	s.eventSeq++
	heap.Push(&s.events, event{at: at, seq: s.eventSeq, member: m, gen: m.gen})
}

// unschedule cancels the member's pending transition.
func (s *Sandbox) unschedule(m *member) {
	m.gen++
	m.next = evNone
	m.nextAt = time.Time{}
}

// live reports whether e is still the member's pending transition.
func (e event) live() bool {
	return !e.member.deleted && e.member.gen == e.gen && e.member.next != evNone
}

// processLocked applies, in time order, every member transition and
// background sweep due at or before now.
func (s *Sandbox) processLocked(now time.Time) {
	for {
		for len(s.events) > 0 && !s.events[0].live() {
			heap.Pop(&s.events)
		}
		memberDue := len(s.events) > 0 && !s.events[0].at.After(now)
		sweepDue := !s.nextSweep.After(now)
		switch {
		case memberDue && (!sweepDue || !s.events[0].at.After(s.nextSweep)):
			e := heap.Pop(&s.events).(event)
			s.fire(e.member, e.at)
		case sweepDue:
			at := s.nextSweep
			s.nextSweep = at.Add(BackgroundInterval)
			s.sweep(at)
		default:
			return
		}
	}
}
