package mxsandbox

import (
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/url"
	"time"
)

// The control surface (/_sandbox/...) lets tests and demos drive the
// sandbox over HTTP. It needs no MX credentials, is not counted in the call
// counters or the request log and is only served with Options.EnableControl.

func (s *Sandbox) controlRoutes() {
	s.mux.HandleFunc("GET /_sandbox/clock", s.ctlClock)
	s.mux.HandleFunc("POST /_sandbox/clock/advance", s.ctlAdvance)
	s.mux.HandleFunc("POST /_sandbox/members/{member}/authorize", s.ctlAuthorize)
	s.mux.HandleFunc("POST /_sandbox/members/{member}/jobs", s.ctlStartJob)
	s.mux.HandleFunc("GET /_sandbox/oauth/authorize", s.ctlOAuthWindow)
	s.mux.HandleFunc("GET /_sandbox/members", s.ctlMembers)
	s.mux.HandleFunc("GET /_sandbox/widget/{token}", s.ctlWidgetPage)
	s.mux.HandleFunc("POST /_sandbox/widget/connect", s.ctlWidgetConnect)
	s.mux.HandleFunc("POST /_sandbox/widget/repair", s.ctlWidgetRepair)
	s.mux.HandleFunc("GET /_sandbox/widget_urls", s.ctlWidgetURLs)
	s.mux.HandleFunc("GET /_sandbox/faults", s.ctlGetFaults)
	s.mux.HandleFunc("PUT /_sandbox/faults", s.ctlPutFaults)
	s.mux.HandleFunc("DELETE /_sandbox/faults", s.ctlDeleteFaults)
	s.mux.HandleFunc("GET /_sandbox/held", s.ctlHeld)
	s.mux.HandleFunc("POST /_sandbox/held/release", s.ctlReleaseHeld)
	s.mux.HandleFunc("GET /_sandbox/calls", s.ctlCalls)
	s.mux.HandleFunc("DELETE /_sandbox/calls", s.ctlResetCalls)
	s.mux.HandleFunc("GET /_sandbox/requests", s.ctlRequests)
	s.mux.HandleFunc("DELETE /_sandbox/requests", s.ctlResetRequests)
	s.mux.HandleFunc("POST /_sandbox/reset", s.ctlReset)
}

func ctlJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func ctlError(w http.ResponseWriter, status int, msg string) {
	ctlJSON(w, status, errorBody{Error: errorMessage{Message: msg}})
}

func (s *Sandbox) ctlClock(w http.ResponseWriter, _ *http.Request) {
	ctlJSON(w, http.StatusOK, clockResponse{Now: s.Now().UTC().Format(time.RFC3339Nano), Fake: s.fake != nil})
}

func (s *Sandbox) ctlAdvance(w http.ResponseWriter, r *http.Request) {
	if s.fake == nil {
		ctlError(w, http.StatusConflict, "The sandbox runs on the real clock; start it with a fake clock to advance time.")
		return
	}
	var body advanceRequest
	b, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if !decodeBody(b, &body) || body.Seconds == nil || *body.Seconds < 0 {
		ctlError(w, http.StatusBadRequest, `Body must be {"seconds": N} with N >= 0.`)
		return
	}
	s.Advance(time.Duration(*body.Seconds * float64(time.Second)))
	s.ctlClock(w, r)
}

