package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Bounds of the history an MXTransactionSync reads. MX serves at most 120 days back by default
// (MX-API.md §11), and the sandbox's first aggregation finds 90.
const (
	// DefaultInitialHistoryDays is how many days back the first window starts.
	DefaultInitialHistoryDays = 90
	// MaxInitialHistoryDays is the most days back the first window may start.
	MaxInitialHistoryDays = 120
	// DefaultOverlapDays is how many days before status.syncedThrough each later window starts.
	DefaultOverlapDays = 7
)

// Condition reasons specific to MXTransactionSync.
const (
	// ReasonMemberNotReady: the referenced MXMember does not exist, has no MX guid yet, or has
	// never aggregated successfully; the sync waits for it without calling MX.
	ReasonMemberNotReady = "MemberNotReady"
	// ReasonDelivering: a window is being delivered; the message names it. The sync is
	// Reconciling until the sink acknowledged the whole window (Ready) or failed.
	ReasonDelivering = "Delivering"
	// ReasonSinkUnreachable: the sink answered 408, 429 or 5xx, timed out or could not be
	// reached for a window's whole retry budget; the operator tries again with backoff (not
	// before the sink's Retry-After) and resends the window from status.syncedThrough.
	ReasonSinkUnreachable = "SinkUnreachable"
	// ReasonSinkRejected: the sink rejected an event with a 4xx other than 429. The message names
	// the status code (never the body). Fix the sink, then change the spec or set the
	// reconcile-requested-at annotation; delivery resumes from status.syncedThrough.
	ReasonSinkRejected = "SinkRejected"
)

