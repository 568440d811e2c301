package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
)

// expect is what a unit test expects of one reconcile.
type expect struct {
	// calls are the MX calls, in order.
	calls []string
	// ready is the Ready condition's status and reason.
	ready  metav1.ConditionStatus
	reason string
	// reconciling and stalled say which abnormal-true condition is present.
	reconciling, stalled bool
	// requeueMin and requeueMax bound Result.RequeueAfter (both zero: no requeue).
	requeueMin, requeueMax time.Duration
	// err is "" (none), "terminal" or "retry".
	err string
}

// resync bounds the jittered default resync of 12h.
const resyncMin, resyncMax = 12 * time.Hour * 9 / 10, 12 * time.Hour * 11 / 10

func assertOutcome(g Gomega, want expect, res reconcile.Result, err error, calls []string, conds []metav1.Condition) {
	if want.calls == nil {
		g.Expect(calls).To(BeEmpty(), "MX calls")
	} else {
		g.Expect(calls).To(Equal(want.calls), "MX calls")
	}
	switch want.err {
	case "":
		g.Expect(err).NotTo(HaveOccurred())
	case "terminal":
		g.Expect(errors.Is(err, reconcile.TerminalError(nil))).To(BeTrue(), "terminal error, got %v", err)
	case "retry":
		g.Expect(err).To(HaveOccurred())
		g.Expect(errors.Is(err, reconcile.TerminalError(nil))).To(BeFalse(), "retryable error, got %v", err)
	}
	g.Expect(res.RequeueAfter).To(BeNumerically(">=", want.requeueMin), "RequeueAfter")
	g.Expect(res.RequeueAfter).To(BeNumerically("<=", want.requeueMax), "RequeueAfter")
	ready := meta.FindStatusCondition(conds, mxv1alpha1.ReadyCondition)
	g.Expect(ready).NotTo(BeNil(), "Ready condition")
	g.Expect(ready.Status).To(Equal(want.ready), "Ready status")
	g.Expect(ready.Reason).To(Equal(want.reason), "Ready reason")
	g.Expect(meta.IsStatusConditionTrue(conds, mxv1alpha1.ReconcilingCondition)).To(Equal(want.reconciling), "Reconciling")
	g.Expect(meta.IsStatusConditionTrue(conds, mxv1alpha1.StalledCondition)).To(Equal(want.stalled), "Stalled")
	g.Expect(meta.FindStatusCondition(conds, mxv1alpha1.ReconcilingCondition) == nil || want.reconciling).To(BeTrue(), "Reconciling present only when True")
	g.Expect(meta.FindStatusCondition(conds, mxv1alpha1.StalledCondition) == nil || want.stalled).To(BeTrue(), "Stalled present only when True")
}

func connected(aggregatedAgo time.Duration, accounts int) func(f *fakeMX) {
	return func(f *fakeMX) {
		f.getMemberStatus = func(_, _ string) (*mx.MemberStatus, error) {
			agg := testNow.Add(-aggregatedAgo)
			return &mx.MemberStatus{GUID: testMemberGUID, ConnectionStatus: mx.StatusConnected, ConnectionStatusMessage: "Connected to MX Bank.", AggregatedAt: &agg, SuccessfullyAggregatedAt: &agg}, nil
		}
		f.listMemberAccounts = func(_, _ string) ([]mx.Account, error) { return testAccounts(accounts), nil }
	}
}

func testAccounts(n int) []mx.Account {
	out := make([]mx.Account, n)
	for i := range out {
		out[i] = mx.Account{GUID: "ACT-" + string(rune('a'+i)), Name: "Checking", Type: "CHECKING", AccountNumber: "000012345678", Balance: "10.50", AvailableBalance: "9.50", CurrencyCode: "USD"}
	}
	return out
}

// polling returns a member MX is aggregating, read and Reconciling since ago.
func polling(ago time.Duration) *mxv1alpha1.MXMember {
	m := existingMember(mx.StatusCreated, testSecretRV)
	m.Status.IsBeingAggregated = true
	m.Status.LastReadAt = statusTime(testNow.Add(-ago))
	m.Status.AggregatedAt = statusTime(testNow.Add(-ago))
	setReconciling(&m.Status.Conditions, 1, testNow.Add(-ago), mxv1alpha1.ReasonAggregating, "MX is aggregating the member (connection status CREATED).")
	return m
}

func withAnnotation(m *mxv1alpha1.MXMember, k, v string) *mxv1alpha1.MXMember {
	m.Annotations = map[string]string{k: v}
	return m
}

func challengedMember(answered string) *mxv1alpha1.MXMember {
	m := existingMember(mx.StatusChallenged, testSecretRV)
	m.Status.IsBeingAggregated = true
	m.Status.ConnectionStatusMessage = "MX Bank needs more information."
	m.Status.Challenges = []mxv1alpha1.Challenge{{GUID: "CRD-b", Label: "City?", Type: "TEXT"}, {GUID: "CRD-a", Label: "Send code", Type: "OPTIONS", Options: []mxv1alpha1.ChallengeOption{{Label: "Text", Value: "sms"}}}}
	m.Status.AnsweredChallenges = answered
	setStalled(&m.Status.Conditions, 1, testNow.Add(-time.Hour), "Challenged", "MX Bank needs more information.")
	return m
}

