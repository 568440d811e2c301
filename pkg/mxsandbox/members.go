package mxsandbox

import (
	"net/http"
	"time"
)

// needsCredentials are the statuses in which MX reports
// needs_updated_credentials.
var needsCredentials = map[string]bool{
	StatusDenied: true, StatusPrevented: true, StatusImpaired: true, StatusImported: true,
}

func (s *Sandbox) memberJSON(m *member) memberJSON {
	j := memberJSON{
		AggregatedAt:                    timestamp(m.aggregatedAt),
		BackgroundAggregationIsDisabled: m.bgDisabled,
		ConnectionStatus:                strPtr(m.status),
		ConnectionStatusMessage:         strPtr(statusMessage(m.status, m.inst.Name)),
		GUID:                            m.guid,
		ID:                              strPtr(m.id),
		InstitutionCode:                 m.inst.Code,
		InstitutionGUID:                 m.inst.GUID,
		IsBeingAggregated:               m.aggregating,
		IsOAuth:                         m.isOAuth,
		Metadata:                        strPtr(m.metadata),
		MostRecentJobGUID:               strPtr(m.jobGUID),
		Name:                            m.inst.Name,
		NeedsUpdatedCredentials:         needsCredentials[m.status],
		OAuthWindowURI:                  strPtr(m.oauthWindowURI),
		SuccessfullyAggregatedAt:        timestamp(m.successAt),
		UseCases:                        nonNil(m.useCases),
		UserGUID:                        m.user.guid,
		UserID:                          strPtr(m.user.id),
	}
	return j
}

func (s *Sandbox) challengeJSON(c *challenge) challengeJSON {
	j := challengeJSON{GUID: c.guid, Label: c.tmpl.Label, FieldName: c.tmpl.FieldName, Type: c.tmpl.Type}
	if s.opts.IntegerChallengeTypes {
		j.Type = challengeTypeCodes[c.tmpl.Type]
	}
	if c.tmpl.ImageData != "" {
		img := c.tmpl.ImageData
		j.ImageData = &img
	}
	for i, o := range c.tmpl.Options {
		if c.tmpl.Type == ChallengeImageOptions {
			j.ImageOptions = append(j.ImageOptions, imageOptionJSON{GUID: c.optionGUIDs[i], Label: o.Label, Value: o.Value, DataURI: o.DataURI})
			continue
		}
		j.Options = append(j.Options, optionJSON{GUID: c.optionGUIDs[i], Label: o.Label, Value: o.Value})
	}
	return j
}

func (s *Sandbox) memberReply(status int, m *member) reply {
	return reply{status: status, body: memberResponse{Member: s.memberJSON(m)}}
}

// lookupMember finds the {user} and {member} of the path (the member must
// belong to the user) or answers 404.
func (s *Sandbox) lookupMember(req *request) (*member, *reply) {
	u, rep := s.lookupUser(req)
	if rep != nil {
		return nil, rep
	}
	m, ok := s.members[req.PathValue("member")]
	if !ok || m.user != u {
		rep := errReply(http.StatusNotFound, "Member not found.")
		return nil, &rep
	}
	return m, nil
}

// applyCredentials sets the username and password a request supplies for
// inst; it answers 400 for an unknown credential guid.
func applyCredentials(inst *institution, creds []credentialValue, username, password *string) *reply {
	for _, c := range creds {
		field := ""
		for _, f := range inst.Credentials {
			if f.GUID == c.GUID {
				field = f.FieldName
			}
		}
		switch field {
		case CredentialFieldUsername:
			*username = c.Value
		case CredentialFieldPassword:
			*password = c.Value
		default:
			rep := errReply(http.StatusBadRequest, "Credential guid %q does not belong to institution %s.", c.GUID, inst.Code)
			return &rep
		}
	}
	return nil
}

// memberIDTaken reports whether a member other than except already has the
// partner id. MX-API.md §11 ("Partner ids"): a member's id is unique across
// all members of all users of the client, not just per user.
func (s *Sandbox) memberIDTaken(id string, except *member) bool {
	if id == "" {
		return false
	}
	m, ok := s.membersByID[id]
	return ok && m != except
}

