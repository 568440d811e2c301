package mxsandbox_test

import (
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

func createUserBody(id string) map[string]any {
	return map[string]any{"user": map[string]any{"id": id}}
}

func TestInjectedErrorsHaveNoEffect(t *testing.T) {
	cases := []struct {
		reason         string
		fault          sandbox.Fault
		wantStatus     int
		wantRetryAfter string
	}{
		{"an error rate of 1 always answers 500", sandbox.Fault{ErrorRate: 1}, http.StatusInternalServerError, ""},
		{"a rate-limit rate of 1 always answers 429", sandbox.Fault{RateLimitRate: 1}, http.StatusTooManyRequests, ""},
		{"a 429 carries Retry-After in whole seconds", sandbox.Fault{RateLimitRate: 1, RetryAfter: 3 * time.Second}, http.StatusTooManyRequests, "3"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t)
			e.sb.SetFault(sandbox.EndpointCreateUser, tc.fault)
			r := e.do("POST", "/users", createUserBody("u"))
			g.Expect(r.status).To(Equal(tc.wantStatus))
			g.Expect(r.header.Get("Retry-After")).To(Equal(tc.wantRetryAfter))
			g.Expect(r.errorMessage(t)).NotTo(BeEmpty())
			g.Expect(e.sb.UserCount()).To(Equal(0), "an injected error has no effect")
			g.Expect(e.sb.CallCount(sandbox.EndpointCreateUser)).To(Equal(1), "faulted calls are counted")

			g.Expect(e.do("GET", "/users", nil).status).To(Equal(http.StatusOK), "other endpoints are unaffected")
			e.sb.ClearFaults()
			g.Expect(e.do("POST", "/users", createUserBody("u")).status).To(Equal(http.StatusOK))
		})
	}
}

func TestCommitThenFail(t *testing.T) {
	t.Run("the user is created but the answer is a 500", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t)
		e.sb.SetFault(sandbox.EndpointCreateUser, sandbox.Fault{CommitThenFail: 1})

		r := e.do("POST", "/users", createUserBody("partner-7"))
		g.Expect(r.status).To(Equal(http.StatusInternalServerError))
		g.Expect(e.sb.UserCount()).To(Equal(1), "the object really exists")

		var list struct {
			Users []struct {
				GUID string `json:"guid"`
			} `json:"users"`
		}
		e.do("GET", "/users?id=partner-7", nil).into(t, &list)
		g.Expect(list.Users).To(HaveLen(1), "a retrying client can find it by partner id")

		r = e.do("POST", "/users", createUserBody("partner-7"))
		g.Expect(r.status).To(Equal(http.StatusConflict), "only the next N requests fail; a blind retry conflicts")
	})
	t.Run("the member is created but the connection drops", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t)
		u := e.createUser("u")
		e.sb.SetFault(sandbox.EndpointCreateMember, sandbox.Fault{CommitThenFail: 1, DropConnection: true})

		req := e.newRequest("POST", "/users/"+u+"/members", map[string]any{"member": map[string]any{
			"institution_code": sandbox.InstitutionMXBank, "id": "m1",
			"credentials": credentials(sandbox.InstitutionMXBank, "mxuser", "password"),
		}})
		_, err := e.client.Do(req)
		g.Expect(err).To(HaveOccurred(), "no response at all")
		g.Expect(e.sb.MemberCount()).To(Equal(1))
		g.Expect(e.sb.Members()[0].ID).To(Equal("m1"))
		g.Expect(e.sb.Members()[0].IsBeingAggregated).To(BeTrue(), "the aggregation started too")

		r := e.postMember(u, sandbox.InstitutionMXBank, "mxuser", "password", map[string]any{"id": "m1"})
		g.Expect(r.status).To(Equal(http.StatusConflict))
	})
	t.Run("N counts down", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t)
		e.sb.SetFault(sandbox.EndpointCreateUser, sandbox.Fault{CommitThenFail: 2})
		statuses := []int{}
		for _, id := range []string{"a", "b", "c"} {
			statuses = append(statuses, e.do("POST", "/users", createUserBody(id)).status)
		}
		g.Expect(statuses).To(Equal([]int{500, 500, 200}))
		g.Expect(e.sb.UserCount()).To(Equal(3))
	})
}

