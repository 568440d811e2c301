package mxsandbox_test

import (
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// TestRequestLog: every MX API request is recorded with the sandbox time and
// the wall time it arrived, its endpoint and the status answered (0 when
// none was); control-surface requests and unknown routes are not.
func TestRequestLog(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, func(o *sandbox.Options) { o.EnableControl = true })
	before := time.Now()
	u := e.createUser("u")
	e.sb.Advance(time.Minute)
	e.do("GET", "/users/USR-missing", nil)
	wrongKey := e.newRequest("GET", "/users", nil)
	wrongKey.SetBasicAuth(testClientID, "wrong")
	e.send(wrongKey)
	e.do("GET", "/nothing/here", nil)
	e.ctl("GET", "/_sandbox/calls", "")
	e.sb.SetFault(sandbox.EndpointListUsers, sandbox.Fault{RateLimitRate: 1})
	e.do("GET", "/users", nil)
	e.sb.SetFault(sandbox.EndpointDeleteUser, sandbox.Fault{CommitThenFail: 1, DropConnection: true})
	_, err := e.client.Do(e.newRequest("DELETE", "/users/"+u, nil))
	g.Expect(err).To(HaveOccurred())
	// The dropped request is recorded when its handler returns, which may
	// be just after the client saw the connection close.
	g.Eventually(func() []sandbox.RequestRecord { return e.sb.Requests() }).Should(HaveLen(5))
	after := time.Now()

	type row struct {
		Time     time.Time
		Endpoint string
		Status   int
	}
	var rows []row
	for _, r := range e.sb.Requests() {
		rows = append(rows, row{r.Time, r.Endpoint, r.Status})
		g.Expect(r.WallTime).To(BeTemporally(">=", before))
		g.Expect(r.WallTime).To(BeTemporally("<=", after))
	}
	later := t0.Add(time.Minute)
	g.Expect(rows).To(Equal([]row{
		{t0, sandbox.EndpointCreateUser, http.StatusOK},
		{later, sandbox.EndpointReadUser, http.StatusNotFound},
		{later, sandbox.EndpointListUsers, http.StatusUnauthorized},
		{later, sandbox.EndpointListUsers, http.StatusTooManyRequests},
		{later, sandbox.EndpointDeleteUser, 0},
	}))

	var overHTTP struct {
		Requests []struct {
			Time     string `json:"time"`
			WallTime string `json:"wall_time"`
			Endpoint string `json:"endpoint"`
			Status   int    `json:"status"`
		} `json:"requests"`
	}
	e.ctl("GET", "/_sandbox/requests", "").into(t, &overHTTP)
	g.Expect(overHTTP.Requests).To(HaveLen(5))
	g.Expect(overHTTP.Requests[1].Time).To(Equal("2024-03-01T09:01:00Z"))
	g.Expect(overHTTP.Requests[1].Endpoint).To(Equal(sandbox.EndpointReadUser))
	g.Expect(overHTTP.Requests[1].WallTime).NotTo(BeEmpty())

	e.sb.ResetRequests()
	g.Expect(e.sb.Requests()).To(BeEmpty())
	g.Expect(e.sb.TotalCalls()).To(Equal(5), "the call counters are separate")
	e.do("GET", "/institutions", nil)
	g.Expect(e.sb.Requests()).To(HaveLen(1))
	g.Expect(e.ctl("DELETE", "/_sandbox/requests", "").status).To(Equal(http.StatusNoContent))
	g.Expect(e.sb.Requests()).To(BeEmpty())
	e.do("GET", "/institutions", nil)
	e.sb.Reset()
	g.Expect(e.sb.Requests()).To(BeEmpty(), "Reset empties the log too")
}
