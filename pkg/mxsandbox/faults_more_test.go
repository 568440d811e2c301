package mxsandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// TestMalformedBody: the next N requests take full effect and answer their
// normal status with a body that is not JSON (STYLE.md rule 9: a 2xx whose
// body cannot be decoded is an unknown outcome the client must handle).
func TestMalformedBody(t *testing.T) {
	t.Run("a create takes effect; its 200 body is cut short", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t)
		e.sb.SetFault(sandbox.EndpointCreateUser, sandbox.Fault{MalformedBody: 1})
		r := e.do("POST", "/users", createUserBody("cut"))
		g.Expect(r.status).To(Equal(http.StatusOK), "the normal status")
		g.Expect(r.header.Get("Content-Type")).To(HavePrefix(sandbox.AcceptVersion))
		g.Expect(json.Valid(r.body)).To(BeFalse(), "not valid JSON: %s", r.body)
		g.Expect(string(r.body)).To(HavePrefix(`{"user":{"guid":"USR-`))
		g.Expect(e.sb.UserCount()).To(Equal(1), "the user exists")
		g.Expect(e.do("POST", "/users", createUserBody("whole")).body).To(Satisfy(json.Valid), "only the next N")
	})
	t.Run("any endpoint, 202s included", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t)
		u := e.createUser("u")
		e.sb.SetFault(sandbox.EndpointCreateMember, sandbox.Fault{MalformedBody: 2})
		for _, name := range []string{"a", "b"} {
			r := e.postMember(u, sandbox.InstitutionMXBank, name, "password", nil)
			g.Expect(r.status).To(Equal(http.StatusAccepted))
			g.Expect(json.Valid(r.body)).To(BeFalse())
		}
		g.Expect(e.sb.MemberCount()).To(Equal(2))
		g.Expect(e.postMember(u, sandbox.InstitutionMXBank, "c", "password", nil).body).To(Satisfy(json.Valid))

		m := e.sb.Members()[0]
		e.sb.SetFault(sandbox.EndpointDeleteMember, sandbox.Fault{MalformedBody: 1})
		r := e.do("DELETE", "/users/"+u+"/members/"+m.GUID, nil)
		g.Expect(r.status).To(Equal(http.StatusNoContent), "a 204 has no body to spoil")
		g.Expect(e.sb.MemberCount()).To(Equal(2))
	})
	t.Run("over the control surface", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t, func(o *sandbox.Options) { o.EnableControl = true })
		g.Expect(e.ctl("PUT", "/_sandbox/faults", `{"GET /users":{"malformed_body":2}}`).status).To(Equal(http.StatusNoContent))
		g.Expect(json.Valid(e.do("GET", "/users", nil).body)).To(BeFalse())
		g.Expect(e.ctl("GET", "/_sandbox/faults", "").body).To(ContainSubstring(`"malformed_body":1`), "the remaining count")
	})
}

// heldCall runs req in the background and reports its error.
func (e *env) heldCall(req *http.Request) <-chan error {
	errc := make(chan error, 1)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		res, err := client.Do(req)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	return errc
}

