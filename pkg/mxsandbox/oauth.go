package mxsandbox

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// OAuthPendingTimeout is how long an OAuth member may stay PENDING: MX
// deletes a member still PENDING an hour after it was created (MX-API.md
// §11, "OAuth": PENDING appears only on OAuth members under an hour old).
const OAuthPendingTimeout = time.Hour

// Errors returned by AuthorizeOAuth and OpenOAuthWindow.
var (
	ErrNotFound   = errors.New("not found")
	ErrNotPending = errors.New("not a pending OAuth member")
	// ErrOAuthWindowUsed: the oauth_window_uri has been opened before; each
	// is single-use, GET …/oauth_window_uri mints a new one.
	ErrOAuthWindowUsed = errors.New("oauth_window_uri already used")
)

// mintOAuthWindowURI gives m a new single-use oauth_window_uri and makes it
// the one the member reports. With the control surface on it is a sandbox
// page that authorises on a GET, so a demo can click through; otherwise a
// placeholder on the institution's site (OpenOAuthWindow opens either).
func (s *Sandbox) mintOAuthWindowURI(req *request, m *member) {
	token := s.newGUID("OAW")
	if m.oauthWindows == nil {
		m.oauthWindows = map[string]bool{}
	}
	m.oauthWindows[token] = false
	m.oauthWindowToken = token
	q := url.Values{"member_guid": {m.guid}, "token": {token}}.Encode()
	if !s.opts.EnableControl {
		m.oauthWindowURI = "https://oauth.mxbank.example/authorize?" + q
		return
	}
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	m.oauthWindowURI = scheme + "://" + req.Host + "/_sandbox/oauth/authorize?" + q
}

// readOAuthWindowURI answers OpenAPI requestOAuthWindowURI: it mints a new
// oauth_window_uri for an OAuth member ("This endpoint will generate an
// oauth_window_uri"); a client_redirect_url parameter replaces the member's.
func (s *Sandbox) readOAuthWindowURI(req *request) reply {
	m, rep := s.lookupMember(req)
	if rep != nil {
		return *rep
	}
	if m.isOAuth {
		s.mintOAuthWindowURI(req, m)
		if v := req.URL.Query().Get("client_redirect_url"); v != "" {
			m.clientRedirectURL = v
		}
	}
	return reply{status: http.StatusOK, body: oauthWindowResponse{Member: oauthWindowJSON{GUID: m.guid, OAuthWindowURI: strPtr(m.oauthWindowURI)}}}
}

// AuthorizeOAuth plays the end user completing the OAuth window of a PENDING
// OAuth member: the member's current oauth_window_uri is used up, the member
// leaves PENDING and its first aggregation starts.
func (s *Sandbox) AuthorizeOAuth(memberGUID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.processLocked(now)
	m, ok := s.members[memberGUID]
	if !ok {
		return fmt.Errorf("member %q: %w", memberGUID, ErrNotFound)
	}
	if m.oauthWindowToken != "" {
		m.oauthWindows[m.oauthWindowToken] = true
	}
	return s.authorizeLocked(m, now)
}

// OpenOAuthWindow plays the end user opening an oauth_window_uri the sandbox
// minted and authorising there. Each URI works once: opening it again
// returns ErrOAuthWindowUsed. A URI of an unknown member or that the
// sandbox never minted is ErrNotFound; a member that is not PENDING is
// ErrNotPending (the URI is used up all the same).
func (s *Sandbox) OpenOAuthWindow(uri string) error {
	u, err := url.Parse(uri)
	if err != nil {
		return fmt.Errorf("oauth_window_uri %q: %w", uri, ErrNotFound)
	}
	guid, token := u.Query().Get("member_guid"), u.Query().Get("token")
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.processLocked(now)
	m, ok := s.members[guid]
	if !ok {
		return fmt.Errorf("member %q: %w", guid, ErrNotFound)
	}
	used, ok := m.oauthWindows[token]
	switch {
	case !ok:
		return fmt.Errorf("member %q has no oauth_window_uri with token %q: %w", guid, token, ErrNotFound)
	case used:
		return fmt.Errorf("oauth_window_uri of member %q: %w", guid, ErrOAuthWindowUsed)
	}
	m.oauthWindows[token] = true
	return s.authorizeLocked(m, now)
}

func (s *Sandbox) authorizeLocked(m *member, now time.Time) error {
	if !m.isOAuth || m.status != StatusPending {
		return fmt.Errorf("member %q is not a PENDING OAuth member (status %s): %w", m.guid, m.status, ErrNotPending)
	}
	m.oauthAuthorized = true
	s.startAggregation(m, now, false, StatusCreated)
	return nil
}
