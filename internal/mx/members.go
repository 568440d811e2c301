package mx

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// createMemberEnvelope is the POST /users/{user}/members body; the referral
// source and redirect URL are siblings of the member object.
type createMemberEnvelope struct {
	Member            memberCreateWire `json:"member"`
	ReferralSource    string           `json:"referral_source,omitempty"`
	ClientRedirectURL string           `json:"client_redirect_url,omitempty"`
}

// memberEnvelope is the {"member":{…}} body of an update.
type memberEnvelope struct {
	Member memberWire `json:"member"`
}

// resumeEnvelope is the PUT …/resume body.
type resumeEnvelope struct {
	Member struct {
		Challenges []secretWire `json:"challenges"`
	} `json:"member"`
}

// CreateMember creates a member of the user at req.InstitutionCode and
// returns it, with aggregationStarted true when MX answered 202 (an
// aggregation started) and false when it answered 200 (skip_aggregation,
// OAuth).
//
// Creating is not idempotent, so the client retries it only on 429 and on
// failures to connect, when MX provably did not process it; never on 5xx or
// a lost response. When CreateMember returns an error for which
// [IsRetryable] is true (including a 2xx whose body could not be decoded,
// [ErrUndecodableResponse]), the outcome is unknown: the member may exist and
// may be aggregating. Resolve it with [Client.FindMemberByID] (hence req.ID
// should always be set) before creating again; a blind retry fails with 409
// (same user, institution and credentials) or creates a duplicate.
//
// The body always carries a credentials array, empty for an OAuth member,
// as MX's spec requires.
//
// Errors: [IsConflict] for a duplicate member or partner id; [IsNotFound]
// for an unknown user or institution; ErrInvalidRequest when
// InstitutionCode is empty. Credential values never appear in an error.
func (c *Client) CreateMember(ctx context.Context, userGUID string, req CreateMemberRequest) (member *Member, aggregationStarted bool, err error) {
	if req.InstitutionCode == "" {
		return nil, false, fmt.Errorf("mx: %s: empty institution code: %w", routeCreateMember.endpoint(), ErrInvalidRequest)
	}
	creds, secrets := credentialWire(req.Credentials)
	if creds == nil {
		// MX's spec requires the array; nil would encode as null.
		creds = []secretWire{}
	}
	body := createMemberEnvelope{
		Member: memberCreateWire{
			InstitutionCode:                 req.InstitutionCode,
			Credentials:                     creds,
			ID:                              nonEmpty(req.ID),
			Metadata:                        nonEmpty(req.Metadata),
			SkipAggregation:                 trueOrNil(req.SkipAggregation),
			BackgroundAggregationIsDisabled: trueOrNil(req.BackgroundAggregationIsDisabled),
			IsOAuth:                         trueOrNil(req.IsOAuth),
		},
		ReferralSource:    req.ReferralSource,
		ClientRedirectURL: req.ClientRedirectURL,
	}
	res, err := c.do(ctx, call{route: routeCreateMember, args: []string{userGUID}, body: body, callbackPayload: req.CallbackPayload, secrets: secrets})
	if err != nil {
		return nil, false, err
	}
	m, err := decodeObject[Member](res, "member")
	if err != nil {
		return nil, false, err
	}
	return m, res.status == http.StatusAccepted, nil
}

// GetMember reads a member. A missing user or member is [IsNotFound].
func (c *Client) GetMember(ctx context.Context, userGUID, memberGUID string) (*Member, error) {
	res, err := c.do(ctx, call{route: routeGetMember, args: []string{userGUID, memberGUID}})
	if err != nil {
		return nil, err
	}
	return decodeObject[Member](res, "member")
}

// UpdateMember changes the fields set in req and returns the member. New
// credentials start an aggregation unless req.SkipAggregation is true. At
// least one field must be set (ErrInvalidRequest otherwise). Credential
// values never appear in an error.
func (c *Client) UpdateMember(ctx context.Context, userGUID, memberGUID string, req UpdateMemberRequest) (*Member, error) {
	creds, secrets := credentialWire(req.Credentials)
	w := memberWire{
		Credentials:                     creds,
		ID:                              req.ID,
		Metadata:                        req.Metadata,
		SkipAggregation:                 req.SkipAggregation,
		BackgroundAggregationIsDisabled: req.BackgroundAggregationIsDisabled,
	}
	if len(creds) == 0 && w.ID == nil && w.Metadata == nil && w.SkipAggregation == nil && w.BackgroundAggregationIsDisabled == nil {
		return nil, fmt.Errorf("mx: %s: the member object must not be empty: %w", routeUpdateMember.endpoint(), ErrInvalidRequest)
	}
	res, err := c.do(ctx, call{route: routeUpdateMember, args: []string{userGUID, memberGUID}, body: memberEnvelope{Member: w}, callbackPayload: req.CallbackPayload, secrets: secrets})
	if err != nil {
		return nil, err
	}
	return decodeObject[Member](res, "member")
}

// DeleteMember deletes a member (permanent). A member that is already gone
// is [IsNotFound], which deleting callers treat as done; a retried delete
// whose first attempt succeeded also reports IsNotFound.
func (c *Client) DeleteMember(ctx context.Context, userGUID, memberGUID string) error {
	_, err := c.do(ctx, call{route: routeDeleteMember, args: []string{userGUID, memberGUID}})
	return err
}

