package mxsandbox_test

import (
	"net/http"
	"testing"

	. "github.com/onsi/gomega"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// TestAggregateWhileAnotherKindOfJobRuns follows MX-API.md §2 (aggregate):
// 202 and no new job while a job of the same kind runs, 409 while a job of
// another kind runs (here a verification started by the Connect widget,
// MX-API.md §11, played by StartJob).
func TestAggregateWhileAnotherKindOfJobRuns(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, func(o *sandbox.Options) { o.EnableControl = true })
	m := e.connectedMember("u", "mxuser")
	connected := e.read(m)

	g.Expect(e.sb.StartJob(m.GUID, sandbox.JobVerification)).To(Succeed())
	verifying := e.read(m)
	g.Expect(verifying.IsBeingAggregated).To(BeTrue())
	g.Expect(verifying.jobGUID()).NotTo(Equal(connected.jobGUID()), "a new job")

	r := e.do("POST", e.memberPath(m)+"/aggregate", nil)
	g.Expect(r.status).To(Equal(http.StatusConflict))
	g.Expect(r.errorMessage(t)).To(ContainSubstring("verification"), "the message says which job runs")
	g.Expect(e.read(m).jobGUID()).To(Equal(verifying.jobGUID()), "the 409 started nothing")
	g.Expect(e.sb.StartJob(m.GUID, sandbox.JobIdentification)).To(MatchError(sandbox.ErrJobRunning))

	e.sb.Advance(aggStep)
	done := e.read(m)
	g.Expect(done.status()).To(Equal(sandbox.StatusConnected))
	g.Expect(done.IsBeingAggregated).To(BeFalse())
	g.Expect(done.SuccessfullyAggregatedAt).To(Equal(connected.SuccessfullyAggregatedAt), "a verification is not an aggregation")

	r = e.do("POST", e.memberPath(m)+"/aggregate", nil)
	g.Expect(r.status).To(Equal(http.StatusAccepted), "once it has finished, aggregate works")
	aggregating := decodeMember(t, r)
	g.Expect(aggregating.jobGUID()).NotTo(Equal(done.jobGUID()))
	g.Expect(e.sb.StartJob(m.GUID, sandbox.JobVerification)).To(MatchError(sandbox.ErrJobRunning), "nor can a verification start during an aggregation")
	r = e.do("POST", e.memberPath(m)+"/aggregate", nil)
	g.Expect(r.status).To(Equal(http.StatusAccepted), "a job of the same kind: 202")
	g.Expect(decodeMember(t, r).jobGUID()).To(Equal(aggregating.jobGUID()), "and no new job")

	e.sb.Advance(aggStep)
	g.Expect(e.ctl("POST", "/_sandbox/members/"+m.GUID+"/jobs", `{"kind":"identification"}`).status).To(Equal(http.StatusNoContent))
	r = e.do("POST", e.memberPath(m)+"/aggregate", nil)
	g.Expect(r.status).To(Equal(http.StatusConflict))
	g.Expect(r.errorMessage(t)).To(ContainSubstring("identification"))
	g.Expect(e.ctl("POST", "/_sandbox/members/"+m.GUID+"/jobs", `{"kind":"identification"}`).status).To(Equal(http.StatusConflict))
	g.Expect(e.ctl("POST", "/_sandbox/members/MBR-unknown/jobs", `{"kind":"identification"}`).status).To(Equal(http.StatusNotFound))
	g.Expect(e.ctl("POST", "/_sandbox/members/"+m.GUID+"/jobs", `{}`).status).To(Equal(http.StatusBadRequest))
	g.Expect(e.sb.StartJob(m.GUID, "statements")).To(MatchError(sandbox.ErrJobRefused))
}
