package controller

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
)

// verdict is the condition a connection status sets.
type verdict int

const (
	verdictReady verdict = iota
	verdictReconciling
	verdictStalled
)

// String is the condition type the verdict sets to True.
func (v verdict) String() string {
	switch v {
	case verdictReady:
		return mxv1alpha1.ReadyCondition
	case verdictReconciling:
		return mxv1alpha1.ReconcilingCondition
	}
	return mxv1alpha1.StalledCondition
}

// readCadence is when a member in a connection status is read from MX again.
type readCadence int

const (
	// readPoll: MX is working; the delay grows with the time since the job started
	// (Timing.pollDelay of the time since aggregated_at).
	readPoll readCadence = iota
	// readRetryLater: MX is failing at its end, or has not started; Timing.RetryLaterInterval.
	readRetryLater
	// readResync: nothing to follow; the long jittered resync.
	readResync
	// readOAuth: PENDING until the end user authorises; a growing delay
	// (Timing.oauthPollDelay) for the hour MX keeps such a member, or once at that hour when the
	// webhook receiver reports authorisations.
	readOAuth
)

// statusRule is how the operator treats one connection status: the condition and reason it
// shows, when it reads the member again, and the type of event a transition into it emits
// ("" for none: routine progress is not news; Stalled reasons get their Warning from finish).
type statusRule struct {
	verdict verdict
	reason  string
	read    readCadence
	event   string
}

// statusRules is the one classification of MX's connection statuses (MX-API.md §5). Each row
// holds the rule while MX runs a job on the member (busy) and while it does not (idle). The
// conditions table of the README mirrors it; TestStatusRulesMatchTheREADME proves they agree.
var statusRules = map[mx.ConnectionStatus]struct{ busy, idle statusRule }{
	mx.StatusCreated:     {busy: aggregating, idle: notStarted},
	mx.StatusUpdated:     {busy: aggregating, idle: notStarted},
	mx.StatusDelayed:     {busy: aggregating, idle: notStarted},
	mx.StatusReconnected: {busy: aggregating, idle: notStarted},
	mx.StatusResumed:     {busy: aggregating, idle: aggregating},
	mx.StatusConnected:   {busy: aggregating, idle: statusRule{verdictReady, mxv1alpha1.ReasonSucceeded, readResync, ""}},

	mx.StatusDenied:     needsUser("Denied"),
	mx.StatusPrevented:  needsUser("Prevented"),
	mx.StatusImported:   needsUser("Imported"),
	mx.StatusImpaired:   needsUser("Impaired"),
	mx.StatusExpired:    needsUser("Expired"),
	mx.StatusChallenged: terminal("Challenged"), // MX's job waits for the answers
	mx.StatusRejected:   needsUser("Rejected"),
	mx.StatusLocked:     needsUser("Locked"),
	mx.StatusImpeded:    needsUser("Impeded"),
	mx.StatusPending: {
		busy: statusRule{verdictStalled, "Pending", readOAuth, corev1.EventTypeWarning},
		idle: statusRule{verdictStalled, "Pending", readOAuth, corev1.EventTypeWarning},
	},

	mx.StatusFailed:       retryLater,
	mx.StatusDegraded:     retryLater,
	mx.StatusDisconnected: retryLater,

	mx.StatusDiscontinued: terminal("Discontinued"),
	mx.StatusClosed:       terminal("Closed"),
	mx.StatusDisabled:     terminal("Disabled"),
}

var (
	aggregating = statusRule{verdictReconciling, mxv1alpha1.ReasonAggregating, readPoll, ""}
	notStarted  = statusRule{verdictReconciling, mxv1alpha1.ReasonProgressing, readRetryLater, ""}
	retryLater  = struct{ busy, idle statusRule }{
		busy: statusRule{verdictReconciling, mxv1alpha1.ReasonRetryLater, readRetryLater, corev1.EventTypeWarning},
		idle: statusRule{verdictReconciling, mxv1alpha1.ReasonRetryLater, readRetryLater, corev1.EventTypeWarning},
	}
)

// needsUser is the row of a status only a person can get past (the end user, MX support, or a
// delete): Stalled with the status as reason, read again only on the resync. While MX runs a job
// on such a member (after new credentials or a requested aggregation, before the status moves)
// the member is followed as aggregating.
func needsUser(reason string) struct{ busy, idle statusRule } {
	r := statusRule{verdictStalled, reason, readResync, corev1.EventTypeWarning}
	return struct{ busy, idle statusRule }{busy: aggregating, idle: r}
}

// terminal is the row of a status MX will not move out of, job or not.
func terminal(reason string) struct{ busy, idle statusRule } {
	r := statusRule{verdictStalled, reason, readResync, corev1.EventTypeWarning}
	return struct{ busy, idle statusRule }{busy: r, idle: r}
}