// ListMembers returns every member of the user, walking all pages.
func (c *Client) ListMembers(ctx context.Context, userGUID string) ([]Member, error) {
	return listAll[Member](ctx, c, call{route: routeListMembers, args: []string{userGUID}}, "members", c.cfg.PageSize)
}

// FindMemberByID returns the user's member whose partner id is exactly id.
// When there is none the error wraps ErrNotFound ([IsNotFound]). It is how a
// caller resolves a [Client.CreateMember] whose outcome is unknown.
func (c *Client) FindMemberByID(ctx context.Context, userGUID, id string) (*Member, error) {
	if id == "" {
		return nil, fmt.Errorf("mx: %s: empty id: %w", routeListMembers.endpoint(), ErrInvalidRequest)
	}
	members, err := c.ListMembers(ctx, userGUID)
	if err != nil {
		return nil, err
	}
	for i := range members {
		if members[i].ID == id {
			return &members[i], nil
		}
	}
	return nil, fmt.Errorf("mx: member with id %q: %w", id, ErrNotFound)
}

// GetMemberStatus reads the member's aggregation status, including pending
// challenges when CHALLENGED. MX asks clients to poll it no faster than
// every 3 seconds.
func (c *Client) GetMemberStatus(ctx context.Context, userGUID, memberGUID string) (*MemberStatus, error) {
	res, err := c.do(ctx, call{route: routeMemberStatus, args: []string{userGUID, memberGUID}})
	if err != nil {
		return nil, err
	}
	return decodeObject[MemberStatus](res, "member")
}

// AggregateMember asks MX to aggregate the member and returns the member.
// MX answers 202 also when a job of the same kind is already running or
// the throttle window is open (nothing starts; aggregated_at stays
// unchanged), so a retry after a lost response is harmless. A job of
// another kind running is [IsConflict]. Aggregation costs money and rate
// budget; MX already aggregates in the background about daily.
func (c *Client) AggregateMember(ctx context.Context, userGUID, memberGUID string) (*Member, error) {
	res, err := c.do(ctx, call{route: routeAggregateMember, args: []string{userGUID, memberGUID}})
	if err != nil {
		return nil, err
	}
	return decodeObject[Member](res, "member")
}

// ListChallenges returns the member's pending MFA challenges. A member that
// is not CHALLENGED has none: MX answers 204 and ListChallenges returns an
// empty slice and a nil error.
func (c *Client) ListChallenges(ctx context.Context, userGUID, memberGUID string) ([]Challenge, error) {
	return listAll[Challenge](ctx, c, call{route: routeListChallenges, args: []string{userGUID, memberGUID}}, "challenges", c.cfg.PageSize)
}

// ResumeMember answers the member's MFA challenges and returns the member
// (usually RESUMED). Answers never appear in an error or a log line.
//
// Like the creates, resume is retried only on 429 and on failures to
// connect: replayed after a lost response it would meet a member that is no
// longer CHALLENGED (405). After an [IsRetryable] error, read the status
// before answering again. A member that is not CHALLENGED is a 405,
// [IsTerminal].
func (c *Client) ResumeMember(ctx context.Context, userGUID, memberGUID string, answers []ChallengeAnswer) (*Member, error) {
	if len(answers) == 0 {
		return nil, fmt.Errorf("mx: %s: no answers: %w", routeResumeMember.endpoint(), ErrInvalidRequest)
	}
	var body resumeEnvelope
	secrets := make([]string, len(answers))
	body.Member.Challenges = make([]secretWire, len(answers))
	for i, a := range answers {
		body.Member.Challenges[i] = secretWire(a)
		secrets[i] = a.Value
	}
	res, err := c.do(ctx, call{route: routeResumeMember, args: []string{userGUID, memberGUID}, body: body, secrets: secrets})
	if err != nil {
		return nil, err
	}
	return decodeObject[Member](res, "member")
}

// OAuthWindowURI returns the URI to send the end user to, to authorise an
// OAuth member (one in PENDING). The URI is single-use and short-lived.
func (c *Client) OAuthWindowURI(ctx context.Context, userGUID, memberGUID string, opts OAuthWindowOptions) (string, error) {
	q := url.Values{}
	if opts.ClientRedirectURL != "" {
		q.Set("client_redirect_url", opts.ClientRedirectURL)
	}
	if opts.ReferralSource != "" {
		q.Set("referral_source", opts.ReferralSource)
	}
	if opts.SkipAggregation {
		q.Set("skip_aggregation", "true")
	}
	res, err := c.do(ctx, call{route: routeOAuthWindowURI, args: []string{userGUID, memberGUID}, query: q})
	if err != nil {
		return "", err
	}
	m, err := decodeObject[struct {
		GUID           string `json:"guid"`
		OAuthWindowURI string `json:"oauth_window_uri"`
	}](res, "member")
	if err != nil {
		return "", err
	}
	if m.OAuthWindowURI == "" {
		return "", res.decodeError(fmt.Errorf("empty oauth_window_uri"))
	}
	return m.OAuthWindowURI, nil
}