// TestHold: a held request has taken effect and gets no answer until its
// client gives up or ReleaseHeld drops the connection, so a test can wait
// (HeldCount) until a create is committed and then kill the caller.
func TestHold(t *testing.T) {
	t.Run("the caller gives up after the create committed", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t)
		u := e.createUser("u")
		e.sb.SetFault(sandbox.EndpointCreateMember, sandbox.Fault{Hold: true})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req := e.newRequest("POST", "/users/"+u+"/members", map[string]any{"member": map[string]any{
			"institution_code": sandbox.InstitutionMXBank, "id": "held-1",
			"credentials": credentials(sandbox.InstitutionMXBank, "mxuser", "password"),
		}}).WithContext(ctx)
		errc := e.heldCall(req)

		g.Eventually(e.sb.HeldCount).Should(Equal(1))
		g.Expect(e.sb.MemberCount()).To(Equal(1), "committed before it was held")
		g.Expect(e.sb.Members()[0].ID).To(Equal("held-1"))
		g.Expect(e.do("GET", "/users/"+u+"/members", nil).status).To(Equal(http.StatusOK), "the sandbox lock is free while it waits")

		cancel()
		g.Eventually(errc).Should(Receive(MatchError(context.Canceled)))
		g.Eventually(e.sb.HeldCount).Should(BeZero())
	})
	t.Run("ReleaseHeld answers with a dropped connection", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t)
		e.sb.SetFault(sandbox.EndpointCreateUser, sandbox.Fault{Hold: true})
		first := e.heldCall(e.newRequest("POST", "/users", createUserBody("a")))
		second := e.heldCall(e.newRequest("POST", "/users", createUserBody("b")))
		g.Eventually(e.sb.HeldCount).Should(Equal(2))
		g.Consistently(first, "100ms").ShouldNot(Receive(), "no answer while held")

		e.sb.ReleaseHeld()
		for _, errc := range []<-chan error{first, second} {
			var err error
			g.Eventually(errc).Should(Receive(&err))
			g.Expect(err).To(HaveOccurred(), "no response")
			g.Expect(errors.Is(err, context.Canceled)).To(BeFalse())
		}
		g.Eventually(e.sb.HeldCount).Should(BeZero())
		g.Expect(e.sb.UserCount()).To(Equal(2), "both took effect")

		e.sb.SetFault(sandbox.EndpointCreateUser, sandbox.Fault{})
		g.Expect(e.do("POST", "/users", createUserBody("c")).status).To(Equal(http.StatusOK), "cleared: answered again")
	})
	t.Run("over the control surface", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t, func(o *sandbox.Options) { o.EnableControl = true })
		g.Expect(e.ctl("PUT", "/_sandbox/faults", `{"GET /users":{"hold":true}}`).status).To(Equal(http.StatusNoContent))
		errc := e.heldCall(e.newRequest("GET", "/users", nil))
		g.Eventually(func() string { return string(e.ctl("GET", "/_sandbox/held", "").body) }).Should(MatchJSON(`{"held":1}`))
		g.Expect(e.ctl("POST", "/_sandbox/held/release", "").status).To(Equal(http.StatusNoContent))
		g.Eventually(errc).Should(Receive(HaveOccurred()))
	})
	t.Run("Close releases held requests", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t)
		e.sb.SetFault(sandbox.EndpointListUsers, sandbox.Fault{Hold: true})
		errc := e.heldCall(e.newRequest("GET", "/users", nil))
		g.Eventually(e.sb.HeldCount).Should(Equal(1))
		e.sb.Close()
		g.Eventually(errc).Should(Receive(HaveOccurred()))
	})
}

// TestServiceUnavailable: MX answers 503 for maintenance (MX-API.md §4),
// distinct from ErrorRate's 500, with Retry-After when RetryAfter is set.
func TestServiceUnavailable(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, func(o *sandbox.Options) { o.EnableControl = true })
	e.sb.SetFault(sandbox.EndpointCreateUser, sandbox.Fault{ServiceUnavailableRate: 1, RetryAfter: 5 * time.Second})
	r := e.do("POST", "/users", createUserBody("u"))
	g.Expect(r.status).To(Equal(http.StatusServiceUnavailable))
	g.Expect(r.header.Get("Retry-After")).To(Equal("5"))
	g.Expect(r.errorMessage(t)).NotTo(BeEmpty())
	g.Expect(e.sb.UserCount()).To(BeZero(), "no effect")

	e.sb.SetFault(sandbox.EndpointCreateUser, sandbox.Fault{ServiceUnavailableRate: 1})
	g.Expect(e.do("POST", "/users", createUserBody("u")).header.Get("Retry-After")).To(BeEmpty())

	g.Expect(e.ctl("PUT", "/_sandbox/faults", `{"POST /users":{"service_unavailable_rate":1,"retry_after_seconds":2}}`).status).To(Equal(http.StatusNoContent))
	r = e.do("POST", "/users", createUserBody("u"))
	g.Expect(r.status).To(Equal(http.StatusServiceUnavailable))
	g.Expect(r.header.Get("Retry-After")).To(Equal("2"))

	e.sb.SetFault(sandbox.EndpointListUsers, sandbox.Fault{ErrorRate: 0.3, RateLimitRate: 0.3, ServiceUnavailableRate: 0.3, Seed: 7})
	seen := map[int]bool{}
	for range 60 {
		seen[e.do("GET", "/users", nil).status] = true
	}
	g.Expect(seen).To(Equal(map[int]bool{200: true, 429: true, 500: true, 503: true}), "three kinds of failure from one draw")
}

