package v1alpha1

// LocalObjectReference names an object in the same namespace as the referring object.
type LocalObjectReference struct {
	// name of the referenced object in the same namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +required
	Name string `json:"name"`
}

// DeletionPolicy says what happens to the object in MX when its Kubernetes object is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete deletes the object in MX before the Kubernetes object goes away.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves the object in MX; re-applying the Kubernetes object with the
	// same partner id adopts it again.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// MemberLabel, on a Secret the operator creates for an MXMember (its end-user URL Secret), names
// that MXMember.
const MemberLabel = "mx.mxoperator.dev/member"

// Annotations a person (or a tool) sets to ask the operator for something now. The value is any
// string; a new value (for example the current time) is a new request. The value last handled is
// recorded in status.
const (
	// ReconcileRequestedAtAnnotation asks for a reconcile now, including a fresh read from MX.
	ReconcileRequestedAtAnnotation = "mx.mxoperator.dev/reconcile-requested-at"
	// AggregateRequestedAtAnnotation asks MX for a foreground aggregation of an MXMember now.
	// Inside MX's throttle window the operator does not call MX and reports when it will be allowed.
	AggregateRequestedAtAnnotation = "mx.mxoperator.dev/aggregate-requested-at"
	// URLRequestedAtAnnotation, set to a new value on an MXMember, asks for a fresh end-user URL
	// in the member's URL Secret: a Connect widget URL to connect a widget member that is not
	// connected yet, a Connect widget URL to repair any member that exists in MX, or a new OAuth
	// window URL for a PENDING OAuth member. Each URL costs one MX call.
	URLRequestedAtAnnotation = "mx.mxoperator.dev/url-requested-at"
	// ConfirmDeleteUnmanagedMembersAnnotation, set to "true" on an MXUser being deleted, confirms
	// that MX may delete the user together with members no MXMember manages (listed in its
	// UnmanagedMembers condition).
	ConfirmDeleteUnmanagedMembersAnnotation = "mx.mxoperator.dev/confirm-delete-unmanaged-members"
)

// Finalizer is the finalizer the operator puts on MXUser and MXMember objects so that it can
// delete (or deliberately orphan) the MX object before the Kubernetes object disappears.
const Finalizer = "mx.mxoperator.dev/finalizer"
