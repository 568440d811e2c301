package controller

import (
	"context"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
)

// newUser is an MXUser the operator has not created yet.
func newUser() *mxv1alpha1.MXUser {
	return &mxv1alpha1.MXUser{
		ObjectMeta: metav1.ObjectMeta{Name: "alice", Namespace: testNS, UID: "uid-alice", Generation: 1, Finalizers: []string{mxv1alpha1.Finalizer}},
		Spec:       mxv1alpha1.MXUserSpec{Email: "alice@example.com", Metadata: "m", DeletionPolicy: mxv1alpha1.DeletionPolicyDelete},
	}
}

// mxUser is the MX user matching newUser's spec.
func mxUser() *mx.User {
	return &mx.User{GUID: testUserGUID, ID: "mxop-team-a-alice", Email: "alice@example.com", Metadata: "m"}
}

func TestMXUserReconcile(t *testing.T) {
	inSync := outcome{ready: metav1.ConditionTrue, reason: mxv1alpha1.ReasonSucceeded, requeueMin: resyncMin, requeueMax: resyncMax}
	with := func(o outcome, calls ...string) outcome { o.calls = calls; return o }
	syncedUser := func(mutate func(*mxv1alpha1.MXUser)) *mxv1alpha1.MXUser {
		u := readyUser()
		u.Spec = newUser().Spec
		if mutate != nil {
			mutate(u)
		}
		return u
	}
	cases := []struct {
		reason string
		user   *mxv1alpha1.MXUser
		mx     func(*fakeMX)
		want   outcome
		check  func(g Gomega, u *mxv1alpha1.MXUser, events []string)
	}{
		{
			reason: "a new user is looked up by partner id, then created from the spec",
			user:   newUser(),
			mx: func(f *fakeMX) {
				f.findUserByID = func(string) (*mx.User, error) { return nil, notFound() }
				f.createUser = func(req mx.CreateUserRequest) (*mx.User, error) {
					if req.ID != "mxop-team-a-alice" || req.Email != "alice@example.com" || req.Metadata != "m" {
						return nil, apiError(http.StatusBadRequest, "unexpected request")
					}
					return mxUser(), nil
				}
			},
			want: with(inSync, "FindUserByID", "CreateUser"),
			check: func(g Gomega, u *mxv1alpha1.MXUser, events []string) {
				g.Expect(u.Status.GUID).To(Equal(testUserGUID))
				g.Expect(u.Status.ID).To(Equal("mxop-team-a-alice"))
				g.Expect(u.Status.LastReadAt.Time).To(BeTemporally("==", testNow))
				g.Expect(events).To(ConsistOf(ContainSubstring("Created MX user USR-1")))
			},
		},
		{
			reason: "spec.id is the partner id when set",
			user: func() *mxv1alpha1.MXUser {
				u := newUser()
				u.Spec.ID = "customer-1001"
				return u
			}(),
			mx: func(f *fakeMX) {
				f.findUserByID = func(id string) (*mx.User, error) {
					if id != "customer-1001" {
						return nil, apiError(http.StatusBadRequest, "id")
					}
					u := mxUser()
					u.ID = id
					return u, nil
				}
			},
			want: with(inSync, "FindUserByID"),
		},
		{
			reason: "a user found by partner id is adopted, and its drift corrected",
			user:   newUser(),
			mx: func(f *fakeMX) {
				f.findUserByID = func(string) (*mx.User, error) {
					u := mxUser()
					u.Email = "old@example.com"
					return u, nil
				}
				f.updateUser = func(_ string, req mx.UpdateUserRequest) (*mx.User, error) {
					if req.Email == nil || *req.Email != "alice@example.com" || req.Metadata != nil || req.IsDisabled != nil {
						return nil, apiError(http.StatusBadRequest, "only the email differs")
					}
					return mxUser(), nil
				}
			},
			want: with(inSync, "FindUserByID", "UpdateUser"),
			check: func(g Gomega, _ *mxv1alpha1.MXUser, events []string) {
				g.Expect(events).To(ContainElement(ContainSubstring("Adopted MX user USR-1")))
			},
		},
		{
			reason: "a 409 on create (a create whose answer was lost) is resolved by adopting",
			user:   newUser(),
			mx: func(f *fakeMX) {
				n := 0
				f.findUserByID = func(string) (*mx.User, error) {
					n++
					if n == 1 {
						return nil, notFound()
					}
					return mxUser(), nil
				}
				f.createUser = func(mx.CreateUserRequest) (*mx.User, error) { return nil, apiError(http.StatusConflict, "exists") }
			},
			want: with(inSync, "FindUserByID", "CreateUser", "FindUserByID"),
		},
		{
			reason: "a 409 with no user to adopt is Stalled (Duplicate)",
			user:   newUser(),
			mx: func(f *fakeMX) {
				f.findUserByID = func(string) (*mx.User, error) { return nil, notFound() }
				f.createUser = func(mx.CreateUserRequest) (*mx.User, error) { return nil, apiError(http.StatusConflict, "exists") }
			},
			want: outcome{calls: []string{"FindUserByID", "CreateUser", "FindUserByID"}, ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonDuplicate, stalled: true},
		},
		{
			reason: "a user in sync costs no MX call when reconciled again or after a restart",
			user:   syncedUser(nil),
			want:   outcome{ready: metav1.ConditionTrue, reason: mxv1alpha1.ReasonSucceeded, requeueMin: resyncMin - time.Hour, requeueMax: resyncMax - time.Hour},
			check: func(g Gomega, u *mxv1alpha1.MXUser, events []string) {
				g.Expect(events).To(BeEmpty())
			},
		},
		{
			reason: "the long resync reads the user and corrects drift",
			user:   syncedUser(func(u *mxv1alpha1.MXUser) { u.Status.LastReadAt = statusTime(testNow.Add(-14 * time.Hour)) }),
			mx: func(f *fakeMX) {
				f.getUser = func(string) (*mx.User, error) {
					u := mxUser()
					u.IsDisabled = true
					return u, nil
				}
				f.updateUser = func(_ string, req mx.UpdateUserRequest) (*mx.User, error) {
					if req.IsDisabled == nil || *req.IsDisabled {
						return nil, apiError(http.StatusBadRequest, "enable")
					}
					return mxUser(), nil
				}
			},
			want: with(inSync, "GetUser", "UpdateUser"),
		},
		{
			reason: "a new reconcile-requested-at value reads the user now and is recorded",
			user: syncedUser(func(u *mxv1alpha1.MXUser) {
				u.Annotations = map[string]string{mxv1alpha1.ReconcileRequestedAtAnnotation: "1"}
			}),
			mx: func(f *fakeMX) {
				f.getUser = func(string) (*mx.User, error) { return mxUser(), nil }
			},
			want: with(inSync, "GetUser"),
			check: func(g Gomega, u *mxv1alpha1.MXUser, _ []string) {
				g.Expect(u.Status.LastHandledReconcileAt).To(Equal("1"))
			},
		},
		{
			reason: "a spec change is sent to MX as one update",
			user: syncedUser(func(u *mxv1alpha1.MXUser) {
				u.Generation = 2
				u.Spec.Disabled = true
			}),
			mx: func(f *fakeMX) {
				f.updateUser = func(_ string, req mx.UpdateUserRequest) (*mx.User, error) {
					if req.IsDisabled == nil || !*req.IsDisabled || req.Email == nil || req.Metadata == nil {
						return nil, apiError(http.StatusBadRequest, "all fields")
					}
					u := mxUser()
					u.IsDisabled = true
					return u, nil
				}
			},
			want: with(inSync, "UpdateUser"),
			check: func(g Gomega, u *mxv1alpha1.MXUser, _ []string) {
				g.Expect(u.Status.ObservedGeneration).To(Equal(int64(2)))
			},
		},
		{
			reason: "a user gone from MX is Stalled (GoneInMX), not created again",
			user:   syncedUser(func(u *mxv1alpha1.MXUser) { u.Status.LastReadAt = statusTime(testNow.Add(-14 * time.Hour)) }),
			mx: func(f *fakeMX) {
				f.getUser = func(string) (*mx.User, error) { return nil, apiError(http.StatusNotFound, "User not found") }
			},
			want: outcome{calls: []string{"GetUser"}, ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonGoneInMX, stalled: true},
			check: func(g Gomega, _ *mxv1alpha1.MXUser, events []string) {
				g.Expect(events).To(ConsistOf(ContainSubstring("no longer exists in MX")))
			},
		},
		{
			reason: "a user reported GoneInMX is created again after a new reconcile-requested-at value",
			user: syncedUser(func(u *mxv1alpha1.MXUser) {
				u.Annotations = map[string]string{mxv1alpha1.ReconcileRequestedAtAnnotation: "2"}
				u.Status.LastHandledReconcileAt = "1"
				setStalled(&u.Status.Conditions, 1, testNow, mxv1alpha1.ReasonGoneInMX, "gone")
			}),
			mx: func(f *fakeMX) {
				f.findUserByID = func(string) (*mx.User, error) { return nil, notFound() }
				f.createUser = func(mx.CreateUserRequest) (*mx.User, error) {
					u := mxUser()
					u.GUID = "USR-2"
					return u, nil
				}
			},
			want: with(inSync, "FindUserByID", "CreateUser"),
			check: func(g Gomega, u *mxv1alpha1.MXUser, _ []string) {
				g.Expect(u.Status.GUID).To(Equal("USR-2"))
				g.Expect(u.Status.LastHandledReconcileAt).To(Equal("2"))
			},
		},
		{
			reason: "a 401 stalls with MXUnauthorized and retries slowly",
			user:   newUser(),
			mx: func(f *fakeMX) {
				f.findUserByID = func(string) (*mx.User, error) { return nil, apiError(http.StatusUnauthorized, "not valid") }
			},
			want: outcome{calls: []string{"FindUserByID"}, ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonMXUnauthorized, stalled: true, requeueMin: 15 * time.Minute, requeueMax: 15 * time.Minute},
		},
		{
			reason: "a suspended user makes no MX call",
			user:   func() *mxv1alpha1.MXUser { u := newUser(); u.Spec.Suspend = true; return u }(),
			want:   outcome{ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonSuspended},
		},
		{
			reason: "a user unsuspended after a spec change is updated and re-read",
			user: syncedUser(func(u *mxv1alpha1.MXUser) {
				setSuspended(&u.Status.Conditions, 1, testNow, "Suspended")
			}),
			mx: func(f *fakeMX) {
				f.updateUser = func(string, mx.UpdateUserRequest) (*mx.User, error) { return mxUser(), nil }
			},
			want: with(inSync, "UpdateUser"),
		},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			c := newFakeClient(tc.user)
			f := &fakeMX{}
			if tc.mx != nil {
				tc.mx(f)
			}
			r, rec := newUserReconciler(c, f)
			res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: key(tc.user)})
			got := &mxv1alpha1.MXUser{}
			g.Expect(c.Get(context.Background(), key(tc.user), got)).To(Succeed())
			assertOutcome(g, tc.want, res, err, f.Calls(), got.Status.Conditions)
			events := drain(rec)
			if tc.check != nil {
				tc.check(g, got, events)
			}
		})
	}
}

