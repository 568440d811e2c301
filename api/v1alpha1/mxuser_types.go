package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MXUserSpec is the desired state of an end user in MX.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.id) || (has(self.id) && self.id == oldSelf.id)",message="id is immutable once set; create a new MXUser to use another partner id"
type MXUserSpec struct {
	// id is the partner id sent to MX as the user's `id`: your own identifier for this user,
	// unique within your MX client. Optional and immutable once set; setting it on a user that
	// already exists sends the new id to MX. When empty, the operator derives
	// <prefix>:<namespace>/<name> from its --partner-id-prefix (unique for every namespace and
	// name, and for every prefix) and records it in status.id. A user whose partner id another
	// MXUser already claims is Stalled (AlreadyManaged) and never touches that MX user.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._:@/-]*$`
	// +optional
	ID string `json:"id,omitempty"`

	// email of the end user, stored in MX.
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+\.[^@\s]+$`
	// +optional
	Email string `json:"email,omitempty"`

	// metadata is a free-form string stored with the user in MX (for example a JSON document).
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	Metadata string `json:"metadata,omitempty"`

	// disabled disables the user in MX: MX stops aggregating its members and refuses most calls
	// for it until it is enabled again.
	// +optional
	Disabled bool `json:"disabled,omitempty"`

	// deletionPolicy says what happens to the MX user when this object is deleted: Delete (the
	// default) deletes it from MX, Orphan leaves it there. An MXUser is only removed after every
	// MXMember referencing it is gone.
	// +kubebuilder:default=Delete
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// suspend stops every MX call for this user while true. Status keeps its last values.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// MXUserStatus is the observed state of the user in MX.
type MXUserStatus struct {
	// guid is MX's identifier of the user (USR-…), set once the user exists in MX.
	// +optional
	GUID string `json:"guid,omitempty"`

	// id is the partner id the user has in MX: spec.id, or the id the operator derived.
	// +optional
	ID string `json:"id,omitempty"`

	// observedGeneration is the metadata.generation this status describes: the spec of that
	// generation has been applied in MX (see appliedSettings), or the user is Stalled on
	// something that generation cannot get past. It stays behind while the operator waits on a
	// retry or MX's rate limit.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// appliedSettings identifies the user settings MX has acknowledged: a hash of the partner
	// id, email, metadata and disabled flag last sent (or created with). The operator sends the
	// spec whenever its hash differs, not only on the resync.
	// +optional
	AppliedSettings string `json:"appliedSettings,omitempty"`

	// lastReadAt is when the operator last received the user from MX (a create, read or update
	// response). The operator re-reads a user it has in sync only on a long, jittered interval
	// counted from this time, so a restart of the operator costs no MX calls.
	// +optional
	LastReadAt *metav1.Time `json:"lastReadAt,omitempty"`

	// lastHandledReconcileAt is the last value of the reconcile-requested-at annotation the
	// operator acted on.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`

	// conditions: Ready, and Reconciling / Stalled / Suspended while they are True.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// MXUser is an end user in the MX Platform API. Every MXMember belongs to one MXUser in the
// same namespace.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mxu,categories=mx
// +kubebuilder:printcolumn:name="Partner ID",type=string,JSONPath=`.status.id`
// +kubebuilder:printcolumn:name="GUID",type=string,JSONPath=`.status.guid`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MXUser struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the user in MX.
	// +optional
	Spec MXUserSpec `json:"spec,omitempty"`

	// status is what the operator last observed in MX.
	// +optional
	Status MXUserStatus `json:"status,omitempty"`
}

// MXUserList is a list of MXUser.
// +kubebuilder:object:root=true
type MXUserList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items is the list of MXUser.
	Items []MXUser `json:"items"`
}

// GetConditions returns the conditions of the user.
func (u *MXUser) GetConditions() []metav1.Condition { return u.Status.Conditions }

// SetConditions replaces the conditions of the user.
func (u *MXUser) SetConditions(c []metav1.Condition) { u.Status.Conditions = c }

func init() {
	SchemeBuilder.Register(&MXUser{}, &MXUserList{})
}