func (s *Sandbox) ctlAuthorize(w http.ResponseWriter, r *http.Request) {
	err := s.AuthorizeOAuth(r.PathValue("member"))
	switch {
	case errors.Is(err, ErrNotFound):
		ctlError(w, http.StatusNotFound, err.Error())
	case err != nil:
		ctlError(w, http.StatusConflict, err.Error())
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// ctlStartJob starts a job of the kind in the body ({"kind":"verification"})
// on the member, as StartJob does.
func (s *Sandbox) ctlStartJob(w http.ResponseWriter, r *http.Request) {
	var body startJobRequest
	b, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if !decodeBody(b, &body) || body.Kind == "" {
		ctlError(w, http.StatusBadRequest, `Body must be {"kind": "aggregation"|"verification"|"identification"}.`)
		return
	}
	err := s.StartJob(r.PathValue("member"), body.Kind)
	switch {
	case errors.Is(err, ErrNotFound):
		ctlError(w, http.StatusNotFound, err.Error())
	case err != nil:
		ctlError(w, http.StatusConflict, err.Error())
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// ctlOAuthWindow is the page an OAuth member's oauth_window_uri points at
// when the control surface is on: opening it authorises the member, then
// redirects to the member's client_redirect_url if it has one. Each URI
// works once (410 Gone afterwards).
func (s *Sandbox) ctlOAuthWindow(w http.ResponseWriter, r *http.Request) {
	guid := r.URL.Query().Get("member_guid")
	err := s.OpenOAuthWindow(r.URL.String())
	s.mu.Lock()
	redirect := ""
	if m, ok := s.members[guid]; ok {
		redirect = m.clientRedirectURL
	}
	s.mu.Unlock()
	if err == nil && redirect != "" {
		u, perr := url.Parse(redirect)
		if perr == nil {
			q := u.Query()
			q.Set("status", "success")
			q.Set("member_guid", guid)
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.String(), http.StatusFound)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	status, text := http.StatusOK, "Connection authorized. You can close this window."
	switch {
	case errors.Is(err, ErrNotFound):
		status, text = http.StatusNotFound, "Could not authorize: "+err.Error()
	case errors.Is(err, ErrOAuthWindowUsed):
		status, text = http.StatusGone, "This authorization link has already been used: "+err.Error()
	case err != nil:
		status, text = http.StatusConflict, "Could not authorize: "+err.Error()
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "<!doctype html><title>MX Bank (OAuth)</title><p>"+html.EscapeString(text)+"</p>\n")
}

func (s *Sandbox) ctlMembers(w http.ResponseWriter, _ *http.Request) {
	out := []memberSnapshotJSON{}
	for _, m := range s.Members() {
		out = append(out, memberSnapshotJSON{
			GUID: m.GUID, ID: m.ID, UserGUID: m.UserGUID, UserID: m.UserID, InstitutionCode: m.InstitutionCode,
			ConnectionStatus: m.ConnectionStatus, IsBeingAggregated: m.IsBeingAggregated, IsOAuth: m.IsOAuth,
			MostRecentJobGUID: m.MostRecentJobGUID,
		})
	}
	ctlJSON(w, http.StatusOK, map[string]any{"members": out})
}

func (s *Sandbox) ctlGetFaults(w http.ResponseWriter, _ *http.Request) {
	out := map[string]faultJSON{}
	for endpoint, f := range s.Faults() {
		out[endpoint] = faultToJSON(f)
	}
	ctlJSON(w, http.StatusOK, out)
}

// ctlPutFaults replaces every fault with the ones in the body, a map from
// endpoint name (or AllEndpoints) to fault, as SetFaults does.
func (s *Sandbox) ctlPutFaults(w http.ResponseWriter, r *http.Request) {
	var body map[string]faultJSON
	b, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if !decodeBody(b, &body) {
		ctlError(w, http.StatusBadRequest, `Body must be {"<endpoint>" or "*": {fault}, ...}.`)
		return
	}
	faults := make(map[string]Fault, len(body))
	for endpoint, j := range body {
		if endpoint != AllEndpoints && !knownEndpoint(endpoint) {
			ctlError(w, http.StatusBadRequest, "Unknown endpoint "+endpoint+".")
			return
		}
		faults[endpoint] = faultFromJSON(j)
	}
	if err := s.SetFaults(faults); err != nil {
		ctlError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) ctlHeld(w http.ResponseWriter, _ *http.Request) {
	ctlJSON(w, http.StatusOK, heldResponse{Held: s.HeldCount()})
}

func (s *Sandbox) ctlReleaseHeld(w http.ResponseWriter, _ *http.Request) {
	s.ReleaseHeld()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) ctlDeleteFaults(w http.ResponseWriter, _ *http.Request) {
	s.ClearFaults()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) ctlCalls(w http.ResponseWriter, _ *http.Request) {
	calls := s.Calls()
	total := 0
	for _, n := range calls {
		total += n
	}
	ctlJSON(w, http.StatusOK, callsResponse{Calls: calls, Total: total})
}

func (s *Sandbox) ctlResetCalls(w http.ResponseWriter, _ *http.Request) {
	s.ResetCalls()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) ctlRequests(w http.ResponseWriter, _ *http.Request) {
	out := requestsResponse{Requests: []requestRecordJSON{}}
	for _, r := range s.Requests() {
		out.Requests = append(out.Requests, requestRecordJSON{
			Time:     r.Time.UTC().Format(time.RFC3339Nano),
			WallTime: r.WallTime.UTC().Format(time.RFC3339Nano),
			Endpoint: r.Endpoint,
			Status:   r.Status,
		})
	}
	ctlJSON(w, http.StatusOK, out)
}

func (s *Sandbox) ctlResetRequests(w http.ResponseWriter, _ *http.Request) {
	s.ResetRequests()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) ctlReset(w http.ResponseWriter, _ *http.Request) {
	s.Reset()
	w.WriteHeader(http.StatusNoContent)
}

func faultFromJSON(j faultJSON) Fault {
	return Fault{
		Latency:                time.Duration(j.LatencyMS) * time.Millisecond,
		ErrorRate:              j.ErrorRate,
		RateLimitRate:          j.RateLimitRate,
		ServiceUnavailableRate: j.ServiceUnavailableRate,
		RetryAfter:             time.Duration(j.RetryAfterSeconds) * time.Second,
		CommitThenFail:         j.CommitThenFail,
		DropConnection:         j.DropConnection,
		MalformedBody:          j.MalformedBody,
		Hold:                   j.Hold,
		Seed:                   j.Seed,
	}
}

func faultToJSON(f Fault) faultJSON {
	return faultJSON{
		LatencyMS:              f.Latency.Milliseconds(),
		ErrorRate:              f.ErrorRate,
		RateLimitRate:          f.RateLimitRate,
		ServiceUnavailableRate: f.ServiceUnavailableRate,
		RetryAfterSeconds:      int64(f.RetryAfter / time.Second),
		CommitThenFail:         f.CommitThenFail,
		DropConnection:         f.DropConnection,
		MalformedBody:          f.MalformedBody,
		Hold:                   f.Hold,
		Seed:                   f.Seed,
	}
}