func TestMXMemberReconcile(t *testing.T) {
	secret := func() client.Object {
		return credentialsSecret(map[string]string{"username": "mxuser", "password": "pw"})
	}
	fields := func(f *fakeMX) {
		f.listInstitutionCredentials = func(string) ([]mx.CredentialField, error) { return mxbankFields, nil }
	}
	createOK := func(f *fakeMX) {
		fields(f)
		f.createMember = func(_ string, _ mx.CreateMemberRequest) (*mx.Member, bool, error) {
			return mxMember(mx.StatusCreated, true), true, nil
		}
	}
	all := func(fs ...func(*fakeMX)) func(*fakeMX) {
		return func(f *fakeMX) {
			for _, fn := range fs {
				fn(f)
			}
		}
	}
	aggregating := expect{ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonAggregating, reconciling: true, requeueMin: 3 * time.Second, requeueMax: 3 * time.Second}
	inSync := expect{ready: metav1.ConditionTrue, reason: mxv1alpha1.ReasonSucceeded, requeueMin: resyncMin, requeueMax: resyncMax}
	with := func(o expect, calls ...string) expect { o.calls = calls; return o }

	cases := []struct {
		reason  string
		objects []client.Object
		mx      func(*fakeMX)
		want    expect
		check   func(g Gomega, m *mxv1alpha1.MXMember, events []string)
		// deferred: the reconcile creates the member and puts its status write off to the next
		// reconcile, which the test runs; want and check describe that one's write.
		deferred bool
	}{
		{
			deferred: true,
			reason:   "a first create goes straight to MX with the partner id and the mapped credentials, without a lookup",
			objects:  []client.Object{readyUser(), newMember(), secret()},
			mx: all(fields, func(f *fakeMX) {
				f.createMember = func(user string, req mx.CreateMemberRequest) (*mx.Member, bool, error) {
					if user != testUserGUID || req.ID != "mxop:team-a/alice-bank" || req.InstitutionCode != "mxbank" || len(req.Credentials) != 2 ||
						req.Credentials[0] != (mx.CredentialValue{GUID: "CRD-user", Value: "mxuser"}) || req.Credentials[1] != (mx.CredentialValue{GUID: "CRD-pass", Value: "pw"}) {
						return nil, false, apiError(http.StatusBadRequest, "unexpected request")
					}
					return mxMember(mx.StatusCreated, true), true, nil
				}
			}),
			want: with(aggregating, "ListInstitutionCredentials", "CreateMember"),
			check: func(g Gomega, m *mxv1alpha1.MXMember, events []string) {
				g.Expect(m.Status.GUID).To(Equal(testMemberGUID))
				g.Expect(m.Status.ID).To(Equal("mxop:team-a/alice-bank"))
				g.Expect(m.Status.UserGUID).To(Equal(testUserGUID))
				g.Expect(m.Status.CredentialsRevision).To(Equal(testSecretRV))
				g.Expect(m.Status.AppliedSettings).NotTo(BeEmpty(), "what MX acknowledged is recorded")
				g.Expect(m.Status.ObservedGeneration).To(Equal(int64(1)))
				g.Expect(events).To(BeEmpty(), "a create is routine progress: no event (each is an API write)")
			},
		},
		{
			reason:  "a 409 on create is resolved by adopting the member that carries our partner id",
			objects: []client.Object{readyUser(), newMember(), secret()},
			mx: all(fields, func(f *fakeMX) {
				f.createMember = func(string, mx.CreateMemberRequest) (*mx.Member, bool, error) {
					return nil, false, apiError(http.StatusConflict, "A member with id already exists")
				}
				f.listMembers = func(string) ([]mx.Member, error) {
					m := mxMember(mx.StatusConnected, false)
					m.SuccessfullyAggregatedAt = m.AggregatedAt
					return []mx.Member{{GUID: "MBR-other", ID: "someone-else", InstitutionCode: "mxbank"}, *m}, nil
				}
				f.listMemberAccounts = func(_, _ string) ([]mx.Account, error) { return testAccounts(2), nil }
			}),
			want: with(inSync, "ListInstitutionCredentials", "CreateMember", "ListMembers", "ListMemberAccounts"),
			check: func(g Gomega, m *mxv1alpha1.MXMember, events []string) {
				g.Expect(m.Status.GUID).To(Equal(testMemberGUID))
				g.Expect(m.Status.CredentialsRevision).To(Equal(testSecretRV))
				g.Expect(m.Status.AccountCount).To(Equal(int32(2)))
				g.Expect(m.Status.Accounts[0]).To(Equal(mxv1alpha1.AccountSummary{GUID: "ACT-a", Name: "Checking", Type: "CHECKING", LastFour: "5678", Balance: "10.50", AvailableBalance: "9.50", Currency: "USD"}))
				g.Expect(events).To(ContainElement(ContainSubstring("Adopted MX member MBR-1")))
			},
		},
		{
			reason:  "a 409 with no member carrying our partner id is a duplicate connection: Stalled, no retry",
			objects: []client.Object{readyUser(), newMember(), secret()},
			mx: all(fields, func(f *fakeMX) {
				f.createMember = func(string, mx.CreateMemberRequest) (*mx.Member, bool, error) {
					return nil, false, apiError(http.StatusConflict, "A member with these credentials already exists")
				}
				f.listMembers = func(string) ([]mx.Member, error) {
					return []mx.Member{{GUID: "MBR-9", ID: "elsewhere", InstitutionCode: "mxbank"}, {GUID: "MBR-8", ID: "x", InstitutionCode: "other"}}, nil
				}
			}),
			want: expect{calls: []string{"ListInstitutionCredentials", "CreateMember", "ListMembers"}, ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonDuplicate, stalled: true},
			check: func(g Gomega, m *mxv1alpha1.MXMember, events []string) {
				msg := meta.FindStatusCondition(m.Status.Conditions, mxv1alpha1.StalledCondition).Message
				g.Expect(msg).To(ContainSubstring(`member MBR-9 (partner id "elsewhere")`), "the message names the conflicting member")
				g.Expect(msg).NotTo(ContainSubstring("MBR-8"), "of the same institution only")
				g.Expect(events).To(ContainElement(HavePrefix("Warning Duplicate")), "a Stalled transition is a Warning event")
			},
		},
		{
			reason: "status.id without status.guid shows an earlier attempt: look up first and adopt, no second create",
			objects: []client.Object{readyUser(), func() client.Object {
				m := newMember()
				m.Status.ID, m.Status.UserGUID = "mxop:team-a/alice-bank", testUserGUID
				return m
			}(), secret()},
			mx: all(fields, func(f *fakeMX) {
				f.findMemberByID = func(_, _ string) (*mx.Member, error) { return mxMember(mx.StatusCreated, true), nil }
			}),
			want: with(aggregating, "ListInstitutionCredentials", "FindMemberByID"),
		},
		{
			reason: "an earlier attempt that did not reach MX: the lookup finds nothing and the member is created",
			objects: []client.Object{readyUser(), func() client.Object {
				m := newMember()
				m.Status.ID, m.Status.UserGUID = "mxop:team-a/alice-bank", testUserGUID
				return m
			}(), secret()},
			mx: all(createOK, func(f *fakeMX) {
				f.findMemberByID = func(_, _ string) (*mx.Member, error) { return nil, notFound() }
			}),
			deferred: true,
			want:     with(aggregating, "ListInstitutionCredentials", "FindMemberByID", "CreateMember"),
		},
		{
			reason:  "a create whose outcome is unknown (500) records status.id for the lookup and backs off",
			objects: []client.Object{readyUser(), newMember(), secret()},
			mx: all(fields, func(f *fakeMX) {
				f.createMember = func(string, mx.CreateMemberRequest) (*mx.Member, bool, error) {
					return nil, false, apiError(http.StatusInternalServerError, "An unexpected error occurred")
				}
			}),
			want: expect{calls: []string{"ListInstitutionCredentials", "CreateMember"}, ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonMXUnavailable, reconciling: true, requeueMin: time.Second, requeueMax: time.Second},
			check: func(g Gomega, m *mxv1alpha1.MXMember, _ []string) {
				g.Expect(m.Status.ID).To(Equal("mxop:team-a/alice-bank"))
				g.Expect(m.Status.GUID).To(BeEmpty())
				g.Expect(m.Status.ObservedGeneration).To(BeZero(), "observedGeneration waits for success")
			},
		},
		{
			reason:  "a create whose connection dropped is handled like a 500",
			objects: []client.Object{readyUser(), newMember(), secret()},
			mx: all(fields, func(f *fakeMX) {
				f.createMember = func(string, mx.CreateMemberRequest) (*mx.Member, bool, error) { return nil, false, networkError() }
			}),
			want: expect{calls: []string{"ListInstitutionCredentials", "CreateMember"}, ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonMXUnavailable, reconciling: true, requeueMin: time.Second, requeueMax: time.Second},
			check: func(g Gomega, m *mxv1alpha1.MXMember, _ []string) {
				g.Expect(meta.FindStatusCondition(m.Status.Conditions, mxv1alpha1.ReadyCondition).Message).To(ContainSubstring("no response"))
			},
		},
		{
			reason:  "a missing credentials Secret stalls before any member call and names the keys to create",
			objects: []client.Object{readyUser(), newMember()},
			mx:      fields,
			want: expect{calls: []string{"ListInstitutionCredentials"}, ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonSecretNotFound, stalled: true,
				requeueMin: 10 * time.Minute, requeueMax: 10 * time.Minute},
			check: func(g Gomega, m *mxv1alpha1.MXMember, _ []string) {
				g.Expect(meta.FindStatusCondition(m.Status.Conditions, mxv1alpha1.StalledCondition).Message).To(ContainSubstring(`Secret "creds"`))
				g.Expect(meta.FindStatusCondition(m.Status.Conditions, mxv1alpha1.StalledCondition).Message).To(ContainSubstring("password, username"))
			},
		},
		{
			reason:  "a Secret without a required key stalls naming the key, never a value",
			objects: []client.Object{readyUser(), newMember(), credentialsSecret(map[string]string{"username": "canary-user-value"})},
			mx:      fields,
			want: expect{calls: []string{"ListInstitutionCredentials"}, ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonSecretKeyMissing, stalled: true,
				requeueMin: 10 * time.Minute, requeueMax: 10 * time.Minute},
			check: func(g Gomega, m *mxv1alpha1.MXMember, _ []string) {
				msg := meta.FindStatusCondition(m.Status.Conditions, mxv1alpha1.StalledCondition).Message
				g.Expect(msg).To(ContainSubstring("password"))
				g.Expect(msg).NotTo(ContainSubstring("canary-user-value"))
			},
		},
		{
			reason:  "an institution MX does not know stalls",
			objects: []client.Object{readyUser(), newMember(), secret()},
			mx: func(f *fakeMX) {
				f.listInstitutionCredentials = func(string) ([]mx.CredentialField, error) {
					return nil, apiError(http.StatusNotFound, "Institution not found")
				}
			},
			want: expect{calls: []string{"ListInstitutionCredentials"}, ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonInstitutionNotFound, stalled: true},
		},
		{
			reason:  "a member whose MXUser does not exist waits without any MX call",
			objects: []client.Object{newMember(), secret()},
			want:    expect{ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonUserNotReady, reconciling: true},
		},
		{
			reason: "a member whose MXUser is not Ready waits without any MX call",
			objects: []client.Object{func() client.Object {
				u := readyUser()
				setReconciling(&u.Status.Conditions, 1, testNow, mxv1alpha1.ReasonMXUnavailable, "MX is unavailable")
				return u
			}(), newMember(), secret()},
			want: expect{ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonUserNotReady, reconciling: true},
		},
		{
			reason: "a suspended member makes no MX call and is neither Reconciling nor Stalled",
			objects: []client.Object{readyUser(), func() client.Object {
				m := newMember()
				m.Spec.Suspend = true
				return m
			}(), secret()},
			want: expect{ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonSuspended},
		},
		{
			reason:  "a member in sync costs no MX call when reconciled again or after a restart; the resync is scheduled from lastReadAt",
			objects: []client.Object{readyUser(), connectedMember(testSecretRV), secret()},
			want:    expect{ready: metav1.ConditionTrue, reason: mxv1alpha1.ReasonSucceeded, requeueMin: resyncMin - time.Hour, requeueMax: resyncMax - time.Hour},
			check: func(g Gomega, m *mxv1alpha1.MXMember, events []string) {
				g.Expect(m.ResourceVersion).To(Equal("999"), "no status write")
				g.Expect(events).To(BeEmpty())
			},
		},
		{
			reason:  "while MX aggregates, a reconcile before the poll delay is over costs no MX call",
			objects: []client.Object{readyUser(), polling(time.Second), secret()},
			want:    expect{ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonAggregating, reconciling: true, requeueMin: 2 * time.Second, requeueMax: 2 * time.Second},
		},
		{
			reason:  "when the poll is due the status is read; CONNECTED lists the accounts once and is Ready",
			objects: []client.Object{readyUser(), polling(5 * time.Second), secret()},
			mx:      connected(time.Second, 3),
			want:    with(inSync, "GetMemberStatus", "ListMemberAccounts"),
			check: func(g Gomega, m *mxv1alpha1.MXMember, events []string) {
				g.Expect(m.Status.AccountCount).To(Equal(int32(3)))
				g.Expect(m.Status.AccountsAsOf.Time).To(BeTemporally("==", testNow.Add(-time.Second)))
				g.Expect(meta.FindStatusCondition(m.Status.Conditions, mxv1alpha1.ReadyCondition).Message).To(Equal("Connected with 3 account(s)."))
				g.Expect(events).To(BeEmpty(), "routine progress is not news: no event")
			},
		},
		{
			reason:  "the poll delay grows with the time MX has been aggregating",
			objects: []client.Object{readyUser(), polling(40 * time.Second), secret()},
			mx: func(f *fakeMX) {
				f.getMemberStatus = func(_, _ string) (*mx.MemberStatus, error) {
					started := testNow.Add(-40 * time.Second)
					return &mx.MemberStatus{ConnectionStatus: mx.StatusCreated, IsBeingAggregated: true, AggregatedAt: &started}, nil
				}
			},
			want: expect{calls: []string{"GetMemberStatus"}, ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonAggregating, reconciling: true, requeueMin: 20 * time.Second, requeueMax: 20 * time.Second},
		},
		{
			reason:  "DENIED stalls with MX's message and what to do, and is not polled (only the resync)",
			objects: []client.Object{readyUser(), polling(5 * time.Second), secret()},
			mx: func(f *fakeMX) {
				f.getMemberStatus = func(_, _ string) (*mx.MemberStatus, error) {
					return &mx.MemberStatus{ConnectionStatus: mx.StatusDenied, ConnectionStatusMessage: "The credentials were not accepted."}, nil
				}
			},
			want: expect{calls: []string{"GetMemberStatus"}, ready: metav1.ConditionFalse, reason: "Denied", stalled: true, requeueMin: resyncMin, requeueMax: resyncMax},
			check: func(g Gomega, m *mxv1alpha1.MXMember, events []string) {
				msg := meta.FindStatusCondition(m.Status.Conditions, mxv1alpha1.StalledCondition).Message
				g.Expect(msg).To(HavePrefix("The credentials were not accepted. Put the end user's correct credentials into Secret \"creds\""))
				g.Expect(events).To(ConsistOf(HavePrefix("Warning Denied The credentials were not accepted.")), "a Stalled transition is one Warning event")
			},
		},
		{
			reason:  "when the status endpoint carries no message, the member is read once for it",
			objects: []client.Object{readyUser(), polling(5 * time.Second), secret()},
			mx: func(f *fakeMX) {
				f.getMemberStatus = func(_, _ string) (*mx.MemberStatus, error) {
					return &mx.MemberStatus{ConnectionStatus: mx.StatusLocked}, nil
				}
				f.getMember = func(_, _ string) (*mx.Member, error) { return mxMember(mx.StatusLocked, false), nil }
			},
			want: expect{calls: []string{"GetMemberStatus", "GetMember"}, ready: metav1.ConditionFalse, reason: "Locked", stalled: true, requeueMin: resyncMin, requeueMax: resyncMax},
			check: func(g Gomega, m *mxv1alpha1.MXMember, _ []string) {
				g.Expect(m.Status.ConnectionStatusMessage).To(Equal("MX says LOCKED."))
			},
		},
		{
			reason:  "FAILED is retried slowly (RetryLater)",
			objects: []client.Object{readyUser(), polling(5 * time.Second), secret()},
			mx: func(f *fakeMX) {
				f.getMemberStatus = func(_, _ string) (*mx.MemberStatus, error) {
					return &mx.MemberStatus{ConnectionStatus: mx.StatusFailed, ConnectionStatusMessage: "We couldn't update."}, nil
				}
			},
			want: expect{calls: []string{"GetMemberStatus"}, ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonRetryLater, reconciling: true, requeueMin: 30 * time.Minute, requeueMax: 30 * time.Minute},
		},
		{
			reason:  "CLOSED is terminal: Stalled",
			objects: []client.Object{readyUser(), polling(5 * time.Second), secret()},
			mx: func(f *fakeMX) {
				f.getMemberStatus = func(_, _ string) (*mx.MemberStatus, error) {
					return &mx.MemberStatus{ConnectionStatus: mx.StatusClosed, ConnectionStatusMessage: "This connection has been closed."}, nil
				}
			},
			want: expect{calls: []string{"GetMemberStatus"}, ready: metav1.ConditionFalse, reason: "Closed", stalled: true, requeueMin: resyncMin, requeueMax: resyncMax},
		},
		{
			reason:  "CHALLENGED shows the challenges (without images) and stalls until answers exist",
			objects: []client.Object{readyUser(), polling(5 * time.Second), secret()},
			mx: func(f *fakeMX) {
				f.getMemberStatus = func(_, _ string) (*mx.MemberStatus, error) {
					return &mx.MemberStatus{ConnectionStatus: mx.StatusChallenged, IsBeingAggregated: true, ConnectionStatusMessage: "Answer the question.", Challenges: []mx.Challenge{
						{GUID: "CRD-img", Label: "What is shown?", Type: mx.FieldTypeImageData, ImageData: "data:image/png;base64,AAAA"},
						{GUID: "CRD-opt", Label: "Pick", Type: mx.FieldTypeImageOptions, ImageOptions: []mx.ImageOption{{GUID: "o1", Label: "Lighthouse", Value: "correct", DataURI: "data:image/png;base64,BBBB"}}},
					}}, nil
				}
			},
			want: expect{calls: []string{"GetMemberStatus"}, ready: metav1.ConditionFalse, reason: "Challenged", stalled: true, requeueMin: 10 * time.Minute, requeueMax: 10 * time.Minute},
			check: func(g Gomega, m *mxv1alpha1.MXMember, _ []string) {
				g.Expect(m.Status.Challenges).To(Equal([]mxv1alpha1.Challenge{
					{GUID: "CRD-img", Label: "What is shown?", Type: "IMAGE_DATA"},
					{GUID: "CRD-opt", Label: "Pick", Type: "IMAGE_OPTIONS", Options: []mxv1alpha1.ChallengeOption{{Label: "Lighthouse", Value: "correct"}}},
				}))
				g.Expect(meta.FindStatusCondition(m.Status.Conditions, mxv1alpha1.StalledCondition).Message).To(ContainSubstring(`Create Secret "answers"`))
			},
		},
		{
			reason:  "with an answer for every challenge, the member is resumed once and followed",
			objects: []client.Object{readyUser(), challengedMember(""), answersSecret(map[string]string{"CRD-a": "sms", "CRD-b": "canary-answer"})},
			mx: func(f *fakeMX) {
				f.resumeMember = func(_, _ string, answers []mx.ChallengeAnswer) (*mx.Member, error) {
					if len(answers) != 2 {
						return nil, apiError(http.StatusBadRequest, "answers")
					}
					return mxMember(mx.StatusResumed, true), nil
				}
			},
			want: with(aggregating, "ResumeMember"),
			check: func(g Gomega, m *mxv1alpha1.MXMember, events []string) {
				g.Expect(m.Status.AnsweredChallenges).To(Equal("CRD-a,CRD-b"))
				g.Expect(m.Status.Challenges).To(BeEmpty())
				g.Expect(events).To(ContainElement(ContainSubstring("Answered 2 MFA challenge(s)")))
			},
		},
		{
			reason:  "with answers for only some challenges, nothing is sent and the missing guids are named",
			objects: []client.Object{readyUser(), challengedMember(""), answersSecret(map[string]string{"CRD-a": "sms"})},
			want:    expect{ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonAwaitingMFAAnswers, stalled: true, requeueMin: 10 * time.Minute, requeueMax: 10 * time.Minute},
			check: func(g Gomega, m *mxv1alpha1.MXMember, _ []string) {
				g.Expect(meta.FindStatusCondition(m.Status.Conditions, mxv1alpha1.StalledCondition).Message).To(ContainSubstring("CRD-b"))
			},
		},
		{
			reason:  "a set of challenges already answered is not answered again",
			objects: []client.Object{readyUser(), challengedMember("CRD-a,CRD-b"), answersSecret(map[string]string{"CRD-a": "sms", "CRD-b": "x"})},
			want:    expect{ready: metav1.ConditionFalse, reason: "Challenged", stalled: true, requeueMin: resyncMin - time.Hour, requeueMax: resyncMax - time.Hour},
		},
		{
			reason: "a changed credentials Secret is sent to MX, which starts an aggregation",
			objects: []client.Object{readyUser(), func() client.Object {
				m := connectedMember("41")
				m.Status.AppliedCredentials = credentialsFingerprint(testFingerprintKey, []mx.CredentialValue{{GUID: "CRD-user", Value: "mxuser"}, {GUID: "CRD-pass", Value: "old"}})
				return m
			}(), secret()},
			mx: all(fields, func(f *fakeMX) {
				f.updateMember = func(_, _ string, req mx.UpdateMemberRequest) (*mx.Member, error) {
					if len(req.Credentials) != 2 || req.Metadata != nil {
						return nil, apiError(http.StatusBadRequest, "credentials only")
					}
					return mxMember(mx.StatusUpdated, true), nil
				}
			}),
			want: with(aggregating, "ListInstitutionCredentials", "UpdateMember"),
			check: func(g Gomega, m *mxv1alpha1.MXMember, events []string) {
				g.Expect(m.Status.CredentialsRevision).To(Equal(testSecretRV))
				g.Expect(m.Status.AppliedCredentials).To(Equal(credentialsFingerprint(testFingerprintKey, []mx.CredentialValue{{GUID: "CRD-user", Value: "mxuser"}, {GUID: "CRD-pass", Value: "pw"}})))
				g.Expect(events).To(ContainElement(ContainSubstring("Sent the changed credentials of Secret creds")))
			},
		},
		{
			reason:  "a new revision of the credentials Secret with the same data (labels changed) costs no MX call",
			objects: []client.Object{readyUser(), connectedMember("41"), secret()},
			mx:      fields,
			want:    with(inSync, "ListInstitutionCredentials"),
			check: func(g Gomega, m *mxv1alpha1.MXMember, events []string) {
				g.Expect(m.Status.CredentialsRevision).To(Equal(testSecretRV), "the revision is recorded as compared")
				g.Expect(events).To(BeEmpty())
			},
		},
		{
			reason:  "an aggregation requested inside the throttle window costs no call and says when it is allowed",
			objects: []client.Object{readyUser(), withAnnotation(connectedMember(testSecretRV), mxv1alpha1.AggregateRequestedAtAnnotation, "now"), secret()},
			want:    expect{ready: metav1.ConditionTrue, reason: mxv1alpha1.ReasonAggregationThrottled, requeueMin: time.Hour, requeueMax: time.Hour},
			check: func(g Gomega, m *mxv1alpha1.MXMember, _ []string) {
				g.Expect(m.Status.NextAggregationAllowedAt.Time).To(BeTemporally("==", testNow.Add(time.Hour)))
				g.Expect(m.Status.LastHandledAggregateAt).To(BeEmpty())
				g.Expect(meta.FindStatusCondition(m.Status.Conditions, mxv1alpha1.ReadyCondition).Message).To(ContainSubstring("allowed from 2026-03-01T13:00:00Z"))
			},
		},
		{
			reason: "an aggregation requested outside the throttle window is one aggregate call",
			objects: []client.Object{readyUser(), func() client.Object {
				m := withAnnotation(connectedMember(testSecretRV), mxv1alpha1.AggregateRequestedAtAnnotation, "now")
				m.Status.AggregatedAt = statusTime(testNow.Add(-4 * time.Hour))
				m.Status.SuccessfullyAggregatedAt = m.Status.AggregatedAt
				m.Status.AccountsAsOf = m.Status.AggregatedAt
				return m
			}(), secret()},
			mx: func(f *fakeMX) {
				f.aggregateMember = func(_, _ string) (*mx.Member, error) { return mxMember(mx.StatusConnected, true), nil }
			},
			want: with(aggregating, "AggregateMember"),
			check: func(g Gomega, m *mxv1alpha1.MXMember, _ []string) {
				g.Expect(m.Status.LastHandledAggregateAt).To(Equal("now"))
			},
		},
		{
			reason: "refreshInterval asks for an aggregation once the last success is older than it",
			objects: []client.Object{readyUser(), func() client.Object {
				m := connectedMember(testSecretRV)
				m.Spec.RefreshInterval = &metav1.Duration{Duration: 3 * time.Hour}
				m.Status.SuccessfullyAggregatedAt = statusTime(testNow.Add(-4 * time.Hour))
				m.Status.AccountsAsOf = m.Status.SuccessfullyAggregatedAt.DeepCopy()
				m.Status.AggregatedAt = m.Status.SuccessfullyAggregatedAt.DeepCopy()
				return m
			}(), secret()},
			mx: func(f *fakeMX) {
				f.aggregateMember = func(_, _ string) (*mx.Member, error) { return mxMember(mx.StatusConnected, true), nil }
			},
			want: with(aggregating, "AggregateMember"),
		},
		{
			reason: "refreshInterval never re-aggregates a member whose credentials were refused",
			objects: []client.Object{readyUser(), func() client.Object {
				m := existingMember(mx.StatusDenied, testSecretRV)
				m.Spec.RefreshInterval = &metav1.Duration{Duration: 3 * time.Hour}
				m.Status.ConnectionStatusMessage = "The credentials were not accepted."
				m.Status.SuccessfullyAggregatedAt = statusTime(testNow.Add(-48 * time.Hour))
				m.Status.AggregatedAt = statusTime(testNow.Add(-4 * time.Hour))
				return m
			}(), secret()},
			want: expect{ready: metav1.ConditionFalse, reason: "Denied", stalled: true, requeueMin: resyncMin - time.Hour, requeueMax: resyncMax - time.Hour},
		},
		{
			reason:  "a member gone from MX is Stalled (GoneInMX) and not created again",
			objects: []client.Object{readyUser(), polling(5 * time.Second), secret()},
			mx: func(f *fakeMX) {
				f.getMemberStatus = func(_, _ string) (*mx.MemberStatus, error) {
					return nil, apiError(http.StatusNotFound, "Member not found")
				}
			},
			want: expect{calls: []string{"GetMemberStatus"}, ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonGoneInMX, stalled: true},
		},
		{
			reason: "a member reported GoneInMX stays so without an MX call until a person asks",
			objects: []client.Object{readyUser(), func() client.Object {
				m := connectedMember(testSecretRV)
				setStalled(&m.Status.Conditions, 1, testNow, mxv1alpha1.ReasonGoneInMX, "gone")
				return m
			}(), secret()},
			want: expect{ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonGoneInMX, stalled: true},
		},
		{
			reason: "a new reconcile-requested-at value re-creates a member reported GoneInMX",
			objects: []client.Object{readyUser(), func() client.Object {
				m := withAnnotation(connectedMember(testSecretRV), mxv1alpha1.ReconcileRequestedAtAnnotation, "again")
				setStalled(&m.Status.Conditions, 1, testNow, mxv1alpha1.ReasonGoneInMX, "gone")
				return m
			}(), secret()},
			mx:   createOK,
			want: with(aggregating, "ListInstitutionCredentials", "CreateMember"),
			check: func(g Gomega, m *mxv1alpha1.MXMember, _ []string) {
				g.Expect(m.Status.LastHandledReconcileAt).To(Equal("again"))
			},
		},
		{
			reason:  "a 401 from MX (the operator's own credentials) stalls and retries slowly, without an error",
			objects: []client.Object{readyUser(), polling(5 * time.Second), secret()},
			mx: func(f *fakeMX) {
				f.getMemberStatus = func(_, _ string) (*mx.MemberStatus, error) {
					return nil, apiError(http.StatusUnauthorized, "not valid")
				}
			},
			want: expect{calls: []string{"GetMemberStatus"}, ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonMXUnauthorized, stalled: true, requeueMin: 15 * time.Minute, requeueMax: 15 * time.Minute},
		},
		{
			reason:  "a 429 waits for MX's Retry-After",
			objects: []client.Object{readyUser(), polling(5 * time.Second), secret()},
			mx: func(f *fakeMX) {
				f.getMemberStatus = func(_, _ string) (*mx.MemberStatus, error) {
					return nil, &mx.APIError{StatusCode: http.StatusTooManyRequests, RetryAfter: 7 * time.Second}
				}
			},
			want: expect{calls: []string{"GetMemberStatus"}, ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonMXRateLimited, reconciling: true, requeueMin: 7 * time.Second, requeueMax: 7 * time.Second},
		},
		{
			reason:  "another 4xx is Stalled with MX's message and a terminal error",
			objects: []client.Object{readyUser(), newMember(), secret()},
			mx: all(fields, func(f *fakeMX) {
				f.createMember = func(string, mx.CreateMemberRequest) (*mx.Member, bool, error) {
					return nil, false, apiError(http.StatusUnprocessableEntity, "The metadata is too long.")
				}
			}),
			want: expect{calls: []string{"ListInstitutionCredentials", "CreateMember"}, ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonMXRejected, stalled: true},
			check: func(g Gomega, m *mxv1alpha1.MXMember, _ []string) {
				g.Expect(meta.FindStatusCondition(m.Status.Conditions, mxv1alpha1.StalledCondition).Message).To(
					Equal("MX rejected creating the member (" + statusCodeText(http.StatusUnprocessableEntity) + "): The metadata is too long. Fix the spec; the operator retries when the object changes."))
				g.Expect(m.Status.ObservedGeneration).To(Equal(int64(1)), "a stalled reconcile is finished with this generation")
			},
		},
		{
			reason: "a spec change sends the member's settings to MX, without credentials",
			objects: []client.Object{readyUser(), func() client.Object {
				m := connectedMember(testSecretRV)
				m.Generation = 2
				m.Spec.Metadata = `{"tier":"gold"}`
				return m
			}(), secret()},
			mx: func(f *fakeMX) {
				f.updateMember = func(_, _ string, req mx.UpdateMemberRequest) (*mx.Member, error) {
					if req.Credentials != nil || req.Metadata == nil || *req.Metadata != `{"tier":"gold"}` {
						return nil, apiError(http.StatusBadRequest, "settings only")
					}
					m := mxMember(mx.StatusConnected, false)
					m.SuccessfullyAggregatedAt = m.AggregatedAt
					return m, nil
				}
				f.listMemberAccounts = func(_, _ string) ([]mx.Account, error) { return testAccounts(1), nil }
			},
			want: with(inSync, "UpdateMember", "ListMemberAccounts"),
			check: func(g Gomega, m *mxv1alpha1.MXMember, _ []string) {
				g.Expect(m.Status.ObservedGeneration).To(Equal(int64(2)))
			},
		},
		{
			reason: "an OAuth member is created with is_oauth and waits for the end user at the window URI",
			objects: []client.Object{readyUser(), func() client.Object {
				m := newMember()
				m.Spec.OAuth, m.Spec.CredentialsSecretRef, m.Spec.InstitutionCode = true, nil, "mx_bank_oauth"
				return m
			}()},
			mx: func(f *fakeMX) {
				f.listInstitutionCredentials = func(string) ([]mx.CredentialField, error) { return nil, nil }
				f.createMember = func(_ string, req mx.CreateMemberRequest) (*mx.Member, bool, error) {
					if !req.IsOAuth || len(req.Credentials) != 0 {
						return nil, false, apiError(http.StatusBadRequest, "oauth")
					}
					return mxMember(mx.StatusPending, false), false, nil
				}
				f.oauthWindowURI = func(_, _ string) (string, error) { return "https://oauth.example/authorize", nil }
			},
			want: expect{calls: []string{"ListInstitutionCredentials", "CreateMember", "OAuthWindowURI"}, ready: metav1.ConditionFalse, reason: "Pending", stalled: true, requeueMin: 10 * time.Second, requeueMax: 10 * time.Second},
			check: func(g Gomega, m *mxv1alpha1.MXMember, _ []string) {
				g.Expect(m.Status.EndUserURL).NotTo(BeNil())
				g.Expect(m.Status.EndUserURL.Kind).To(Equal(mxv1alpha1.EndUserURLOAuthWindow))
				g.Expect(m.Status.EndUserURL.Available).To(BeTrue())
				g.Expect(m.Status.EndUserURL.SecretName).To(Equal(m.Name + "-end-user-url"))
				raw, err := json.Marshal(m.Status)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(string(raw)).NotTo(ContainSubstring("oauth.example"), "the URL is in the Secret, never in status")
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			c := newFakeClient(tc.objects...)
			f := &fakeMX{}
			if tc.mx != nil {
				tc.mx(f)
			}
			r, rec := newMemberReconciler(c, f)
			req := reconcile.Request{NamespacedName: key(newMember())}
			res, err := r.Reconcile(context.Background(), req)
			got := &mxv1alpha1.MXMember{}
			g.Expect(c.Get(context.Background(), req.NamespacedName, got)).To(Succeed())
			if tc.deferred {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(got.Status.GUID).To(BeEmpty(), "just created and aggregating: the status waits for the first read")
				g.Expect(got.Status.Conditions).To(BeEmpty())
				g.Expect(f.Calls()).To(Equal(tc.want.calls), "MX calls")
				g.Expect(res.RequeueAfter).To(BeNumerically(">=", tc.want.requeueMin), "RequeueAfter")
				g.Expect(res.RequeueAfter).To(BeNumerically("<=", tc.want.requeueMax), "RequeueAfter")

				// The next reconcile (here before the read is due) writes the create's record.
				res, err = r.Reconcile(context.Background(), req)
				g.Expect(c.Get(context.Background(), req.NamespacedName, got)).To(Succeed())
			}
			assertOutcome(g, tc.want, res, err, f.Calls(), got.Status.Conditions)
			events := drain(rec)
			for _, e := range events {
				g.Expect(e).NotTo(ContainSubstring("canary"), "events never carry credentials or answers")
			}
			if tc.check != nil {
				tc.check(g, got, events)
			}
		})
	}
}

