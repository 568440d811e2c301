// Package v1alpha1 contains the MXUser and MXMember API of mx-operator.
//
// An MXUser declares an end user in the MX Platform API; an MXMember declares one
// connection from that user to a financial institution. The operator creates and updates
// both through the MX API and reports what MX says in status and conditions.
//
// +kubebuilder:object:generate=true
// +groupName=mx.mxoperator.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "mx.mxoperator.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