func TestMXUserDelete(t *testing.T) {
	deleting := func(policy mxv1alpha1.DeletionPolicy) *mxv1alpha1.MXUser {
		u := readyUser()
		u.Spec.DeletionPolicy = policy
		now := metav1.NewTime(testNow)
		u.DeletionTimestamp = &now
		return u
	}
	t.Run("a user with members waits and names them, sorted", func(t *testing.T) {
		g := NewWithT(t)
		a, b := newMember(), newMember()
		a.Name, b.Name = "zeta", "alpha"
		c := newFakeClient(deleting(mxv1alpha1.DeletionPolicyDelete), a, b)
		f := &fakeMX{}
		r, _ := newUserReconciler(c, f)
		res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: key(readyUser())})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.IsZero()).To(BeTrue(), "the members' deletion brings the user back")
		g.Expect(f.Calls()).To(BeEmpty())
		got := &mxv1alpha1.MXUser{}
		g.Expect(c.Get(context.Background(), key(readyUser()), got)).To(Succeed())
		cond := meta.FindStatusCondition(got.Status.Conditions, mxv1alpha1.ReconcilingCondition)
		g.Expect(cond.Reason).To(Equal(mxv1alpha1.ReasonMembersRemaining))
		g.Expect(cond.Message).To(Equal("Waiting for 2 MXMember(s) referencing this user to be deleted first: alpha, zeta."))
	})
	for _, tc := range []struct {
		reason string
		policy mxv1alpha1.DeletionPolicy
		err    error
		calls  []string
	}{
		{"deletionPolicy Delete deletes the user in MX", mxv1alpha1.DeletionPolicyDelete, nil, []string{"DeleteUser"}},
		{"a user already gone (404) counts as deleted", mxv1alpha1.DeletionPolicyDelete, apiError(http.StatusNotFound, "gone"), []string{"DeleteUser"}},
		{"deletionPolicy Orphan leaves the user in MX", mxv1alpha1.DeletionPolicyOrphan, nil, nil},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			c := newFakeClient(deleting(tc.policy))
			f := &fakeMX{deleteUser: func(string) error { return tc.err }}
			r, _ := newUserReconciler(c, f)
			_, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: key(readyUser())})
			g.Expect(err).NotTo(HaveOccurred())
			if tc.calls == nil {
				g.Expect(f.Calls()).To(BeEmpty())
			} else {
				g.Expect(f.Calls()).To(Equal(tc.calls))
			}
			g.Expect(client.IgnoreNotFound(c.Get(context.Background(), key(readyUser()), &mxv1alpha1.MXUser{}))).To(Succeed())
			g.Expect(c.Get(context.Background(), key(readyUser()), &mxv1alpha1.MXUser{})).NotTo(Succeed(), "released and gone")
		})
	}
}