func TestMXMemberInstitutionFieldsAreCached(t *testing.T) {
	g := NewWithT(t)
	second := newMember()
	second.Name, second.UID = "alice-bank-2", "uid-member-2"
	c := newFakeClient(readyUser(), newMember(), second, credentialsSecret(map[string]string{"username": "u", "password": "p"}))
	f := &fakeMX{
		listInstitutionCredentials: func(string) ([]mx.CredentialField, error) { return mxbankFields, nil },
		createMember: func(string, mx.CreateMemberRequest) (*mx.Member, bool, error) {
			return mxMember(mx.StatusCreated, true), true, nil
		},
	}
	r, _ := newMemberReconciler(c, f)
	for _, m := range []*mxv1alpha1.MXMember{newMember(), second} {
		_, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: key(m)})
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(f.Calls()).To(Equal([]string{"ListInstitutionCredentials", "CreateMember", "CreateMember"}), "one institution call for two members")
}

func TestMXMemberWebhookHintForcesOneRead(t *testing.T) {
	g := NewWithT(t)
	c := newFakeClient(readyUser(), connectedMember(testSecretRV), credentialsSecret(map[string]string{"username": "u", "password": "p"}))
	f := &fakeMX{}
	connected(time.Minute, 2)(f)
	r, _ := newMemberReconciler(c, f)
	req := reconcile.Request{NamespacedName: key(newMember())}

	_, err := r.Reconcile(context.Background(), req)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(f.Calls()).To(BeEmpty(), "in sync: no read")

	r.MemberChanged(context.Background(), testMemberGUID, "")
	g.Expect(r.notifications).To(HaveLen(1), "the member is enqueued")
	_, err = r.Reconcile(context.Background(), req)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(f.Calls()).To(Equal([]string{"GetMemberStatus", "ListMemberAccounts"}), "the hint forces a read; the newer success relists the accounts")

	_, err = r.Reconcile(context.Background(), req)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(f.Calls()).To(HaveLen(2), "the hint is used up by the read")

	r.MemberChanged(context.Background(), "MBR-unknown", "")
	g.Expect(r.notifications).To(HaveLen(1), "unknown guids are ignored")
}