// setMemberID changes a member's partner id, keeping the id index current.
func (s *Sandbox) setMemberID(m *member, id string) {
	if m.id != "" && s.membersByID[m.id] == m {
		delete(s.membersByID, m.id)
	}
	m.id = id
	if id != "" {
		s.membersByID[id] = m
	}
}

func (s *Sandbox) createMember(req *request) reply {
	u, rep := s.lookupUser(req)
	if rep != nil {
		return *rep
	}
	var body memberCreateRequest
	if !decodeBody(req.body, &body) || body.Member == nil {
		return errReply(http.StatusBadRequest, "A member object is required.")
	}
	f := body.Member
	if f.InstitutionCode == "" {
		return errReply(http.StatusBadRequest, "institution_code is required.")
	}
	inst, ok := s.instByCode[f.InstitutionCode]
	if !ok {
		return errReply(http.StatusNotFound, "Institution %q not found.", f.InstitutionCode)
	}
	oauth := f.IsOAuth && inst.SupportsOAuth
	var username, password string
	if !oauth {
		if len(inst.Credentials) == 0 {
			return errReply(http.StatusBadRequest, "Institution %s only supports OAuth: set is_oauth.", inst.Code)
		}
		if rep := applyCredentials(inst, f.Credentials, &username, &password); rep != nil {
			return *rep
		}
		if username == "" || password == "" {
			return errReply(http.StatusBadRequest, "Credentials for every field of %s (username and password) are required.", inst.Code)
		}
	}
	id := ""
	if f.ID != nil {
		id = *f.ID
	}
	if s.memberIDTaken(id, nil) {
		return errReply(http.StatusConflict, "A member with id %q already exists.", id)
	}
	if !oauth && s.sameCredentials(u, inst, username, password) {
		return errReply(http.StatusConflict, "A member with these credentials already exists for this user.")
	}
	m := &member{
		guid:              s.newGUID("MBR"),
		user:              u,
		inst:              inst,
		username:          username,
		password:          password,
		isOAuth:           oauth,
		clientRedirectURL: body.ClientRedirectURL,
		bgDisabled:        f.BackgroundAggregationIsDisabled,
		useCases:          f.UseCases,
	}
	if f.Metadata != nil {
		m.metadata = *f.Metadata
	}
	s.setMemberID(m, id)
	s.addMember(m)
	if oauth && !s.throttled(m, req.now) {
		s.mintOAuthWindowURI(req, m)
		s.setStatus(m, StatusPending)
		s.schedule(m, req.now.Add(OAuthPendingTimeout), evOAuthExpire)
		return s.memberReply(http.StatusOK, m)
	}
	if s.startNewMember(m, req.now, f.SkipAggregation) {
		return s.memberReply(http.StatusAccepted, m)
	}
	return s.memberReply(http.StatusOK, m)
}

// sameCredentials reports whether u already has a credential member at inst
// with this username and password (MX answers 409 to a second one).
func (s *Sandbox) sameCredentials(u *user, inst *institution, username, password string) bool {
	for _, other := range u.members {
		if other.inst == inst && !other.isOAuth && other.username == username && other.password == password {
			return true
		}
	}
	return false
}

// addMember indexes m, a new member of m.user whose partner id is already
// set. MX-API.md §11: a member deleted and re-created inside the throttle
// window reports its earlier aggregated_at, so m takes over the
// aggregation times of the user's last deleted member at the institution.
func (s *Sandbox) addMember(m *member) {
	s.members[m.guid] = m
	s.memberOrder = append(s.memberOrder, m)
	m.user.members = append(m.user.members, m)
	if p, ok := m.user.past[m.inst.Code]; ok {
		m.aggregatedAt, m.successAt = p.aggregatedAt, p.successAt
	}
}

