// Package onboarding is an example of a project that builds on mx-operator: a small controller
// turns a ConfigMap labelled customer=true into an MXUser, a credentials Secret and an MXMember,
// and mx-operator connects the member to the bank. Its test (controller_test.go) runs the
// controller, mx-operator and the MX sandbox in one envtest suite with pkg/mxtest and
// pkg/mxsandbox; docs/testing.md in mx-operator walks through it.
//
// The customer's bank credentials sit in the ConfigMap only to keep the example short: a real
// onboarding flow takes them from a Secret.
package onboarding

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
)

// CustomerLabel marks the ConfigMaps this controller onboards: customer=true.
const CustomerLabel = "customer"

// Keys of a customer ConfigMap.
const (
	// KeyEmail is the customer's email address, stored with the MX user.
	KeyEmail = "email"
	// KeyInstitution is MX's institution code (default DefaultInstitution).
	KeyInstitution = "institution"
	// KeyUsername and KeyPassword are the customer's credentials at the institution.
	KeyUsername = "username"
	KeyPassword = "password"
)

// DefaultInstitution is the institution of a customer ConfigMap without KeyInstitution: MX's
// test bank.
const DefaultInstitution = "mxbank"

// MemberName is the name of the MXMember of the customer ConfigMap name (its MXUser is called
// name).
func MemberName(name string) string { return name + "-bank" }

// CredentialsName is the name of the credentials Secret of the customer ConfigMap name.
func CredentialsName(name string) string { return name + "-bank-credentials" }

// CustomerReconciler creates, for every customer ConfigMap, an MXUser, a credentials Secret and
// an MXMember owned by the ConfigMap (so that deleting the ConfigMap deletes them).
type CustomerReconciler struct {
	client.Client
	Scheme *runtime.Scheme
}

// Reconcile creates or updates the three objects of one customer ConfigMap.
func (r *CustomerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cm := &corev1.ConfigMap{}
	if err := r.Get(ctx, req.NamespacedName, cm); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if cm.Labels[CustomerLabel] != "true" || !cm.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	log.FromContext(ctx).Info("Onboarding customer")

	user := &mxv1alpha1.MXUser{ObjectMeta: metav1.ObjectMeta{Namespace: cm.Namespace, Name: cm.Name}}
	if err := r.apply(ctx, cm, user, func() { user.Spec.Email = cm.Data[KeyEmail] }); err != nil {
		return ctrl.Result{}, err
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: cm.Namespace, Name: CredentialsName(cm.Name)}}
	if err := r.apply(ctx, cm, secret, func() {
		secret.Data = map[string][]byte{"username": []byte(cm.Data[KeyUsername]), "password": []byte(cm.Data[KeyPassword])}
	}); err != nil {
		return ctrl.Result{}, err
	}
	institution := cm.Data[KeyInstitution]
	if institution == "" {
		institution = DefaultInstitution
	}
	member := &mxv1alpha1.MXMember{ObjectMeta: metav1.ObjectMeta{Namespace: cm.Namespace, Name: MemberName(cm.Name)}}
	err := r.apply(ctx, cm, member, func() {
		member.Spec.UserRef = mxv1alpha1.LocalObjectReference{Name: user.Name}
		member.Spec.InstitutionCode = institution
		member.Spec.CredentialsSecretRef = &mxv1alpha1.LocalObjectReference{Name: secret.Name}
	})
	return ctrl.Result{}, err
}

// apply creates or updates obj with mutate, owned by the ConfigMap.
func (r *CustomerReconciler) apply(ctx context.Context, cm *corev1.ConfigMap, obj client.Object, mutate func()) error {
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, obj, func() error {
		mutate()
		return controllerutil.SetControllerReference(cm, obj, r.Scheme)
	})
	if err != nil {
		return fmt.Errorf("applying %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}

// SetupWithManager watches customer ConfigMaps and the objects made for them.
func (r *CustomerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	isCustomer := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetLabels()[CustomerLabel] == "true" })
	return ctrl.NewControllerManagedBy(mgr).
		Named("customer").
		For(&corev1.ConfigMap{}, builder.WithPredicates(isCustomer)).
		Owns(&mxv1alpha1.MXUser{}).
		Owns(&mxv1alpha1.MXMember{}).
		Owns(&corev1.Secret{}).
		Complete(r)
}