func TestMXMemberDelete(t *testing.T) {
	deleting := func(policy mxv1alpha1.DeletionPolicy, mutate func(*mxv1alpha1.MXMember)) *mxv1alpha1.MXMember {
		m := connectedMember(testSecretRV)
		m.Spec.DeletionPolicy = policy
		now := metav1.NewTime(testNow)
		m.DeletionTimestamp = &now
		if mutate != nil {
			mutate(m)
		}
		return m
	}
	cases := []struct {
		reason string
		member *mxv1alpha1.MXMember
		mx     func(*fakeMX)
		calls  []string
		gone   bool
	}{
		{
			reason: "deletionPolicy Delete deletes the member in MX, then releases the object",
			member: deleting(mxv1alpha1.DeletionPolicyDelete, nil),
			mx:     func(f *fakeMX) { f.deleteMember = func(_, _ string) error { return nil } },
			calls:  []string{"DeleteMember"},
			gone:   true,
		},
		{
			reason: "a member already gone from MX (404) counts as deleted",
			member: deleting(mxv1alpha1.DeletionPolicyDelete, nil),
			mx: func(f *fakeMX) {
				f.deleteMember = func(_, _ string) error { return apiError(http.StatusNotFound, "Member not found") }
			},
			calls: []string{"DeleteMember"},
			gone:  true,
		},
		{
			reason: "deletionPolicy Orphan leaves the member in MX",
			member: deleting(mxv1alpha1.DeletionPolicyOrphan, nil),
			gone:   true,
		},
		{
			reason: "a member whose create may have reached MX unanswered is looked up by partner id and deleted",
			member: deleting(mxv1alpha1.DeletionPolicyDelete, func(m *mxv1alpha1.MXMember) { m.Status.GUID = "" }),
			mx: func(f *fakeMX) {
				f.findMemberByID = func(_, _ string) (*mx.Member, error) { return mxMember(mx.StatusCreated, true), nil }
				f.deleteMember = func(_, guid string) error {
					if guid != testMemberGUID {
						return apiError(http.StatusNotFound, "wrong guid")
					}
					return nil
				}
			},
			calls: []string{"FindMemberByID", "DeleteMember"},
			gone:  true,
		},
		{
			reason: "a failed delete keeps the finalizer and reports it",
			member: deleting(mxv1alpha1.DeletionPolicyDelete, nil),
			mx: func(f *fakeMX) {
				f.deleteMember = func(_, _ string) error { return apiError(http.StatusServiceUnavailable, "maintenance") }
			},
			calls: []string{"DeleteMember"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			c := newFakeClient(readyUser(), tc.member)
			f := &fakeMX{}
			if tc.mx != nil {
				tc.mx(f)
			}
			r, _ := newMemberReconciler(c, f)
			_, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: key(tc.member)})
			if tc.calls == nil {
				g.Expect(f.Calls()).To(BeEmpty())
			} else {
				g.Expect(f.Calls()).To(Equal(tc.calls))
			}
			got := &mxv1alpha1.MXMember{}
			getErr := c.Get(context.Background(), key(tc.member), got)
			if tc.gone {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(client.IgnoreNotFound(getErr)).To(Succeed())
				g.Expect(getErr).To(HaveOccurred(), "the fake client deletes the object once the finalizer is gone")
				return
			}
			g.Expect(err).NotTo(HaveOccurred(), "a refusal is retried on the object's own backoff")
			g.Expect(getErr).NotTo(HaveOccurred())
			g.Expect(got.Finalizers).To(ContainElement(mxv1alpha1.Finalizer))
			g.Expect(meta.FindStatusCondition(got.Status.Conditions, mxv1alpha1.ReadyCondition).Reason).To(Equal(mxv1alpha1.ReasonMXUnavailable))
		})
	}
}