func TestPartnerID(t *testing.T) {
	g := NewWithT(t)
	g.Expect(partnerID("given", "p", "ns", "n")).To(Equal("given"))
	g.Expect(partnerID("", "p", "ns", "n")).To(Equal("p-ns-n"))
	g.Expect(partnerID("", "", "ns", "n")).To(Equal("mxop-ns-n"))
	long := partnerID("", "mxop", "ns", string(make([]byte, 300)))
	g.Expect(long).To(HaveLen(maxPartnerIDLen), "a derived id fits MX's limit")
	g.Expect(partnerID("", "mxop", "ns", string(make([]byte, 300)))).To(Equal(long), "and stays stable")
	g.Expect(partnerID("", "mxop", "ns", string(make([]byte, 301)))).NotTo(Equal(long), "and unique")
}

func TestTiming(t *testing.T) {
	g := NewWithT(t)
	tm := Timing{}.withDefaults()
	g.Expect(tm.pollDelay(0)).To(Equal(3*time.Second), "MX's 3 s guidance first")
	g.Expect(tm.pollDelay(20*time.Second)).To(Equal(10*time.Second), "growing with the time aggregating")
	g.Expect(tm.pollDelay(time.Hour)).To(Equal(time.Minute), "capped")
	for _, uid := range []string{"a", "b", "c", "d"} {
		d := tm.resyncDelay(k8stypes.UID("uid-" + uid))
		g.Expect(d).To(BeNumerically(">=", resyncMin))
		g.Expect(d).To(BeNumerically("<=", resyncMax))
	}
	g.Expect(tm.resyncDelay("x")).To(Equal(tm.resyncDelay("x")), "stable per object")
	g.Expect(tm.resyncDelay("x")).NotTo(Equal(tm.resyncDelay("y")), "jittered across objects")
}

