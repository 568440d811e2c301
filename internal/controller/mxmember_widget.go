package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
)

// Widget members (spec.connectWidget): the end user connects the member in MX's Connect widget,
// so the operator never creates it. It issues a Connect widget URL into the end-user URL Secret,
// then looks for the member the end user created — on MX's webhooks when the receiver is on,
// else by listing the user's members with a growing delay for the hour after the URL was
// issued — and adopts it:
//
//   - a member carrying this MXMember's partner id is its own (an earlier adoption's PUT reached
//     MX, whatever happened to its answer): recorded, no second PUT;
//   - else a member without a partner id, at spec.institutionCode, that no other MXMember claims:
//     `PUT member` with the partner id (and the settings) first, so that a crash before the status
//     write still finds it by partner id, then recorded. When several widget MXMembers of the
//     same user and institution wait, the oldest adopts first (the ownership order of
//     identity.go), so two never take the same member.
//
// A member at another institution, or one another MXMember owns, is never adopted; the
// condition says what the end user did. From the adoption on it is followed like any member.

// reconcileWidget gets a widget member that has no MX member yet to the point where it has one:
// it issues the first URL, finds and adopts what the end user connected, and otherwise stalls
// (AwaitingEndUser) saying where the URL is.
func (r *MXMemberReconciler) reconcileWidget(ctx context.Context, s *memberScope) outcome {
	st := &s.member.Status
	if s.member.Spec.ConnectWidget == nil || st.GUID != "" {
		return proceed()
	}
	if _, out := r.institutionFields(ctx, s); out.done() {
		return out
	}
	note := ""
	if r.discoveryDue(s) {
		members, err := r.MX.ListMembers(ctx, s.userGUID)
		if mx.IsNotFound(err) {
			r.userMayBeGone(ctx, s)
			return waiting(r.Timing.WaitingRetryInterval, mxv1alpha1.ReasonUserNotReady, fmt.Sprintf(
				"MX does not know user %s of MXUser %q; the MXUser is read again.", s.userGUID, s.member.Spec.UserRef.Name))
		}
		if err != nil {
			return r.Timing.mxOutcome("listing the user's members", err)
		}
		r.mem.readDone(s.key, s.hints)
		if s.reconcileRequest != "" {
			st.LastHandledReconcileAt = s.reconcileRequest
		}
		found, what, err := r.pickWidgetMember(ctx, s, members)
		if err != nil {
			return apiFailure(err)
		}
		if found != nil {
			return r.adoptWidgetMember(ctx, s, found)
		}
		note = what
		r.mem.scheduleRead(s.member.UID, s.now.Add(r.discoveryInterval(s)))
	}
	u := st.EndUserURL
	switch {
	case u == nil || s.urlRequest != "":
		if out := r.issueWidgetURL(ctx, s, s.userGUID, ""); out.done() {
			return out
		}
		r.mem.scheduleRead(s.member.UID, s.now.Add(r.discoveryInterval(s)))
	case urlExpired(u, s.now):
		if out := r.retractURL(ctx, s); out.done() {
			return out
		}
	}
	return r.awaitingEndUser(s, note)
}

// discoveryDue reports whether the user's members should be listed now: MX reported a change
// (webhook), a person asked (reconcile-requested-at), the growing delay after the URL was
// issued has passed (only without webhooks, and only for the hour after), or — after a restart,
// when nothing is scheduled — a URL was issued within that hour.
func (r *MXMemberReconciler) discoveryDue(s *memberScope) bool {
	if s.hints > 0 || s.reconcileRequest != "" {
		return true
	}
	u := s.member.Status.EndUserURL
	if u == nil || u.Kind != mxv1alpha1.EndUserURLConnectWidget || !s.now.Before(u.IssuedAt.Add(endUserSession)) {
		return false
	}
	at, scheduled := r.mem.readAt(s.member.UID)
	if !scheduled {
		return true
	}
	return !r.WebhooksEnabled && !s.now.Before(at)
}

// discoveryInterval is the wait before the next look for what the end user did: growing with
// the time since the URL was issued, as for an OAuth member.
func (r *MXMemberReconciler) discoveryInterval(s *memberScope) time.Duration {
	since := s.now
	if u := s.member.Status.EndUserURL; u != nil {
		since = u.IssuedAt.Time
	}
	return r.Timing.oauthPollDelay(s.now.Sub(since))
}

// pickWidgetMember returns the member of the user this widget member adopts, or nil and a
// sentence on what the end user connected that it does not adopt ("" when nothing).
func (r *MXMemberReconciler) pickWidgetMember(ctx context.Context, s *memberScope, members []mx.Member) (*mx.Member, string, error) {
	code := s.member.Spec.InstitutionCode
	var candidate *mx.Member
	var elsewhere, taken []string
	for i := range members {
		m := &members[i]
		if m.ID == s.partnerID {
			return m, "", nil
		}
		other, err := memberKind.claims.otherOwner(ctx, r.Client, s.member, m.ID, m.GUID)
		if err != nil {
			return nil, "", err
		}
		switch {
		case other != "" && m.InstitutionCode == code:
			taken = append(taken, fmt.Sprintf("%s (MXMember %s)", m.GUID, other))
		case other != "" || m.ID != "":
			// Another MXMember's, or created under a partner id by some other integration.
		case m.InstitutionCode != code:
			elsewhere = append(elsewhere, fmt.Sprintf("%s at %s", m.GUID, m.InstitutionCode))
		case candidate == nil:
			candidate = m
		}
	}
	if candidate != nil {
		first, err := r.firstWaitingSibling(ctx, s)
		if err != nil {
			return nil, "", err
		}
		if first == "" {
			return candidate, "", nil
		}
		taken = append(taken, fmt.Sprintf("%s (MXMember %s, declared earlier for the same user and institution, adopts it first)", candidate.GUID, first))
	}
	var notes []string
	if len(elsewhere) > 0 {
		notes = append(notes, fmt.Sprintf("The end user connected %s, not institution %s; the operator does not adopt a member at another institution (declare an MXMember with spec.connectWidget for that institution to adopt it).",
			namesList(elsewhere, maxListedNames), code))
	}
	if len(taken) > 0 {
		notes = append(notes, fmt.Sprintf("The user's member %s at %s belongs to another MXMember and is not adopted.", namesList(taken, maxListedNames), code))
	}
	return nil, strings.Join(notes, " "), nil
}