func TestMXMemberFinalizerFirst(t *testing.T) {
	g := NewWithT(t)
	m := newMember()
	m.Finalizers = nil
	c := newFakeClient(readyUser(), m, credentialsSecret(map[string]string{"username": "u", "password": "p"}))
	f := &fakeMX{}
	r, _ := newMemberReconciler(c, f)
	f.listInstitutionCredentials = func(string) ([]mx.CredentialField, error) {
		got := &mxv1alpha1.MXMember{}
		g.Expect(c.Get(context.Background(), key(m), got)).To(Succeed())
		g.Expect(got.Finalizers).To(Equal([]string{mxv1alpha1.Finalizer}), "no MX call before the finalizer is in place")
		return nil, apiError(http.StatusServiceUnavailable, "down")
	}
	_, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: key(m)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(f.Calls()).To(Equal([]string{"ListInstitutionCredentials"}), "the same reconcile goes on after adding the finalizer (no round trip)")
	got := &mxv1alpha1.MXMember{}
	g.Expect(c.Get(context.Background(), key(m), got)).To(Succeed())
	g.Expect(got.Finalizers).To(Equal([]string{mxv1alpha1.Finalizer}))
}

// TestConnectionStatusConditions maps every MX connection status to conditions.
func TestConnectionStatusConditions(t *testing.T) {
	cases := []struct {
		status      mx.ConnectionStatus
		aggregating bool
		ready       metav1.ConditionStatus
		reason      string
		reconciling bool
		stalled     bool
	}{
		{mx.StatusCreated, true, metav1.ConditionFalse, mxv1alpha1.ReasonAggregating, true, false},
		{mx.StatusUpdated, true, metav1.ConditionFalse, mxv1alpha1.ReasonAggregating, true, false},
		{mx.StatusResumed, true, metav1.ConditionFalse, mxv1alpha1.ReasonAggregating, true, false},
		{mx.StatusDelayed, true, metav1.ConditionFalse, mxv1alpha1.ReasonAggregating, true, false},
		{mx.StatusReconnected, true, metav1.ConditionFalse, mxv1alpha1.ReasonAggregating, true, false},
		{mx.StatusCreated, false, metav1.ConditionFalse, mxv1alpha1.ReasonProgressing, true, false},
		{mx.StatusConnected, true, metav1.ConditionFalse, mxv1alpha1.ReasonAggregating, true, false},
		{mx.StatusConnected, false, metav1.ConditionTrue, mxv1alpha1.ReasonSucceeded, false, false},
		{mx.StatusDenied, false, metav1.ConditionFalse, "Denied", false, true},
		{mx.StatusPrevented, false, metav1.ConditionFalse, "Prevented", false, true},
		{mx.StatusLocked, false, metav1.ConditionFalse, "Locked", false, true},
		{mx.StatusImpeded, false, metav1.ConditionFalse, "Impeded", false, true},
		{mx.StatusImpaired, false, metav1.ConditionFalse, "Impaired", false, true},
		{mx.StatusImported, false, metav1.ConditionFalse, "Imported", false, true},
		{mx.StatusExpired, false, metav1.ConditionFalse, "Expired", false, true},
		{mx.StatusRejected, false, metav1.ConditionFalse, "Rejected", false, true},
		{mx.StatusChallenged, true, metav1.ConditionFalse, "Challenged", false, true},
		{mx.StatusPending, false, metav1.ConditionFalse, "Pending", false, true},
		{mx.StatusFailed, false, metav1.ConditionFalse, mxv1alpha1.ReasonRetryLater, true, false},
		{mx.StatusDegraded, false, metav1.ConditionFalse, mxv1alpha1.ReasonRetryLater, true, false},
		{mx.StatusDisconnected, false, metav1.ConditionFalse, mxv1alpha1.ReasonRetryLater, true, false},
		{mx.StatusDiscontinued, false, metav1.ConditionFalse, "Discontinued", false, true},
		{mx.StatusClosed, false, metav1.ConditionFalse, "Closed", false, true},
		{mx.StatusDisabled, false, metav1.ConditionFalse, "Disabled", false, true},
		{"SOMETHING_NEW", false, metav1.ConditionFalse, mxv1alpha1.ReasonRetryLater, true, false},
	}
	for _, tc := range cases {
		t.Run(string(tc.status), func(t *testing.T) {
			g := NewWithT(t)
			m := existingMember(tc.status, testSecretRV)
			m.Status.IsBeingAggregated = tc.aggregating
			m.Status.ConnectionStatusMessage = "MX message"
			r, _ := newMemberReconciler(nil, &fakeMX{})
			s := &memberScope{member: m, now: testNow}
			out := r.summarize(s)
			_, err := finish(context.Background(), newFakeClient(m.DeepCopy()), r.Recorder, memberKind.status, m.DeepCopy(), m, out, false, testNow)
			g.Expect(err).NotTo(HaveOccurred())
			ready := meta.FindStatusCondition(m.Status.Conditions, mxv1alpha1.ReadyCondition)
			g.Expect(ready.Status).To(Equal(tc.ready))
			g.Expect(ready.Reason).To(Equal(tc.reason))
			if tc.ready != metav1.ConditionTrue {
				g.Expect(ready.Message).To(HavePrefix("MX"), "MX's message, or a statement about MX, comes first")
			}
			g.Expect(meta.IsStatusConditionTrue(m.Status.Conditions, mxv1alpha1.ReconcilingCondition)).To(Equal(tc.reconciling))
			g.Expect(meta.IsStatusConditionTrue(m.Status.Conditions, mxv1alpha1.StalledCondition)).To(Equal(tc.stalled))
		})
	}
}