// stormRequests builds one request for every endpoint the sandbox serves,
// each normally answered without a fault status (resume on a member that is
// not CHALLENGED is MX's 405).
func (e *env) stormRequests(prefix string) map[string]*http.Request {
	e.t.Helper()
	m := e.connectedMember(prefix+"-user", "mxuser")
	accts, _ := e.accounts(m, "")
	other := e.createMember(m.UserGUID, sandbox.InstitutionMXBank, "other", "password", nil)
	e.sb.Advance(aggStep)
	bodies := map[string]any{
		sandbox.EndpointCreateUser:      createUserBody(prefix + "-new"),
		sandbox.EndpointUpdateUser:      map[string]any{"user": map[string]any{"metadata": "x"}},
		sandbox.EndpointCreateMember:    map[string]any{"member": map[string]any{"institution_code": sandbox.InstitutionMXBank, "credentials": credentials(sandbox.InstitutionMXBank, "new", "password")}},
		sandbox.EndpointUpdateMember:    map[string]any{"member": map[string]any{"metadata": "x"}},
		sandbox.EndpointResumeMember:    map[string]any{"member": map[string]any{"challenges": []map[string]string{{"guid": "CRD-x", "value": "x"}}}},
		sandbox.EndpointCreateWidgetURL: map[string]any{"widget_url": map[string]any{"widget_type": "connect_widget"}},
	}
	out := map[string]*http.Request{}
	for _, endpoint := range sandbox.Endpoints() {
		method, pattern, _ := strings.Cut(endpoint, " ")
		member := m.GUID
		if endpoint == sandbox.EndpointDeleteMember {
			member = other.GUID
		}
		path := strings.NewReplacer("{user}", m.UserGUID, "{member}", member, "{account}", accts[0].GUID, "{code}", sandbox.InstitutionMXBank).Replace(pattern)
		if endpoint == sandbox.EndpointDeleteUser {
			path = "/users/" + e.createUser(prefix+"-victim")
		}
		out[endpoint] = e.newRequest(method, path, bodies[endpoint])
	}
	return out
}

// TestStormOnEveryEndpoint: SetFaultAll starts a time-boxed storm on every
// endpoint at once and SetFaultAll(Fault{}) ends it (also "*" over HTTP).
func TestStormOnEveryEndpoint(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, func(o *sandbox.Options) { o.EnableControl = true })
	status := func(reqs map[string]*http.Request) map[string]int {
		out := map[string]int{}
		for endpoint, req := range reqs {
			out[endpoint] = e.send(req).status
		}
		return out
	}

	sets := map[string]map[string]*http.Request{}
	for _, prefix := range []string{"a", "b", "c", "d"} {
		sets[prefix] = e.stormRequests(prefix) // built before any fault
	}
	reqs := sets["a"]
	e.sb.SetFaultAll(sandbox.Fault{RateLimitRate: 1, RetryAfter: time.Second})
	for endpoint, st := range status(reqs) {
		g.Expect(st).To(Equal(http.StatusTooManyRequests), endpoint)
	}
	reqs = sets["b"]
	e.sb.SetFaultAll(sandbox.Fault{})
	for endpoint, st := range status(reqs) {
		g.Expect(st).NotTo(BeElementOf(http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusServiceUnavailable), endpoint)
	}

	reqs = sets["c"]
	g.Expect(e.ctl("PUT", "/_sandbox/faults", `{"*":{"service_unavailable_rate":1},"GET /users":{}}`).status).To(Equal(http.StatusNoContent))
	got := status(reqs)
	for endpoint, st := range got {
		if endpoint == sandbox.EndpointListUsers {
			g.Expect(st).To(Equal(http.StatusOK), "a named endpoint overrides *")
			continue
		}
		g.Expect(st).To(Equal(http.StatusServiceUnavailable), endpoint)
	}
	g.Expect(got).To(HaveLen(len(sandbox.Endpoints())))
	reqs = sets["d"]
	e.sb.ClearFaults()
	for endpoint, st := range status(reqs) {
		g.Expect(st).NotTo(BeElementOf(http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusServiceUnavailable), endpoint)
	}
}