// firstWaitingSibling returns "namespace/name" of a widget MXMember of the same user and
// institution, still without an MX member, that comes before this one in the ownership order
// (oldest first), or "" when this one is first.
func (r *MXMemberReconciler) firstWaitingSibling(ctx context.Context, s *memberScope) (string, error) {
	list := &mxv1alpha1.MXMemberList{}
	if err := r.List(ctx, list, client.InNamespace(s.member.Namespace), client.MatchingFields{indexMemberUser: s.member.Spec.UserRef.Name}); err != nil {
		return "", err
	}
	waiting := []*mxv1alpha1.MXMember{s.member}
	for i := range list.Items {
		o := &list.Items[i]
		if o.Name != s.member.Name && o.Spec.ConnectWidget != nil && o.Spec.InstitutionCode == s.member.Spec.InstitutionCode &&
			o.Status.GUID == "" && o.DeletionTimestamp.IsZero() && !o.Spec.Suspend {
			waiting = append(waiting, o)
		}
	}
	first := owner(waiting, memberKind.claims.ident, "", "")
	if first.Name == s.member.Name {
		return "", nil
	}
	return first.Namespace + "/" + first.Name, nil
}

// adoptWidgetMember gives the member the end user connected this MXMember's partner id and
// settings (unless it carries them already) and records it; the URL that led to it was used.
func (r *MXMemberReconciler) adoptWidgetMember(ctx context.Context, s *memberScope, found *mx.Member) outcome {
	st := &s.member.Status
	desired := desiredMemberSettings(s.member.Spec, s.partnerID)
	if found.ID != s.partnerID {
		log.FromContext(ctx).Info("Giving the member the end user connected its partner id", "guid", found.GUID, "partnerID", s.partnerID)
		got, err := r.MX.UpdateMember(ctx, s.userGUID, found.GUID, desired.update())
		switch {
		case mx.IsConflict(err):
			return stalled(mxv1alpha1.ReasonDuplicate, fmt.Sprintf(
				"MX refused to give member %s the partner id %q: another MX member of this client already has it. Delete that member in MX, or give this MXMember another spec.id.", found.GUID, s.partnerID))
		case mx.IsNotFound(err):
			r.mem.scheduleRead(s.member.UID, s.now)
			return waiting(r.Timing.PollInterval, mxv1alpha1.ReasonAwaitingEndUser, fmt.Sprintf("Member %s the end user connected is gone from MX; looking again.", found.GUID))
		case err != nil:
			return r.Timing.mxOutcome("giving the member the end user connected its partner id", err)
		}
		found = got
	}
	st.ID, st.UserGUID = s.partnerID, s.userGUID
	r.Recorder.Eventf(s.member, nil, corev1.EventTypeNormal, eventAdopted, "Adopt", "Adopted MX member %s, which the end user connected in the Connect widget", found.GUID)
	r.recordApplied(s, memberSettings{ID: found.ID, Metadata: found.Metadata, DisableBackgroundAggregation: found.BackgroundAggregationIsDisabled})
	r.observedMember(s, found)
	if u := st.EndUserURL; u != nil && u.Kind == mxv1alpha1.EndUserURLConnectWidget {
		return r.retractURL(ctx, s)
	}
	return proceed()
}

// awaitingEndUser is the outcome of a widget member the end user has not connected yet:
// Stalled (AwaitingEndUser), saying where the URL is or how to get a fresh one, and what the
// end user did that was not adopted; reconciled again when the next look or the URL's expiry is
// due.
func (r *MXMemberReconciler) awaitingEndUser(s *memberScope, note string) outcome {
	st := s.member.Status
	msg := "The end user has not connected this member in MX's Connect widget yet."
	if where := urlAdvice(s.member, s.now); where != "" {
		msg += " " + where
	} else {
		msg += fmt.Sprintf(" No URL is available (it expired or was used): set the annotation %s to a new value for a fresh one in Secret %q.",
			mxv1alpha1.URLRequestedAtAnnotation, urlSecretName(s.member))
	}
	if note != "" {
		msg += " " + note
	}
	wake := time.Duration(0)
	if at, ok := r.mem.readAt(s.member.UID); ok && !r.WebhooksEnabled && st.EndUserURL != nil && at.Before(st.EndUserURL.IssuedAt.Add(endUserSession)) {
		wake = at.Sub(s.now)
	}
	if u := st.EndUserURL; u != nil && u.Available && u.ExpiresAt != nil && (wake == 0 || u.ExpiresAt.Sub(s.now) < wake) {
		wake = u.ExpiresAt.Sub(s.now)
	}
	if wake != 0 {
		wake = max(wake, time.Second)
	}
	return stalled(mxv1alpha1.ReasonAwaitingEndUser, msg).retryAfter(wake)
}