// startNewMember starts what a new credential member starts at now, whether
// created by POST …/members or by the end user in the Connect widget: its
// first aggregation (CREATED, aggregating), unless skip is set or it was
// re-created inside the throttle window, in which case it is CREATED and
// idle. It reports whether an aggregation started (MX answers 202).
func (s *Sandbox) startNewMember(m *member, now time.Time, skip bool) bool {
	if skip || s.throttled(m, now) {
		s.setStatus(m, StatusCreated)
		return false
	}
	s.startAggregation(m, now, false, StatusCreated)
	return true
}

func (s *Sandbox) listMembers(req *request) reply {
	u, rep := s.lookupUser(req)
	if rep != nil {
		return *rep
	}
	start, end, p := paginate(req.URL.Query(), len(u.members), MaxPerPage)
	out := []memberJSON{}
	for _, m := range u.members[start:end] {
		out = append(out, s.memberJSON(m))
	}
	return reply{status: http.StatusOK, body: membersResponse{Members: out, Pagination: p}}
}

func (s *Sandbox) readMember(req *request) reply {
	m, rep := s.lookupMember(req)
	if rep != nil {
		return *rep
	}
	return s.memberReply(http.StatusOK, m)
}

func (s *Sandbox) updateMember(req *request) reply {
	m, rep := s.lookupMember(req)
	if rep != nil {
		return *rep
	}
	var body memberUpdateRequest
	if !decodeBody(req.body, &body) || body.Member.empty() {
		return errReply(http.StatusBadRequest, "A member object with at least one attribute is required.")
	}
	f := body.Member
	if f.ID != nil && s.memberIDTaken(*f.ID, m) {
		return errReply(http.StatusConflict, "A member with id %q already exists.", *f.ID)
	}
	if len(f.Credentials) > 0 {
		if m.isOAuth {
			return errReply(http.StatusBadRequest, "OAuth members have no credentials to update.")
		}
		username, password := m.username, m.password
		if rep := applyCredentials(m.inst, f.Credentials, &username, &password); rep != nil {
			return *rep
		}
		m.username, m.password = username, password
		m.failedLogins = 0
		if f.SkipAggregation != nil && *f.SkipAggregation {
			s.unschedule(m)
			m.aggregating = false
			m.challenges = nil
			s.setStatus(m, StatusUpdated)
		} else {
			s.startAggregation(m, req.now, false, StatusUpdated)
		}
	}
	if f.ID != nil {
		s.setMemberID(m, *f.ID)
	}
	if f.Metadata != nil {
		m.metadata = *f.Metadata
	}
	if f.BackgroundAggregationIsDisabled != nil {
		m.bgDisabled = *f.BackgroundAggregationIsDisabled
	}
	if f.UseCases != nil {
		m.useCases = f.UseCases
	}
	return s.memberReply(http.StatusOK, m)
}

func (s *Sandbox) deleteMember(req *request) reply {
	m, rep := s.lookupMember(req)
	if rep != nil {
		return *rep
	}
	s.removeMember(m)
	return reply{status: http.StatusNoContent}
}

func (s *Sandbox) removeMember(m *member) {
	if !m.successAt.IsZero() {
		if m.user.past == nil {
			m.user.past = map[string]pastAggregation{}
		}
		m.user.past[m.inst.Code] = pastAggregation{aggregatedAt: m.aggregatedAt, successAt: m.successAt}
	}
	s.unschedule(m)
	m.deleted = true
	s.setMemberID(m, "")
	delete(s.members, m.guid)
	s.memberOrder = removeFrom(s.memberOrder, m)
	m.user.members = removeFrom(m.user.members, m)
	for _, a := range m.accounts {
		delete(s.accounts, a.guid)
	}
}

// readMemberStatus answers OpenAPI readMemberStatus with exactly the fields
// of MemberStatusResponse: no connection_status_message (MX-API.md §11,
// "Status vs member": that message is only on the member).
func (s *Sandbox) readMemberStatus(req *request) reply {
	m, rep := s.lookupMember(req)
	if rep != nil {
		return *rep
	}
	j := memberStatusJSON{
		AggregatedAt:               timestamp(m.aggregatedAt),
		ConnectionStatus:           strPtr(m.status),
		GUID:                       m.guid,
		HasProcessedAccountNumbers: len(m.successes) > 0,
		HasProcessedAccounts:       len(m.successes) > 0,
		HasProcessedTransactions:   len(m.successes) > 0,
		IsAuthenticated:            m.isAuthenticated,
		IsBeingAggregated:          m.aggregating,
		SuccessfullyAggregatedAt:   timestamp(m.successAt),
	}
	for _, c := range m.challenges {
		j.Challenges = append(j.Challenges, s.challengeJSON(c))
	}
	return reply{status: http.StatusOK, body: memberStatusResponse{Member: j}}
}

