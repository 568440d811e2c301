package controller

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
)

// kind is what the skeleton both reconcilers share knows about one of MXUser and MXMember: how
// to make one, how to reach its status, and how to find the objects that claim an MX object.
type kind[O client.Object, L client.ObjectList, S any] struct {
	// name is the kind ("MXMember"); mxObject what its MX object is called ("member").
	name, mxObject string
	newObject      func() O
	status         statusAccess[O, S]
	claims         claims[O, L]
}

var memberKind = kind[*mxv1alpha1.MXMember, *mxv1alpha1.MXMemberList, mxv1alpha1.MXMemberStatus]{
	name: "MXMember", mxObject: "member",
	newObject: func() *mxv1alpha1.MXMember { return &mxv1alpha1.MXMember{} },
	status: statusAccess[*mxv1alpha1.MXMember, mxv1alpha1.MXMemberStatus]{
		status:             func(m *mxv1alpha1.MXMember) *mxv1alpha1.MXMemberStatus { return &m.Status },
		conditions:         func(m *mxv1alpha1.MXMember) *[]metav1.Condition { return &m.Status.Conditions },
		observedGeneration: func(m *mxv1alpha1.MXMember) *int64 { return &m.Status.ObservedGeneration },
	},
	claims: claims[*mxv1alpha1.MXMember, *mxv1alpha1.MXMemberList]{
		list: func() *mxv1alpha1.MXMemberList { return &mxv1alpha1.MXMemberList{} },
		items: func(l *mxv1alpha1.MXMemberList) []*mxv1alpha1.MXMember {
			out := make([]*mxv1alpha1.MXMember, len(l.Items))
			for i := range l.Items {
				out[i] = &l.Items[i]
			}
			return out
		},
		ident: func(m *mxv1alpha1.MXMember) (string, string) { return m.Status.ID, m.Status.GUID },
	},
}

var userKind = kind[*mxv1alpha1.MXUser, *mxv1alpha1.MXUserList, mxv1alpha1.MXUserStatus]{
	name: "MXUser", mxObject: "user",
	newObject: func() *mxv1alpha1.MXUser { return &mxv1alpha1.MXUser{} },
	status: statusAccess[*mxv1alpha1.MXUser, mxv1alpha1.MXUserStatus]{
		status:             func(u *mxv1alpha1.MXUser) *mxv1alpha1.MXUserStatus { return &u.Status },
		conditions:         func(u *mxv1alpha1.MXUser) *[]metav1.Condition { return &u.Status.Conditions },
		observedGeneration: func(u *mxv1alpha1.MXUser) *int64 { return &u.Status.ObservedGeneration },
	},
	claims: claims[*mxv1alpha1.MXUser, *mxv1alpha1.MXUserList]{
		list: func() *mxv1alpha1.MXUserList { return &mxv1alpha1.MXUserList{} },
		items: func(l *mxv1alpha1.MXUserList) []*mxv1alpha1.MXUser {
			out := make([]*mxv1alpha1.MXUser, len(l.Items))
			for i := range l.Items {
				out[i] = &l.Items[i]
			}
			return out
		},
		ident: func(u *mxv1alpha1.MXUser) (string, string) { return u.Status.ID, u.Status.GUID },
	},
}

// reconcile is the skeleton of both reconcilers: fetch the object, make sure the finalizer is on
// it (the same pass goes on), run the phases (run returns their outcome, and a report, asked
// after them, of whether the current spec is applied), and hand the outcome to finish.
func (k kind[O, L, S]) reconcile(ctx context.Context, c client.Client, rec events.EventRecorder, mem *memo, t Timing, key types.NamespacedName, now time.Time, run func(O) (outcome, func() bool)) (ctrl.Result, error) {
	obj := k.newObject()
	if err := c.Get(ctx, key, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.GetDeletionTimestamp().IsZero() && !controllerutil.ContainsFinalizer(obj, mxv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	if _, err := ensureFinalizer(ctx, c, obj); err != nil {
		return conflictRequeue(err)
	}
	base := obj.DeepCopyObject().(O)
	out, applied := run(obj)
	switch out.kind {
	case kindRefused:
		out.after = t.refusalDelay(obj.GetUID(), mem.refused(obj.GetUID()), out.after)
	case kindFailed:
	default:
		mem.answered(obj.GetUID())
	}
	if out.deferWrite {
		mem.deferStatus(obj.GetUID(), *k.status.status(obj))
	}
	return finish(ctx, c, rec, k.status, base, obj, out, applied(), now)
}

// ownership stalls (AlreadyManaged), without any MX call, an object whose partner id or guid
// another object of its kind owns anywhere in the cluster (identity.go); it proceeds by itself
// once the other goes away.
func (k kind[O, L, S]) ownership(ctx context.Context, c client.Reader, self O, partnerID, guid string) outcome {
	other, err := k.claims.otherOwner(ctx, c, self, partnerID, guid)
	if err != nil {
		return apiFailure(err)
	}
	if other == "" {
		return proceed()
	}
	return stalled(mxv1alpha1.ReasonAlreadyManaged, fmt.Sprintf(
		"%s %s already manages the MX %s with partner id %q; this object makes no MX calls, and deleting it leaves that MX %s alone. Give this %s another spec.id, or delete it.",
		k.name, other, k.mxObject, partnerID, k.mxObject, k.name))
}

// wakeWaitingOnMX enqueues on ch, from a goroutine so that it never blocks, every object of the
// kind whose Ready reason says it waits for MX (MXRateLimited, MXUnavailable).
func (k kind[O, L, S]) wakeWaitingOnMX(ctx context.Context, c client.Reader, ch chan<- event.GenericEvent) {
	if ch == nil {
		return
	}
	list := k.claims.list()
	if err := c.List(ctx, list); err != nil {
		log.FromContext(ctx).Error(err, "Listing the objects waiting for MX", "kind", k.name)
		return
	}
	var waiting []event.GenericEvent
	for _, o := range k.claims.items(list) {
		if reason := readyReason(*k.status.conditions(o)); reason == mxv1alpha1.ReasonMXRateLimited || reason == mxv1alpha1.ReasonMXUnavailable {
			waiting = append(waiting, event.GenericEvent{Object: o})
		}
	}
	go func() {
		for _, e := range waiting {
			select {
			case ch <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
}