func TestSecretChangeMatters(t *testing.T) {
	stalledNew := newMember()
	setStalled(&stalledNew.Status.Conditions, 1, testNow, mxv1alpha1.ReasonSecretNotFound, "missing")
	cases := []struct {
		reason string
		member *mxv1alpha1.MXMember
		secret string
		rv     string
		want   bool
	}{
		{"a member not created yet and not waiting ignores its Secret (no early reconcile)", newMember(), "creds", "42", false},
		{"a member stalled before its create is waiting for the Secret", stalledNew, "creds", "42", true},
		{"new credentials for a member in MX matter", connectedMember("41"), "creds", "42", true},
		{"the revision already sent does not matter", connectedMember("42"), "creds", "42", false},
		{"the answers Secret matters while MX waits for answers", challengedMember(""), "answers", "7", true},
		{"the answers Secret does not matter without challenges", connectedMember("42"), "answers", "7", false},
		{"another Secret does not matter", connectedMember("41"), "other", "42", false},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			NewWithT(t).Expect(secretChangeMatters(tc.member, tc.secret, tc.rv)).To(Equal(tc.want))
		})
	}
}

func TestMemberSettingsHash(t *testing.T) {
	g := NewWithT(t)
	spec := mxv1alpha1.MXMemberSpec{Metadata: "m", DisableBackgroundAggregation: true}
	h := settingsHash(desiredMemberSettings(spec, "id"))
	g.Expect(settingsHash(memberSettings{ID: "id", Metadata: "m", DisableBackgroundAggregation: true})).To(Equal(h), "what MX returns compares with what the spec asks")
	g.Expect(settingsHash(desiredMemberSettings(spec, "other"))).NotTo(Equal(h), "the partner id counts")
	spec.Metadata = "n"
	g.Expect(settingsHash(desiredMemberSettings(spec, "id"))).NotTo(Equal(h), "metadata counts")
	spec.RefreshInterval = &metav1.Duration{Duration: 5 * time.Hour}
	spec.Metadata = "m"
	g.Expect(settingsHash(desiredMemberSettings(spec, "id"))).To(Equal(h), "fields MX does not hold do not count")
	req := desiredMemberSettings(spec, "id").update()
	g.Expect(*req.ID).To(Equal("id"))
	g.Expect(req.Credentials).To(BeNil(), "settings never carry credentials")
}

