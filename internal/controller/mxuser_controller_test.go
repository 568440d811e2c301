package controller

import (
	"context"
	"net/http"
	"strings"
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
	return &mx.User{GUID: testUserGUID, ID: "mxop:team-a/alice", Email: "alice@example.com", Metadata: "m"}
}

func TestMXUserReconcile(t *testing.T) {
	inSync := expect{ready: metav1.ConditionTrue, reason: mxv1alpha1.ReasonSucceeded, requeueMin: resyncMin, requeueMax: resyncMax}
	with := func(o expect, calls ...string) expect { o.calls = calls; return o }
	syncedUser := func(mutate func(*mxv1alpha1.MXUser)) *mxv1alpha1.MXUser {
		u := readyUser()
		u.Spec = newUser().Spec
		u.Status.AppliedSettings = settingsHash(desiredUserSettings(u.Spec, u.Status.ID))
		if mutate != nil {
			mutate(u)
		}
		return u
	}
	cases := []struct {
		reason string
		user   *mxv1alpha1.MXUser
		mx     func(*fakeMX)
		want   expect
		check  func(g Gomega, u *mxv1alpha1.MXUser, events []string)
	}{
		{
			reason: "a new user is created from the spec without a lookup first (the floor: one call)",
			user:   newUser(),
			mx: func(f *fakeMX) {
				f.createUser = func(req mx.CreateUserRequest) (*mx.User, error) {
					if req.ID != "mxop:team-a/alice" || req.Email != "alice@example.com" || req.Metadata != "m" {
						return nil, apiError(http.StatusBadRequest, "unexpected request")
					}
					return mxUser(), nil
				}
			},
			want: with(inSync, "CreateUser"),
			check: func(g Gomega, u *mxv1alpha1.MXUser, events []string) {
				g.Expect(u.Status.GUID).To(Equal(testUserGUID))
				g.Expect(u.Status.ID).To(Equal("mxop:team-a/alice"))
				g.Expect(u.Status.LastReadAt.Time).To(BeTemporally("==", testNow))
				g.Expect(events).To(BeEmpty(), "a create is routine progress: no event (each is an API write)")
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
				f.createUser = func(req mx.CreateUserRequest) (*mx.User, error) {
					if req.ID != "customer-1001" {
						return nil, apiError(http.StatusBadRequest, "id")
					}
					u := mxUser()
					u.ID = req.ID
					return u, nil
				}
			},
			want: with(inSync, "CreateUser"),
		},
		{
			reason: "a user found by partner id after a 409 is adopted, and its drift corrected",
			user:   newUser(),
			mx: func(f *fakeMX) {
				f.createUser = func(mx.CreateUserRequest) (*mx.User, error) { return nil, apiError(http.StatusConflict, "exists") }
				f.findUserByID = func(string) (*mx.User, error) {
					u := mxUser()
					u.Email = "old@example.com"
					return u, nil
				}
				f.updateUser = func(_ string, req mx.UpdateUserRequest) (*mx.User, error) {
					if req.Email == nil || *req.Email != "alice@example.com" || req.ID == nil || *req.ID != "mxop:team-a/alice" {
						return nil, apiError(http.StatusBadRequest, "the spec, id included")
					}
					return mxUser(), nil
				}
			},
			want: with(inSync, "CreateUser", "FindUserByID", "UpdateUser"),
			check: func(g Gomega, _ *mxv1alpha1.MXUser, events []string) {
				g.Expect(events).To(ContainElement(ContainSubstring("Adopted MX user USR-1")))
			},
		},
		{
			reason: "a 409 on create (a create whose answer was lost) is resolved by adopting",
			user:   newUser(),
			mx: func(f *fakeMX) {
				f.findUserByID = func(string) (*mx.User, error) { return mxUser(), nil }
				f.createUser = func(mx.CreateUserRequest) (*mx.User, error) { return nil, apiError(http.StatusConflict, "exists") }
			},
			want: with(inSync, "CreateUser", "FindUserByID"),
		},
		{
			reason: "a 409 with no user to adopt is Stalled (Duplicate)",
			user:   newUser(),
			mx: func(f *fakeMX) {
				f.findUserByID = func(string) (*mx.User, error) { return nil, notFound() }
				f.createUser = func(mx.CreateUserRequest) (*mx.User, error) { return nil, apiError(http.StatusConflict, "exists") }
			},
			want: expect{calls: []string{"CreateUser", "FindUserByID"}, ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonDuplicate, stalled: true},
		},
		{
			reason: "a user in sync costs no MX call when reconciled again or after a restart",
			user:   syncedUser(nil),
			want:   expect{ready: metav1.ConditionTrue, reason: mxv1alpha1.ReasonSucceeded, requeueMin: resyncMin - time.Hour, requeueMax: resyncMax - time.Hour},
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
			want: expect{calls: []string{"GetUser"}, ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonGoneInMX, stalled: true},
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
				f.createUser = func(mx.CreateUserRequest) (*mx.User, error) {
					return nil, apiError(http.StatusUnauthorized, "not valid")
				}
			},
			want: expect{calls: []string{"CreateUser"}, ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonMXUnauthorized, stalled: true, requeueMin: 15 * time.Minute, requeueMax: 15 * time.Minute},
		},
		{
			reason: "spec.id set on a user created without it is sent to MX at once, not on the resync",
			user: syncedUser(func(u *mxv1alpha1.MXUser) {
				u.Generation = 2
				u.Spec.ID = "customer-7"
			}),
			mx: func(f *fakeMX) {
				f.updateUser = func(_ string, req mx.UpdateUserRequest) (*mx.User, error) {
					if req.ID == nil || *req.ID != "customer-7" {
						return nil, apiError(http.StatusBadRequest, "id")
					}
					u := mxUser()
					u.ID = "customer-7"
					return u, nil
				}
			},
			want: with(inSync, "UpdateUser"),
			check: func(g Gomega, u *mxv1alpha1.MXUser, _ []string) {
				g.Expect(u.Status.ID).To(Equal("customer-7"))
				g.Expect(u.Status.ObservedGeneration).To(Equal(int64(2)))
			},
		},
		{
			reason: "a spec change answered 429 keeps observedGeneration behind; it is still sent on the retry",
			user: syncedUser(func(u *mxv1alpha1.MXUser) {
				u.Generation = 2
				u.Spec.Email = "new@example.com"
			}),
			mx: func(f *fakeMX) {
				f.updateUser = func(string, mx.UpdateUserRequest) (*mx.User, error) {
					return nil, apiError(http.StatusTooManyRequests, "slow down")
				}
			},
			want: expect{calls: []string{"UpdateUser"}, ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonMXRateLimited, reconciling: true, requeueMin: time.Second, requeueMax: time.Second},
			check: func(g Gomega, u *mxv1alpha1.MXUser, _ []string) {
				g.Expect(u.Status.ObservedGeneration).To(Equal(int64(1)), "the status does not describe generation 2 yet")
				g.Expect(u.Status.AppliedSettings).To(Equal(settingsHash(desiredUserSettings(newUser().Spec, "mxop:team-a/alice"))), "what MX holds is unchanged")
			},
		},
		{
			reason: "a suspended user makes no MX call",
			user:   func() *mxv1alpha1.MXUser { u := newUser(); u.Spec.Suspend = true; return u }(),
			want:   expect{ready: metav1.ConditionFalse, reason: mxv1alpha1.ReasonSuspended},
		},
		{
			reason: "a user unsuspended after a spec change is updated",
			user: syncedUser(func(u *mxv1alpha1.MXUser) {
				setSuspended(&u.Status.Conditions, 1, testNow, "Suspended")
				u.Spec.Email = "changed-while-suspended@example.com"
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
		{"deletionPolicy Delete deletes the user in MX once it holds no members", mxv1alpha1.DeletionPolicyDelete, nil, []string{"ListMembers", "DeleteUser"}},
		{"a user already gone (404) counts as deleted", mxv1alpha1.DeletionPolicyDelete, apiError(http.StatusNotFound, "gone"), []string{"ListMembers", "DeleteUser"}},
		{"deletionPolicy Orphan leaves the user in MX", mxv1alpha1.DeletionPolicyOrphan, nil, nil},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			c := newFakeClient(deleting(tc.policy))
			f := &fakeMX{deleteUser: func(string) error { return tc.err }, listMembers: func(string) ([]mx.Member, error) { return nil, nil }}
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
	g.Expect(effectivePartnerID("given", "recorded", "p", "ns", "n")).To(Equal("given"))
	g.Expect(effectivePartnerID("", "recorded", "p", "ns", "n")).To(Equal("recorded"), "an object keeps the id it recorded (no re-creation on upgrade)")
	g.Expect(effectivePartnerID("", "", "p", "ns", "n")).To(Equal("p:ns/n"))
	g.Expect(derivedPartnerID("", "ns", "n")).To(Equal("mxop:ns/n"))

	g.Expect(derivedPartnerID("mxop", "team", "x-prod")).NotTo(Equal(derivedPartnerID("mxop", "team-x", "prod")), "namespace and name cannot trade characters")
	g.Expect(derivedPartnerID("a-b", "c", "d")).NotTo(Equal(derivedPartnerID("a", "b-c", "d")), "prefixes of other clusters cannot collide")
	g.Expect(derivedPartnerID("a", "b", "c.d")).NotTo(Equal(derivedPartnerID("a", "b.c", "d")))

	name := strings.Repeat("n", 300)
	long := derivedPartnerID("mxop", "ns", name)
	g.Expect(len(long)).To(BeNumerically("<=", maxPartnerIDLen), "a derived id fits MX's limit")
	g.Expect(long).To(HavePrefix("mxop:sha256:"))
	g.Expect(long).NotTo(ContainSubstring("/"), "so it never equals a short derived id")
	g.Expect(derivedPartnerID("mxop", "ns", name)).To(Equal(long), "and stays stable")
	g.Expect(derivedPartnerID("mxop", "ns", name+"n")).NotTo(Equal(long), "and unique")
	g.Expect(derivedPartnerID("mxop", "ns", "n"+name)).NotTo(Equal(long), "over the whole id, not a cut prefix")
}

func TestOwner(t *testing.T) {
	g := NewWithT(t)
	at := func(name string, sec int, guid string) *mxv1alpha1.MXMember {
		m := &mxv1alpha1.MXMember{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, CreationTimestamp: metav1.NewTime(testNow.Add(time.Duration(sec) * time.Second))}}
		m.Status.ID, m.Status.GUID = "p", guid
		return m
	}
	ident := memberKind.claims.ident
	g.Expect(owner([]*mxv1alpha1.MXMember{at("b", 0, ""), at("a", 1, "")}, ident, "p", "").Name).To(Equal("b"), "the oldest claim wins")
	g.Expect(owner([]*mxv1alpha1.MXMember{at("b", 0, ""), at("a", 0, "")}, ident, "p", "").Name).To(Equal("a"), "then the name, so every process decides alike")
	g.Expect(owner([]*mxv1alpha1.MXMember{at("b", 0, ""), at("c", 5, "G")}, ident, "p", "").Name).To(Equal("c"), "an object that has the MX object recorded owns it")
	g.Expect(owner([]*mxv1alpha1.MXMember{at("b", 0, "H"), at("c", 5, "G")}, ident, "p", "G").Name).To(Equal("c"), "by guid when the guid is known")
	g.Expect(owner([]*mxv1alpha1.MXMember{}, ident, "p", "")).To(BeNil())
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
	g.Expect(p.Update(updateEvent(noFinalizer, old))).To(BeFalse(), "adding the finalizer is the reconcile's own write: no second pass")
	g.Expect(p.Update(updateEvent(old, noFinalizer))).To(BeTrue(), "removing it does: it is put back")
	deleting := old.DeepCopy()
	now := metav1.NewTime(testNow)
	deleting.DeletionTimestamp = &now
	g.Expect(p.Update(updateEvent(old, deleting))).To(BeTrue(), "a deletion does")
}

func TestMXUserDeleteLeavesNoSurprises(t *testing.T) {
	deleting := func(mutate func(*mxv1alpha1.MXUser)) *mxv1alpha1.MXUser {
		u := readyUser()
		now := metav1.NewTime(testNow)
		u.DeletionTimestamp = &now
		mutate(u)
		return u
	}
	unmanaged := func(string) ([]mx.Member, error) {
		return []mx.Member{{GUID: "MBR-7", ID: "made-elsewhere", InstitutionCode: "mxbank"}}, nil
	}
	t.Run("MX members no MXMember manages stall the deletion, named, with a Warning, until confirmed", func(t *testing.T) {
		g := NewWithT(t)
		c := newFakeClient(deleting(func(*mxv1alpha1.MXUser) {}))
		f := &fakeMX{listMembers: unmanaged}
		r, rec := newUserReconciler(c, f)
		_, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: key(readyUser())})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(f.Calls()).To(Equal([]string{"ListMembers"}), "nothing deleted")
		got := &mxv1alpha1.MXUser{}
		g.Expect(c.Get(context.Background(), key(readyUser()), got)).To(Succeed())
		cond := meta.FindStatusCondition(got.Status.Conditions, mxv1alpha1.StalledCondition)
		g.Expect(cond.Reason).To(Equal(mxv1alpha1.ReasonUnmanagedMembers))
		g.Expect(cond.Message).To(ContainSubstring(`MBR-7 (partner id "made-elsewhere", mxbank)`))
		g.Expect(cond.Message).To(ContainSubstring(mxv1alpha1.ConfirmDeleteUnmanagedMembersAnnotation + "=true"))
		g.Expect(drain(rec)).To(ConsistOf(HavePrefix("Warning UnmanagedMembers")))
	})
	t.Run("the confirmation annotation lets MX delete them with the user", func(t *testing.T) {
		g := NewWithT(t)
		c := newFakeClient(deleting(func(u *mxv1alpha1.MXUser) {
			u.Annotations = map[string]string{mxv1alpha1.ConfirmDeleteUnmanagedMembersAnnotation: "true"}
		}))
		f := &fakeMX{listMembers: unmanaged, deleteUser: func(string) error { return nil }}
		r, _ := newUserReconciler(c, f)
		_, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: key(readyUser())})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(f.Calls()).To(Equal([]string{"DeleteUser"}))
	})
	t.Run("a user whose create may have reached MX (no guid recorded) is looked up and deleted", func(t *testing.T) {
		g := NewWithT(t)
		c := newFakeClient(deleting(func(u *mxv1alpha1.MXUser) { u.Status.GUID, u.Status.ID = "", "" }))
		f := &fakeMX{
			findUserByID: func(id string) (*mx.User, error) {
				if id != "mxop:team-a/alice" {
					return nil, notFound()
				}
				return mxUser(), nil
			},
			listMembers: func(string) ([]mx.Member, error) { return nil, nil },
			deleteUser:  func(string) error { return nil },
		}
		r, _ := newUserReconciler(c, f)
		_, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: key(readyUser())})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(f.Calls()).To(Equal([]string{"FindUserByID", "ListMembers", "DeleteUser"}))
	})
	t.Run("a user that does not own its MX user is released without any MX call", func(t *testing.T) {
		g := NewWithT(t)
		owner := readyUser()
		owner.Name, owner.UID = "first", "uid-first"
		owner.CreationTimestamp = metav1.NewTime(testNow.Add(-time.Hour))
		second := deleting(func(u *mxv1alpha1.MXUser) {
			u.Spec.ID = owner.Status.ID
			u.Status.GUID, u.Status.ID = "", ""
		})
		c := newFakeClient(owner, second)
		f := &fakeMX{}
		r, _ := newUserReconciler(c, f)
		_, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: key(second)})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(f.Calls()).To(BeEmpty())
		g.Expect(c.Get(context.Background(), key(second), &mxv1alpha1.MXUser{})).NotTo(Succeed(), "released and gone")
	})
}