func updateEvent(o, n client.Object) event.UpdateEvent {
	return event.UpdateEvent{ObjectOld: o, ObjectNew: n}
}

func TestReconcileTriggers(t *testing.T) {
	g := NewWithT(t)
	p := reconcileTriggers()
	old := newMember()
	statusOnly := old.DeepCopy()
	statusOnly.Status.ConnectionStatus = "CONNECTED"
	g.Expect(p.Update(updateEvent(old, statusOnly))).To(BeFalse(), "the operator's own status writes trigger nothing")
	annotated := withAnnotation(old.DeepCopy(), mxv1alpha1.AggregateRequestedAtAnnotation, "1")
	g.Expect(p.Update(updateEvent(old, annotated))).To(BeTrue(), "a request annotation does")
	otherAnnotation := withAnnotation(old.DeepCopy(), "example.com/note", "1")
	g.Expect(p.Update(updateEvent(old, otherAnnotation))).To(BeFalse(), "other annotations do not")
	spec := old.DeepCopy()
	spec.Generation = 2
	g.Expect(p.Update(updateEvent(old, spec))).To(BeTrue(), "a spec change does")
	noFinalizer := old.DeepCopy()
	noFinalizer.Finalizers = nil
	g.Expect(p.Update(updateEvent(noFinalizer, old))).To(BeTrue(), "adding the finalizer does")
}