func TestSeededFaultsAreDeterministic(t *testing.T) {
	g := NewWithT(t)
	run := func() []int {
		e := newEnv(t)
		e.sb.SetFault(sandbox.EndpointListUsers, sandbox.Fault{ErrorRate: 0.3, RateLimitRate: 0.2, Seed: 42})
		out := []int{}
		for range 40 {
			out = append(out, e.do("GET", "/users", nil).status)
		}
		return out
	}
	first := run()
	g.Expect(run()).To(Equal(first))
	g.Expect(first).To(ContainElements(http.StatusOK, http.StatusInternalServerError, http.StatusTooManyRequests))
}

func TestFaultsApplyAfterAuthentication(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	e.sb.SetFault(sandbox.EndpointCreateUser, sandbox.Fault{CommitThenFail: 1})
	req := e.newRequest("POST", "/users", createUserBody("x"))
	req.SetBasicAuth(testClientID, "wrong")
	g.Expect(e.send(req).status).To(Equal(http.StatusUnauthorized))
	g.Expect(e.sb.UserCount()).To(Equal(0))
	g.Expect(e.do("POST", "/users", createUserBody("x")).status).To(Equal(http.StatusInternalServerError), "the unauthenticated request did not use up the fault")
}

func TestLatency(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	e.sb.SetFault(sandbox.EndpointListUsers, sandbox.Fault{Latency: 300 * time.Millisecond})

	start := time.Now()
	g.Expect(e.do("GET", "/users", nil).status).To(Equal(http.StatusOK))
	g.Expect(time.Since(start)).To(BeNumerically(">=", 300*time.Millisecond))

	impatient := &http.Client{Timeout: 20 * time.Millisecond}
	_, err := impatient.Do(e.newRequest("GET", "/users", nil))
	g.Expect(err).To(HaveOccurred(), "a client timeout shorter than the latency fires")
}

func TestSetFaultRejectsUnknownEndpoints(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	g.Expect(func() { e.sb.SetFault("GET /user", sandbox.Fault{ErrorRate: 1}) }).To(Panic())
}

func TestCallCounters(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, func(o *sandbox.Options) { o.EnableControl = true })

	u := e.createUser("u")
	e.do("GET", "/users/"+u, nil)
	e.do("GET", "/users/"+u, nil)
	e.do("GET", "/users/USR-missing", nil)
	req := e.newRequest("GET", "/users", nil)
	req.Header.Del("Accept")
	e.send(req)
	e.sb.SetFault(sandbox.EndpointListInstitutions, sandbox.Fault{ErrorRate: 1})
	e.do("GET", "/institutions", nil)
	e.do("GET", "/not/a/route", nil)
	e.do("GET", "/_sandbox/calls", nil)

	want := map[string]int{
		sandbox.EndpointCreateUser:       1,
		sandbox.EndpointReadUser:         3,
		sandbox.EndpointListUsers:        1,
		sandbox.EndpointListInstitutions: 1,
	}
	g.Expect(e.sb.Calls()).To(Equal(want), "failed, refused and faulted requests count; unknown routes and the control surface do not")
	g.Expect(e.sb.CallCount(sandbox.EndpointReadUser)).To(Equal(3))
	g.Expect(e.sb.TotalCalls()).To(Equal(6))

	var overHTTP struct {
		Calls map[string]int `json:"calls"`
		Total int            `json:"total"`
	}
	e.do("GET", "/_sandbox/calls", nil).into(t, &overHTTP)
	g.Expect(overHTTP.Calls).To(Equal(want))
	g.Expect(overHTTP.Total).To(Equal(6))

	calls := e.sb.Calls()
	calls[sandbox.EndpointReadUser] = 100
	g.Expect(e.sb.CallCount(sandbox.EndpointReadUser)).To(Equal(3), "Calls returns a copy")

	e.sb.ResetCalls()
	g.Expect(e.sb.TotalCalls()).To(Equal(0))
	g.Expect(e.sb.UserCount()).To(Equal(1), "resetting counters keeps the data")
}

func TestReset(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	e.connectedMember("u", "mxuser")
	e.sb.SetFault(sandbox.EndpointListUsers, sandbox.Fault{ErrorRate: 1})

	e.sb.Reset()
	g.Expect(e.sb.UserCount()).To(Equal(0))
	g.Expect(e.sb.MemberCount()).To(Equal(0))
	g.Expect(e.sb.TotalCalls()).To(Equal(0))
	g.Expect(e.do("GET", "/users", nil).status).To(Equal(http.StatusOK), "faults are gone")
	g.Expect(e.createUser("again")).To(Equal("USR-00000000-0000-0000-0000-000000000001"), "guid sequences restart")
}
