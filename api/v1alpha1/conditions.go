package v1alpha1

// Condition types. They follow the kstatus convention that Flux, Argo CD and
// sigs.k8s.io/cli-utils understand:
//
//   - Ready has normal polarity: True means the MX object exists and matches the spec (for an
//     MXMember: CONNECTED and not aggregating). It is always present once the operator has seen
//     the object.
//   - Reconciling and Stalled have abnormal-true polarity: they are present only while True and
//     removed otherwise. Reconciling=True means the operator (or MX) is still working and will
//     come back by itself; Stalled=True means progress needs a person: fix the spec or a Secret,
//     or have the end user act.
//
// status.observedGeneration equals metadata.generation once a reconcile of that generation
// finished, so a GitOps tool can tell a stale status from a current one.
const (
	// ReadyCondition is True when the object is in the state the spec asks for.
	ReadyCondition = "Ready"
	// ReconcilingCondition is True while progress is being made without a person's help.
	ReconcilingCondition = "Reconciling"
	// StalledCondition is True when progress needs a person; its reason says why.
	StalledCondition = "Stalled"
	// SuspendedCondition is True while spec.suspend is true and removed otherwise. While
	// suspended the operator makes no MX calls; Ready and Stalled keep their last values (as
	// Cluster API does for paused objects), so a converged object stays healthy for kstatus,
	// Flux and Argo CD, and Reconciling is removed because nothing progresses.
	SuspendedCondition = "Suspended"
)

// Condition reasons shared by MXUser and MXMember. Reasons are stable CamelCase identifiers;
// the condition message explains the situation to a person.
const (
	// ReasonSucceeded: the object exists in MX and matches the spec.
	ReasonSucceeded = "Succeeded"
	// ReasonProgressing: the operator is creating, updating or reading the MX object.
	ReasonProgressing = "Progressing"
	// ReasonSuspended: spec.suspend is true; the operator makes no MX calls for this object.
	ReasonSuspended = "Suspended"
	// ReasonDeleting: the object is being deleted and the operator is removing it from MX.
	ReasonDeleting = "Deleting"
	// ReasonMXUnauthorized: MX refused the operator's own API credentials (401/403). Fix the
	// operator's credentials Secret or MX's IP allow-list.
	ReasonMXUnauthorized = "MXUnauthorized"
	// ReasonMXRateLimited: MX answered 429; the operator backs off.
	ReasonMXRateLimited = "MXRateLimited"
	// ReasonMXUnavailable: MX answered 5xx or could not be reached; the operator backs off.
	ReasonMXUnavailable = "MXUnavailable"
	// ReasonMXRejected: MX rejected a request as invalid (4xx); the message carries MX's reason.
	ReasonMXRejected = "MXRejected"
	// ReasonDuplicate: MX already holds an object with this partner id or these credentials that
	// the operator cannot adopt as its own.
	ReasonDuplicate = "Duplicate"
	// ReasonGoneInMX: the MX object recorded in status no longer exists in MX. The operator does
	// not re-create it unless asked to (see the reconcile-requested-at annotation).
	ReasonGoneInMX = "GoneInMX"
	// ReasonAlreadyManaged: another MXUser or MXMember in the cluster already manages the MX
	// object with this partner id (or guid); the message names it. This object makes no MX
	// writes, and deleting it never touches the other's MX object.
	ReasonAlreadyManaged = "AlreadyManaged"
)

// Condition reasons specific to MXUser.
const (
	// ReasonMembersRemaining: the MXUser is being deleted but MXMembers still reference it; the
	// operator waits for them to be deleted first.
	ReasonMembersRemaining = "MembersRemaining"
	// ReasonUnmanagedMembers: the MXUser is being deleted with deletionPolicy Delete, and MX
	// holds members that no MXMember manages; deleting the user would delete them too. The
	// operator waits for the ConfirmDeleteUnmanagedMembersAnnotation (or deletionPolicy Orphan).
	ReasonUnmanagedMembers = "UnmanagedMembers"
)

// Condition reasons specific to MXMember. When MX reports a connection status that needs the end
// user or is terminal, the Stalled reason is the MX connection status itself in CamelCase
// (for example Denied, Challenged, Pending) and the message is MX's end-user message.
const (
	// ReasonUserNotReady: the referenced MXUser does not exist or is not Ready yet.
	ReasonUserNotReady = "UserNotReady"
	// ReasonSecretNotFound: the credentials or MFA answers Secret does not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonSecretKeyMissing: the credentials Secret lacks a key the institution requires.
	ReasonSecretKeyMissing = "SecretKeyMissing"
	// ReasonInstitutionNotFound: MX does not know spec.institutionCode.
	ReasonInstitutionNotFound = "InstitutionNotFound"
	// ReasonAggregating: MX is aggregating the member; the operator polls with backoff.
	ReasonAggregating = "Aggregating"
	// ReasonAggregationThrottled: an aggregation was requested inside MX's throttle window; the
	// message says when it will be allowed.
	ReasonAggregationThrottled = "AggregationThrottled"
	// ReasonAwaitingMFAAnswers: MX asked MFA challenges and the answers Secret has no answer for
	// at least one of them.
	ReasonAwaitingMFAAnswers = "AwaitingMFAAnswers"
	// ReasonRetryLater: MX reports FAILED, DEGRADED or DISCONNECTED; the operator checks again
	// slowly, MX usually recovers by itself.
	ReasonRetryLater = "RetryLater"
	// ReasonAwaitingEndUser: a widget member (spec.connectWidget) the end user has not connected
	// yet; the message says where the Connect widget URL is, until when it works, and what the
	// end user connected that the operator did not adopt.
	ReasonAwaitingEndUser = "AwaitingEndUser"
	// ReasonURLSecretConflict: the Secret named for the end user's URLs exists and is not owned
	// by the MXMember; the operator does not write into it.
	ReasonURLSecretConflict = "URLSecretConflict"
)