func TestCredentialsFingerprint(t *testing.T) {
	g := NewWithT(t)
	a := []mx.CredentialValue{{GUID: "CRD-user", Value: "mxuser"}, {GUID: "CRD-pass", Value: "password"}}
	fp := credentialsFingerprint([]byte("k1"), a)
	g.Expect(fp).NotTo(ContainSubstring("password"))
	g.Expect(credentialsFingerprint([]byte("k1"), []mx.CredentialValue{a[1], a[0]})).To(Equal(fp), "the order of the fields does not count")
	g.Expect(credentialsFingerprint([]byte("k2"), a)).NotTo(Equal(fp), "keyed: without the key a reader cannot test guesses")
	plain := sha256.Sum256([]byte("password"))
	g.Expect(fp).NotTo(ContainSubstring(hex.EncodeToString(plain[:8])), "not a plain hash of the password")
	g.Expect(credentialsFingerprint([]byte("k1"), []mx.CredentialValue{{GUID: "CRD-user", Value: "mxuser"}, {GUID: "CRD-pass", Value: "passwore"}})).NotTo(Equal(fp))
	g.Expect(credentialsFingerprint([]byte("k1"), []mx.CredentialValue{{GUID: "CRD-user", Value: "mxuserp"}, {GUID: "CRD-pass", Value: "assword"}})).NotTo(Equal(fp), "values cannot shift between fields")
}