// aggregateMember starts a foreground aggregation. Like MX it answers 409
// while a job of another kind (StartJob) runs, and 202 without starting
// anything when an aggregation already runs (CHALLENGED included),
// inside the throttle window after the last successful aggregation, for an
// OAuth member the user has not authorised yet, and for a PREVENTED member.
//
// A member of a disabled user is refused with 403. The OpenAPI createUser
// text says disabling a user "will also restrict access to that user's data
// until they are no longer disabled"; neither it nor MX-API.md names the
// status, so the sandbox uses MX's refusal code (MX-API.md §4: 403).
func (s *Sandbox) aggregateMember(req *request) reply {
	m, rep := s.lookupMember(req)
	if rep != nil {
		return *rep
	}
	if m.user.isDisabled {
		return errReply(http.StatusForbidden, "The user is disabled; its members cannot be aggregated until it is enabled again.")
	}
	switch {
	case m.aggregating && m.jobKind != JobAggregation:
		// MX-API.md §2 (aggregate): 409 when a job of another kind runs.
		return errReply(http.StatusConflict, "A %s job is running for this member; aggregate it once that job has finished.", m.jobKind)
	case m.aggregating:
	case m.isOAuth && !m.oauthAuthorized:
	case m.status == StatusPrevented:
	case s.throttled(m, req.now):
	default:
		s.startAggregation(m, req.now, false, "")
	}
	return s.memberReply(http.StatusAccepted, m)
}

func (s *Sandbox) listChallenges(req *request) reply {
	m, rep := s.lookupMember(req)
	if rep != nil {
		return *rep
	}
	if m.status != StatusChallenged {
		return reply{status: http.StatusNoContent}
	}
	start, end, p := paginate(req.URL.Query(), len(m.challenges), MaxPerPage)
	out := []challengeJSON{}
	for _, c := range m.challenges[start:end] {
		out = append(out, s.challengeJSON(c))
	}
	return reply{status: http.StatusOK, body: challengesResponse{Challenges: out, Pagination: p}}
}

func (s *Sandbox) resumeMember(req *request) reply {
	m, rep := s.lookupMember(req)
	if rep != nil {
		return *rep
	}
	var body resumeRequest
	if !decodeBody(req.body, &body) || body.Member == nil || len(body.Member.Challenges) == 0 {
		return errReply(http.StatusBadRequest, "A member object with challenge answers is required.")
	}
	if m.status != StatusChallenged {
		return errReply(http.StatusMethodNotAllowed, "Member is not CHALLENGED (connection_status is %s).", m.status)
	}
	answers := map[string]string{}
	for _, a := range body.Member.Challenges {
		answers[a.GUID] = a.Value
	}
	values := make([]string, 0, len(m.challenges))
	for _, c := range m.challenges {
		v, ok := answers[c.guid]
		if !ok {
			return errReply(http.StatusBadRequest, "Challenge %s was not answered.", c.guid)
		}
		values = append(values, v)
	}
	s.resume(m, req.now, values)
	return s.memberReply(http.StatusAccepted, m)
}

func (s *Sandbox) listMemberAccounts(req *request) reply {
	m, rep := s.lookupMember(req)
	if rep != nil {
		return *rep
	}
	start, end, p := paginate(req.URL.Query(), len(m.accounts), MaxPerPage)
	out := []accountJSON{}
	for _, a := range m.accounts[start:end] {
		out = append(out, s.accountJSON(a))
	}
	return reply{status: http.StatusOK, body: accountsResponse{Accounts: out, Pagination: p}}
}