// MXTransactionSyncSpec says which member's transactions go to which sink.
type MXTransactionSyncSpec struct {
	// memberRef names the MXMember (in this namespace) whose transactions are delivered.
	// +required
	MemberRef LocalObjectReference `json:"memberRef"`

	// sink is where the CloudEvents are POSTed.
	// +required
	Sink TransactionSink `json:"sink"`

	// initialHistoryDays is how many days before today the first window starts. A whole number
	// of days, 1 to 120 (MX keeps 120 days available by default).
	// +kubebuilder:default=90
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:XValidation:rule="self <= 120",message="initialHistoryDays may be at most 120: MX serves transactions up to 120 days back"
	// +optional
	InitialHistoryDays int32 `json:"initialHistoryDays,omitempty"`

	// overlapDays is how many days before status.syncedThrough each later window starts, so that
	// transactions MX changes after the fact (pending ones that post) are delivered again.
	// +kubebuilder:default=7
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=60
	// +optional
	OverlapDays *int32 `json:"overlapDays,omitempty"`

	// suspend stops delivery; nothing is read from MX and nothing is sent while it is true.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// TransactionSink is the receiver of the CloudEvents: a URI or a Service.
// +kubebuilder:validation:XValidation:rule="has(self.uri) != has(self.ref)",message="set exactly one of sink.uri and sink.ref"
type TransactionSink struct {
	// uri is the sink's URL. It must be https; http is accepted only for in-cluster Service
	// names (*.svc, *.svc.cluster.local) and loopback (localhost, 127.0.0.1, ::1).
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getHostname() != '' && (url(self).getScheme() == 'https' || (url(self).getScheme() == 'http' && (url(self).getHostname().endsWith('.svc') || url(self).getHostname().endsWith('.svc.cluster.local') || url(self).getHostname() == 'localhost' || url(self).getHostname() == '127.0.0.1' || url(self).getHostname() == '::1')))",message="sink.uri must be an https URL; http is allowed only for in-cluster Service names (*.svc, *.svc.cluster.local) and loopback"
	// +optional
	URI string `json:"uri,omitempty"`

	// ref names a Service; the sink is http://<name>.<namespace>.svc.cluster.local[:port].
	// +optional
	Ref *SinkServiceReference `json:"ref,omitempty"`

	// auth is how the operator authenticates to the sink.
	// +optional
	Auth *SinkAuth `json:"auth,omitempty"`

	// mode is how the events are sent: structured (one event per request,
	// application/cloudevents+json) or batched (one application/cloudevents-batch+json request
	// per MX page of up to 1000 transactions, then the window marker in a batch of its own). A
	// batch is acknowledged or retried whole.
	// +kubebuilder:validation:Enum=structured;batched
	// +kubebuilder:default=structured
	// +optional
	Mode SinkMode `json:"mode,omitempty"`
}

// SinkMode is how the events reach the sink (the CloudEvents HTTP binding).
type SinkMode string

const (
	// SinkModeStructured sends one event per request.
	SinkModeStructured SinkMode = "structured"
	// SinkModeBatched sends one batch per MX page, then the window marker alone.
	SinkModeBatched SinkMode = "batched"
)

// SinkServiceReference names a Service that receives the events.
type SinkServiceReference struct {
	// name of the Service.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`
	// namespace of the Service; the MXTransactionSync's own when empty.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// port of the Service; the http default (80) when unset.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port *int32 `json:"port,omitempty"`
}

// SinkAuth names the Secrets the operator reads to reach the sink.
type SinkAuth struct {
	// secretRef names a Secret with either the key `token` (sent as a bearer token) or the keys
	// `username` and `password` (HTTP Basic).
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// caBundleSecretRef names a Secret whose key `ca.crt` holds the PEM CA bundle that verifies
	// the sink's certificate (instead of the system roots).
	// +optional
	CABundleSecretRef *LocalObjectReference `json:"caBundleSecretRef,omitempty"`
}

// MXTransactionSyncStatus is what the operator last delivered. It never holds transaction
// content: only dates, counts and conditions.
type MXTransactionSyncStatus struct {
	// sinkURI is the URL events are sent to (from spec.sink.uri or spec.sink.ref).
	// +optional
	SinkURI string `json:"sinkURI,omitempty"`

	// syncedThrough is the last day (YYYY-MM-DD) of the last window the sink fully acknowledged,
	// capped at the day the window was read (later days cannot be complete yet). The next window
	// starts spec.overlapDays before it.
	// +optional
	SyncedThrough string `json:"syncedThrough,omitempty"`

	// lastSyncedAggregationAt is the member's successfullyAggregatedAt that the last complete
	// window covered; a newer one starts a new window.
	// +optional
	LastSyncedAggregationAt *metav1.Time `json:"lastSyncedAggregationAt,omitempty"`

	// transactionsDelivered counts the transaction events the sink acknowledged, resends
	// included.
	// +optional
	TransactionsDelivered int64 `json:"transactionsDelivered,omitempty"`

	// eventsDelivered counts every event the sink acknowledged (transactions and window markers),
	// resends included.
	// +optional
	EventsDelivered int64 `json:"eventsDelivered,omitempty"`

	// lastHandledReconcileAt is the value of the reconcile-requested-at annotation last acted on.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`

	// observedGeneration is the generation the last complete window (or the last stall) used.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling, Stalled (and Suspended).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// MXTransactionSync delivers an MXMember's transactions to a sink as CloudEvents: the history
// first, then, after each successful aggregation of the member, the days since the last window
// (with an overlap). It never changes anything in MX.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mxts,categories=mx
// +kubebuilder:printcolumn:name="Member",type=string,JSONPath=`.spec.memberRef.name`
// +kubebuilder:printcolumn:name="Sink",type=string,JSONPath=`.status.sinkURI`
// +kubebuilder:printcolumn:name="Synced Through",type=string,JSONPath=`.status.syncedThrough`
// +kubebuilder:printcolumn:name="Delivered",type=integer,JSONPath=`.status.transactionsDelivered`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MXTransactionSync struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is which member goes to which sink.
	// +required
	Spec MXTransactionSyncSpec `json:"spec"`

	// status is what the operator last delivered.
	// +optional
	Status MXTransactionSyncStatus `json:"status,omitempty"`
}

// MXTransactionSyncList is a list of MXTransactionSync.
// +kubebuilder:object:root=true
type MXTransactionSyncList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items is the list of MXTransactionSync.
	Items []MXTransactionSync `json:"items"`
}

// GetConditions returns the conditions of the sync.
func (s *MXTransactionSync) GetConditions() []metav1.Condition { return s.Status.Conditions }

// SetConditions replaces the conditions of the sync.
func (s *MXTransactionSync) SetConditions(c []metav1.Condition) { s.Status.Conditions = c }

func init() {
	SchemeBuilder.Register(&MXTransactionSync{}, &MXTransactionSyncList{})
}