// ruleFor returns the rule of a member's connection status. A status this operator does not
// know (one MX added later) is treated as RetryLater: neither success nor something a person
// could be told to fix. The null status of a member MX has not processed is not started.
func ruleFor(status mx.ConnectionStatus, busy bool) statusRule {
	row, ok := statusRules[status]
	switch {
	case status == mx.StatusNone && busy:
		return aggregating
	case status == mx.StatusNone:
		return notStarted
	case !ok:
		return retryLater.idle
	case busy:
		return row.busy
	}
	return row.idle
}

// memberRule returns the rule of the member's recorded state.
func memberRule(st mxv1alpha1.MXMemberStatus) statusRule {
	return ruleFor(mx.ConnectionStatus(st.ConnectionStatus), st.IsBeingAggregated)
}

// statusMessage returns MX's end-user message for the member, or a neutral description when MX
// sent none, as one sentence ending with a period.
func statusMessage(m *mxv1alpha1.MXMember) string {
	msg := strings.TrimSpace(m.Status.ConnectionStatusMessage)
	if msg == "" {
		return fmt.Sprintf("MX reports the connection status %s.", m.Status.ConnectionStatus)
	}
	if !strings.HasSuffix(msg, ".") && !strings.HasSuffix(msg, "!") && !strings.HasSuffix(msg, "?") {
		msg += "."
	}
	return msg
}

// endUserAdvice says what a person does for a member in a status only a person can get past.
// Every piece of advice is one the operator acts on (its stories prove each). Where the end user
// can fix the member in MX's Connect widget, the widget way is offered too (the only one for a
// widget member, which has no credentials Secret).
func endUserAdvice(m *mxv1alpha1.MXMember, s mx.ConnectionStatus) string {
	advice := personAdvice(m, s)
	if repairable(s) {
		advice = joinSentences(advice, repairAdvice(m))
	}
	return advice
}

// repairable reports whether the end user can get a member out of status s in the Connect
// widget (opened on the member with current_member_guid).
func repairable(s mx.ConnectionStatus) bool {
	switch s {
	case mx.StatusDenied, mx.StatusPrevented, mx.StatusImpaired, mx.StatusImported, mx.StatusExpired,
		mx.StatusChallenged, mx.StatusRejected, mx.StatusLocked, mx.StatusImpeded:
		return true
	}
	return false
}

// personAdvice is what a person does outside the widget.
func personAdvice(m *mxv1alpha1.MXMember, s mx.ConnectionStatus) string {
	widget := m.Spec.ConnectWidget != nil
	secret := "the credentials Secret"
	if ref := m.Spec.CredentialsSecretRef; ref != nil {
		secret = fmt.Sprintf("Secret %q", ref.Name)
	}
	aggregate := fmt.Sprintf("set the annotation %s to a new value", mxv1alpha1.AggregateRequestedAtAnnotation)
	switch s {
	case mx.StatusDenied, mx.StatusPrevented, mx.StatusImpaired, mx.StatusImported:
		if widget {
			return ""
		}
		return fmt.Sprintf("Put the end user's correct credentials into %s; the operator sends them to MX when the Secret's data changes.", secret)
	case mx.StatusChallenged:
		if m.Spec.MFA == nil || m.Spec.MFA.AnswersSecretRef == nil {
			return "Set spec.mfa.answersSecretRef to a Secret whose keys are the guids in status.challenges and whose values are the answers."
		}
		return fmt.Sprintf("Write the answers into Secret %q, one key per guid in status.challenges; the operator answers once every challenge has one.", m.Spec.MFA.AnswersSecretRef.Name)
	case mx.StatusRejected:
		if m.Spec.MFA == nil || m.Spec.MFA.AnswersSecretRef == nil {
			return fmt.Sprintf("To try again, %s: MX then asks new challenges.", aggregate)
		}
		return fmt.Sprintf("To try again, change Secret %q (for example, remove the wrong answers): the operator then asks MX for a new aggregation, and MX asks new challenges, listed in status.challenges.", m.Spec.MFA.AnswersSecretRef.Name)
	case mx.StatusExpired:
		if widget {
			return fmt.Sprintf("To try again, %s (MX then asks new challenges).", aggregate)
		}
		return fmt.Sprintf("To try again, %s (MX then asks new challenges) or update the data of %s.", aggregate, secret)
	case mx.StatusLocked, mx.StatusImpeded:
		return fmt.Sprintf("The end user must act on the institution's website; then %s.", aggregate)
	case mx.StatusPending:
		return fmt.Sprintf("The end user must open the OAuth window URL in Secret %q (key %s) and authorise the connection at the institution within the hour MX keeps the member; the operator follows it to CONNECTED. For a fresh URL, set the annotation %s to a new value.",
			urlSecretName(m), urlSecretKeyURL, mxv1alpha1.URLRequestedAtAnnotation)
	case mx.StatusDisabled:
		return "Aggregation is disabled for this member in MX; MX support can enable it again."
	case mx.StatusDiscontinued, mx.StatusClosed:
		return "MX will not aggregate this member again; delete this MXMember."
	}
	return fmt.Sprintf("The end user must act; then %s.", aggregate)
}
