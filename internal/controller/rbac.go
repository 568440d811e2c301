package controller

// The permissions the manager needs, rendered into config/rbac/role.yaml by controller-gen.
// Secrets are read (credentials and MFA answers) and watched as metadata, so the manager never
// caches the data of every Secret in the cluster; the only Secrets it creates and updates are the
// end-user URL Secrets it owns (mxmember_urls.go).
//
// +kubebuilder:rbac:groups=mx.mxoperator.dev,resources=mxusers;mxmembers,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=mx.mxoperator.dev,resources=mxusers/status;mxmembers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=mx.mxoperator.dev,resources=mxusers/finalizers;mxmembers/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