func TestCredentialValues(t *testing.T) {
	g := NewWithT(t)
	values, missing := credentialValues(mxbankFields, map[string][]byte{"username": []byte("u"), "password": []byte(""), "extra": []byte("x")})
	g.Expect(values).To(Equal([]mx.CredentialValue{{GUID: "CRD-user", Value: "u"}}))
	g.Expect(missing).To(Equal([]string{"password"}), "an empty value counts as missing")
}

func TestAccountSummariesAreBounded(t *testing.T) {
	g := NewWithT(t)
	summaries, count, truncated := accountSummaries(testAccounts(mxv1alpha1.MaxAccountSummaries + 5))
	g.Expect(summaries).To(HaveLen(mxv1alpha1.MaxAccountSummaries))
	g.Expect(count).To(Equal(int32(mxv1alpha1.MaxAccountSummaries + 5)))
	g.Expect(truncated).To(BeTrue())
	summaries, count, truncated = accountSummaries(nil)
	g.Expect(summaries).To(BeNil())
	g.Expect(count).To(BeZero())
	g.Expect(truncated).To(BeFalse())
}

func TestStatusRulesReasons(t *testing.T) {
	g := NewWithT(t)
	for status, row := range statusRules {
		for _, rule := range []statusRule{row.busy, row.idle} {
			if rule.verdict != verdictStalled {
				continue
			}
			camel := strings.ToUpper(string(status)[:1]) + strings.ToLower(string(status)[1:])
			g.Expect(rule.reason).To(Equal(camel), "a Stalled reason is the status in CamelCase (%s)", status)
			g.Expect(rule.read).NotTo(Equal(readPoll), "nobody polls a member only a person can get past (%s)", status)
		}
	}
	g.Expect(statusRules).To(HaveLen(22), "every documented connection status has a row")
	g.Expect(ruleFor("SOMETHING_NEW", false).reason).To(Equal(mxv1alpha1.ReasonRetryLater))
}

// TestRefusalBackoff: while MX keeps refusing an object its wait grows (jittered, capped) and
// the condition says when it retries; an answer resets it.
func TestRefusalBackoff(t *testing.T) {
	g := NewWithT(t)
	c := newFakeClient(readyUser(), existingMember(mx.StatusConnected, testSecretRV), credentialsSecret(map[string]string{"username": "mxuser", "password": "pw"}))
	refuse := true
	f := &fakeMX{getMemberStatus: func(_, _ string) (*mx.MemberStatus, error) {
		if refuse {
			return nil, apiError(http.StatusTooManyRequests, "slow down")
		}
		agg := testNow.Add(-time.Hour)
		return &mx.MemberStatus{ConnectionStatus: mx.StatusConnected, AggregatedAt: &agg, SuccessfullyAggregatedAt: &agg}, nil
	}, listMemberAccounts: func(_, _ string) ([]mx.Account, error) { return testAccounts(1), nil }}
	r, _ := newMemberReconciler(c, f)
	r.Timing.FailureBaseDelay, r.Timing.FailureMaxDelay = 2*time.Second, 20*time.Second
	req := reconcile.Request{NamespacedName: key(newMember())}
	var waits []time.Duration
	for i := range 6 {
		m := &mxv1alpha1.MXMember{}
		g.Expect(c.Get(context.Background(), req.NamespacedName, m)).To(Succeed())
		m.Annotations = map[string]string{mxv1alpha1.ReconcileRequestedAtAnnotation: fmt.Sprint(i)}
		g.Expect(c.Update(context.Background(), m)).To(Succeed())
		res, err := r.Reconcile(context.Background(), req)
		g.Expect(err).NotTo(HaveOccurred(), "a refusal is a wait with a condition, not an error storm")
		waits = append(waits, res.RequeueAfter)
	}
	for i, w := range waits {
		want := min(2*time.Second<<i, 20*time.Second)
		g.Expect(w).To(BeNumerically(">=", want/2), "refusal %d", i+1)
		g.Expect(w).To(BeNumerically("<=", want), "refusal %d", i+1)
	}
	got := &mxv1alpha1.MXMember{}
	g.Expect(c.Get(context.Background(), req.NamespacedName, got)).To(Succeed())
	cond := meta.FindStatusCondition(got.Status.Conditions, mxv1alpha1.ReconcilingCondition)
	g.Expect(cond.Reason).To(Equal(mxv1alpha1.ReasonMXRateLimited))
	g.Expect(cond.Message).To(ContainSubstring("retries at " + formatTime(testNow.Add(waits[5]))))

	refuse = false
	got.Annotations[mxv1alpha1.ReconcileRequestedAtAnnotation] = "answered"
	g.Expect(c.Update(context.Background(), got)).To(Succeed())
	_, err := r.Reconcile(context.Background(), req)
	g.Expect(err).NotTo(HaveOccurred())
	refuse = true
	g.Expect(c.Get(context.Background(), req.NamespacedName, got)).To(Succeed())
	got.Annotations[mxv1alpha1.ReconcileRequestedAtAnnotation] = "again"
	g.Expect(c.Update(context.Background(), got)).To(Succeed())
	res, err := r.Reconcile(context.Background(), req)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(BeNumerically("<=", 2*time.Second), "an answer from MX reset the backoff")
}
