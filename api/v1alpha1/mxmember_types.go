package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MaxAccountSummaries is the most accounts an MXMember lists in status.accounts; status.accountCount
// always carries the full number and status.accountsTruncated says when the list was cut.
const MaxAccountSummaries = 50

// MXMemberSpec is the desired connection from an MXUser to a financial institution.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.id) || (has(self.id) && self.id == oldSelf.id)",message="id is immutable once set; create a new MXMember to use another partner id"
// +kubebuilder:validation:XValidation:rule="(has(self.oauth) && self.oauth) == (has(oldSelf.oauth) && oldSelf.oauth)",message="oauth is immutable; create a new MXMember to switch between OAuth and credentials"
// +kubebuilder:validation:XValidation:rule="has(self.connectWidget) == has(oldSelf.connectWidget)",message="connectWidget is immutable; create a new MXMember to switch between the Connect widget and credentials or OAuth"
// +kubebuilder:validation:XValidation:rule="[has(self.credentialsSecretRef), has(self.oauth) && self.oauth, has(self.connectWidget)].filter(x, x).size() == 1",message="set exactly one of credentialsSecretRef (the end user's credentials in a Secret), oauth: true (the end user signs in at the institution) or connectWidget (the end user connects in MX's Connect widget)"
type MXMemberSpec struct {
	// userRef names the MXUser (in this namespace) this member belongs to. Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="userRef is immutable; create a new MXMember for another user"
	// +required
	UserRef LocalObjectReference `json:"userRef"`

	// institutionCode is MX's code of the financial institution, for example `mxbank`
	// (MX's test bank on the integration environment). Immutable.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9_.-]*$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="institutionCode is immutable; create a new MXMember for another institution"
	// +required
	InstitutionCode string `json:"institutionCode"`

	// credentialsSecretRef names a Secret in this namespace whose keys are the institution's
	// credential field names (for mxbank: `username` and `password`) and whose values are the
	// end user's credentials. Required unless oauth is true. Changing the Secret's data sends the
	// new credentials to MX, which starts a new aggregation: that is how a DENIED member recovers.
	// The operator never copies the Secret's data anywhere else.
	// +optional
	CredentialsSecretRef *LocalObjectReference `json:"credentialsSecretRef,omitempty"`

	// oauth creates the member as an OAuth connection: the end user authorises it by opening the
	// OAuth window URL the operator writes into the end-user URL Secret (see urlSecretName); no
	// credentials are sent. Immutable.
	// +optional
	OAuth bool `json:"oauth,omitempty"`

	// connectWidget makes the end user connect this member in MX's Connect widget: the operator
	// writes a Connect widget URL (scoped to institutionCode) into the end-user URL Secret,
	// finds the member the end user creates there, gives it this member's partner id and follows
	// it like any other. Credentials never pass through the cluster. Exclusive with
	// credentialsSecretRef and oauth; immutable.
	// +optional
	ConnectWidget *ConnectWidgetSpec `json:"connectWidget,omitempty"`

	// urlSecretName names the Secret, in this namespace, into which the operator writes the URLs
	// only the end user may open: Connect widget URLs (to connect, or to repair a member that
	// needs the end user) and the OAuth window URL. It holds the keys url, kind and expiresAt;
	// the operator creates it, owns it (an owner reference to this MXMember) and never touches a
	// Secret of that name it does not own. Default: <metadata.name>-end-user-url.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	URLSecretName string `json:"urlSecretName,omitempty"`

	// id is the partner id sent to MX as the member's `id`, unique across all members of all
	// users of your MX client. Optional and immutable once set; when empty the operator derives
	// <prefix>:<namespace>/<name> from its --partner-id-prefix and records it in status.id. A
	// member whose partner id another MXMember already claims is Stalled (AlreadyManaged) and
	// never touches that MX member.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._:@/-]*$`
	// +optional
	ID string `json:"id,omitempty"`

	// metadata is a free-form string stored with the member in MX.
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	Metadata string `json:"metadata,omitempty"`

	// disableBackgroundAggregation turns off MX's daily background aggregation of this member.
	// +optional
	DisableBackgroundAggregation bool `json:"disableBackgroundAggregation,omitempty"`

	// skipInitialAggregation creates the member without starting an aggregation; MX aggregates it
	// later (in the background, or when an aggregation is requested).
	// +optional
	SkipInitialAggregation bool `json:"skipInitialAggregation,omitempty"`

	// mfa configures how multi-factor challenges are answered.
	// +optional
	MFA *MFASpec `json:"mfa,omitempty"`

	// refreshInterval, when set, makes the operator ask MX for a foreground aggregation whenever
	// the last successful aggregation is older than this. MX throttles aggregations to one per
	// about three hours, so values under 3h are rejected. Each aggregation costs an MX call;
	// without this field the operator relies on MX's own daily background aggregation.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('3h')",message="refreshInterval must be at least 3h, MX's aggregation throttle window (for example 6h or 24h)"
	// +optional
	RefreshInterval *metav1.Duration `json:"refreshInterval,omitempty"`

	// deletionPolicy says what happens to the MX member when this object is deleted: Delete (the
	// default) deletes it from MX, Orphan leaves it there.
	// +kubebuilder:default=Delete
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// suspend stops every MX call for this member while true. Status keeps its last values.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// ConnectWidgetSpec holds the options of the Connect widget URLs the operator asks MX for. The
// widget always opens on the member's institution (and, to repair a member, on that member).
type ConnectWidgetSpec struct {
	// colorScheme is the widget's colours: light (MX's default), dark, or browser (the end user's
	// browser setting).
	// +kubebuilder:validation:Enum=light;dark;browser
	// +optional
	ColorScheme string `json:"colorScheme,omitempty"`

	// clientRedirectURL is where MX redirects the end user at the end of an OAuth flow inside
	// the widget, when isMobileWebview is true.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['https', 'http']",message="clientRedirectURL must be an absolute http(s) URL, for example https://app.example.com/connected"
	// +optional
	ClientRedirectURL string `json:"clientRedirectURL,omitempty"`

	// isMobileWebview renders the widget for a mobile WebView (URL updates instead of
	// postMessage events).
	// +optional
	IsMobileWebview bool `json:"isMobileWebview,omitempty"`
}

// MFASpec configures answers to multi-factor authentication challenges.
type MFASpec struct {
	// answersSecretRef names a Secret in this namespace holding answers to the challenges shown
	// in status.challenges. Each key is a challenge guid from status.challenges[].guid and each
	// value the answer: the text for TEXT and IMAGE_DATA challenges, or the chosen option's value
	// (status.challenges[].options[].value) for OPTIONS challenges. The operator answers each set
	// of challenges once, as soon as the Secret holds an answer for every challenge in it.
	// +optional
	AnswersSecretRef *LocalObjectReference `json:"answersSecretRef,omitempty"`
}

// Challenge is one MFA question MX asked, as shown to a person. Images are never copied here.
type Challenge struct {
	// guid identifies the challenge; it is the key to use in the MFA answers Secret.
	GUID string `json:"guid"`
	// label is the question as the institution asks it.
	// +optional
	Label string `json:"label,omitempty"`
	// type is the kind of challenge: TEXT, OPTIONS, TOKEN, IMAGE_DATA or IMAGE_OPTIONS.
	// +optional
	Type string `json:"type,omitempty"`
	// options are the choices of an OPTIONS challenge.
	// +kubebuilder:validation:MaxItems=50
	// +listType=atomic
	// +optional
	Options []ChallengeOption `json:"options,omitempty"`
}

// ChallengeOption is one choice of an OPTIONS challenge.
type ChallengeOption struct {
	// label is the choice as shown to the end user.
	// +optional
	Label string `json:"label,omitempty"`
	// value is what to write in the MFA answers Secret to choose this option.
	// +optional
	Value string `json:"value,omitempty"`
}

// AccountSummary is a bounded summary of one account gathered by MX.
type AccountSummary struct {
	// guid is MX's identifier of the account (ACT-…).
	GUID string `json:"guid"`
	// name of the account as the institution reports it.
	// +optional
	Name string `json:"name,omitempty"`
	// type of the account, for example CHECKING, SAVINGS, CREDIT_CARD, LOAN.
	// +optional
	Type string `json:"type,omitempty"`
	// subtype of the account, when MX knows it.
	// +optional
	Subtype string `json:"subtype,omitempty"`
	// lastFour is the last four characters of the account number.
	// +optional
	LastFour string `json:"lastFour,omitempty"`
	// balance is the current balance as a decimal string, for example "1024.57".
	// +optional
	Balance string `json:"balance,omitempty"`
	// availableBalance is the available balance as a decimal string.
	// +optional
	AvailableBalance string `json:"availableBalance,omitempty"`
	// currency is the ISO 4217 currency code, for example USD.
	// +optional
	Currency string `json:"currency,omitempty"`
	// closed is true when the institution reports the account closed.
	// +optional
	Closed bool `json:"closed,omitempty"`
}

// EndUserURLKind is what an end-user URL opens.
// +kubebuilder:validation:Enum=ConnectWidget;RepairWidget;OAuthWindow
type EndUserURLKind string

const (
	// EndUserURLConnectWidget opens MX's Connect widget on the member's institution: the end
	// user connects the member there.
	EndUserURLConnectWidget EndUserURLKind = "ConnectWidget"
	// EndUserURLRepairWidget opens MX's Connect widget on the member (current_member_guid): the
	// end user fixes what MX needs (credentials, MFA answers).
	EndUserURLRepairWidget EndUserURLKind = "RepairWidget"
	// EndUserURLOAuthWindow opens the institution's OAuth authorisation of a PENDING member.
	EndUserURLOAuthWindow EndUserURLKind = "OAuthWindow"
)

// EndUserURLStatus describes the URL in the end-user URL Secret without revealing it.
type EndUserURLStatus struct {
	// secretName is the Secret holding the URL (key url).
	SecretName string `json:"secretName"`
	// kind is what the URL opens.
	Kind EndUserURLKind `json:"kind"`
	// available is true while the Secret holds a URL that has not expired and was not seen
	// used. MX's widget URLs are single-use: an end user who opened it needs a fresh one.
	Available bool `json:"available"`
	// issuedAt is when MX issued the URL.
	IssuedAt metav1.Time `json:"issuedAt"`
	// expiresAt is when the URL stops working (ten minutes after issue for widget URLs; the
	// hour MX keeps a PENDING OAuth member for its window); then the operator removes it from
	// the Secret.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
}

// MXMemberStatus is the observed state of the member in MX.
type MXMemberStatus struct {
	// guid is MX's identifier of the member (MBR-…), set once the member exists in MX.
	// +optional
	GUID string `json:"guid,omitempty"`

	// id is the partner id the member has in MX: spec.id, or the id the operator derived.
	// +optional
	ID string `json:"id,omitempty"`

	// userGUID is MX's identifier of the user the member belongs to.
	// +optional
	UserGUID string `json:"userGUID,omitempty"`

	// observedGeneration is the metadata.generation this status describes: the spec of that
	// generation has been applied in MX (see appliedSettings), or the member is Stalled on
	// something that generation cannot get past. It stays behind while the operator waits on the
	// MXUser, a retry or MX's rate limit.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// appliedSettings identifies the member settings MX has acknowledged: a hash of the partner
	// id, metadata and background-aggregation flag last sent (or created with). The operator
	// sends the settings whenever the hash of the spec's differs, whatever interrupted the last
	// attempt.
	// +optional
	AppliedSettings string `json:"appliedSettings,omitempty"`

	// appliedCredentials identifies the credentials MX has acknowledged: an HMAC of the
	// credential values keyed with a secret of the operator's (never the values, and not
	// brute-forceable by readers of this object). Credentials are sent when the Secret's data
	// has a different fingerprint; a change of its labels or annotations costs no MX call.
	// +optional
	AppliedCredentials string `json:"appliedCredentials,omitempty"`

	// connectionStatus is MX's connection_status of the member, for example CONNECTED,
	// CHALLENGED or DENIED.
	// +optional
	ConnectionStatus string `json:"connectionStatus,omitempty"`

	// connectionStatusMessage is MX's message for the end user about the connection status.
	// +optional
	ConnectionStatusMessage string `json:"connectionStatusMessage,omitempty"`

	// isBeingAggregated is true while MX is aggregating the member.
	// +optional
	IsBeingAggregated bool `json:"isBeingAggregated,omitempty"`

	// aggregatedAt is when MX last attempted an aggregation.
	// +optional
	AggregatedAt *metav1.Time `json:"aggregatedAt,omitempty"`

	// successfullyAggregatedAt is when MX last aggregated the member successfully.
	// +optional
	SuccessfullyAggregatedAt *metav1.Time `json:"successfullyAggregatedAt,omitempty"`

	// endUserURL describes the URL in the end-user URL Secret (spec.urlSecretName): what it is
	// for and until when it is valid. Never the URL itself: it is a bearer link that lets whoever
	// opens it connect a bank account to this user.
	// +optional
	EndUserURL *EndUserURLStatus `json:"endUserURL,omitempty"`

	// challenges are the MFA questions MX is waiting for (while CHALLENGED).
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	// +optional
	Challenges []Challenge `json:"challenges,omitempty"`

	// accounts summarises at most 50 of the member's accounts.
	// +kubebuilder:validation:MaxItems=50
	// +listType=atomic
	// +optional
	Accounts []AccountSummary `json:"accounts,omitempty"`

	// accountCount is the number of accounts MX holds for the member.
	// +optional
	AccountCount int32 `json:"accountCount,omitempty"`

	// accountsTruncated is true when the member has more accounts than status.accounts lists.
	// +optional
	AccountsTruncated bool `json:"accountsTruncated,omitempty"`

	// accountsAsOf is the successful aggregation the account summaries were read after; accounts
	// are listed again only after a newer successful aggregation.
	// +optional
	AccountsAsOf *metav1.Time `json:"accountsAsOf,omitempty"`

	// credentialsRevision is the resourceVersion of the credentials Secret the operator last
	// compared with appliedCredentials (never its content).
	// +optional
	CredentialsRevision string `json:"credentialsRevision,omitempty"`

	// answeredChallenges lists the challenge guids the operator last answered, so each set of
	// challenges is answered once.
	// +optional
	AnsweredChallenges string `json:"answeredChallenges,omitempty"`

	// answersRevision is the resourceVersion of the MFA answers Secret when MX rejected an
	// answer (REJECTED); a newer version asks MX for a new aggregation, and so new challenges.
	// +optional
	AnswersRevision string `json:"answersRevision,omitempty"`

	// nextAggregationAllowedAt is when MX's throttle window lets a requested aggregation run,
	// set while a requested aggregation waits for it.
	// +optional
	NextAggregationAllowedAt *metav1.Time `json:"nextAggregationAllowedAt,omitempty"`

	// lastReadAt is when the operator last received the member's state from MX (a create,
	// status read or update response). A member that needs nothing is re-read only on a long,
	// jittered interval counted from this time, so a restart of the operator costs no MX calls.
	// +optional
	LastReadAt *metav1.Time `json:"lastReadAt,omitempty"`

	// lastHandledReconcileAt is the last value of the reconcile-requested-at annotation the
	// operator acted on.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`

	// lastHandledAggregateAt is the last value of the aggregate-requested-at annotation the
	// operator acted on.
	// +optional
	LastHandledAggregateAt string `json:"lastHandledAggregateAt,omitempty"`

	// lastHandledURLRequestAt is the last value of the url-requested-at annotation the operator
	// acted on.
	// +optional
	LastHandledURLRequestAt string `json:"lastHandledURLRequestAt,omitempty"`

	// conditions: Ready, and Reconciling / Stalled / Suspended while they are True.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// MXMember is one connection from an MXUser to a financial institution in MX: the operator
// creates it with the end user's credentials, follows MX's aggregation, and reports the
// connection status and a summary of the accounts gathered.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mxm,categories=mx
// +kubebuilder:printcolumn:name="User",type=string,JSONPath=`.spec.userRef.name`
// +kubebuilder:printcolumn:name="Institution",type=string,JSONPath=`.spec.institutionCode`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.connectionStatus`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Accounts",type=integer,JSONPath=`.status.accountCount`
// +kubebuilder:printcolumn:name="Last Success",type=date,JSONPath=`.status.successfullyAggregatedAt`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MXMember struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired connection.
	// +required
	Spec MXMemberSpec `json:"spec"`

	// status is what the operator last observed in MX.
	// +optional
	Status MXMemberStatus `json:"status,omitempty"`
}

// MXMemberList is a list of MXMember.
// +kubebuilder:object:root=true
type MXMemberList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items is the list of MXMember.
	Items []MXMember `json:"items"`
}

// GetConditions returns the conditions of the member.
func (m *MXMember) GetConditions() []metav1.Condition { return m.Status.Conditions }

// SetConditions replaces the conditions of the member.
func (m *MXMember) SetConditions(c []metav1.Condition) { m.Status.Conditions = c }

func init() {
	SchemeBuilder.Register(&MXMember{}, &MXMemberList{})
}
