package controller

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
)

// Field indexes on MXMember besides the identity indexes (identity.go), registered once per
// manager by SetupIndexes.
const (
	// indexMemberUser maps an MXMember to spec.userRef.name.
	indexMemberUser = "spec.userRef.name"
	// indexMemberSecrets maps an MXMember to the names of the Secrets it reads: the credentials
	// Secret and the MFA answers Secret.
	indexMemberSecrets = "mx.mxoperator.dev/secrets"
)

// SetupIndexes registers the field indexes both controllers and the webhook receiver use: on
// MXUser and MXMember the partner id each claims (derived with prefix, as the reconcilers
// derive it) and the guid in status, and on MXMember its MXUser and Secrets. Call it once per
// manager, before the controllers are set up.
func SetupIndexes(ctx context.Context, indexer client.FieldIndexer, prefix string) error {
	member, user := &mxv1alpha1.MXMember{}, &mxv1alpha1.MXUser{}
	indexes := []struct {
		obj   client.Object
		field string
		fn    client.IndexerFunc
	}{
		{member, indexMemberUser, memberUserIndex},
		{member, indexMemberSecrets, memberSecretsIndex},
		{member, indexGUID, func(o client.Object) []string { return nonEmpty(o.(*mxv1alpha1.MXMember).Status.GUID) }},
		{member, indexPartnerID, func(o client.Object) []string {
			m := o.(*mxv1alpha1.MXMember)
			return []string{effectivePartnerID(m.Spec.ID, m.Status.ID, prefix, m.Namespace, m.Name)}
		}},
		{user, indexGUID, func(o client.Object) []string { return nonEmpty(o.(*mxv1alpha1.MXUser).Status.GUID) }},
		{user, indexPartnerID, func(o client.Object) []string {
			u := o.(*mxv1alpha1.MXUser)
			return []string{effectivePartnerID(u.Spec.ID, u.Status.ID, prefix, u.Namespace, u.Name)}
		}},
	}
	for _, ix := range indexes {
		if err := indexer.IndexField(ctx, ix.obj, ix.field, ix.fn); err != nil {
			return err
		}
	}
	return nil
}

func nonEmpty(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}

func memberUserIndex(o client.Object) []string {
	return []string{o.(*mxv1alpha1.MXMember).Spec.UserRef.Name}
}

func memberSecretsIndex(o client.Object) []string {
	m := o.(*mxv1alpha1.MXMember)
	var names []string
	if ref := m.Spec.CredentialsSecretRef; ref != nil {
		names = append(names, ref.Name)
	}
	if m.Spec.MFA != nil && m.Spec.MFA.AnswersSecretRef != nil {
		names = append(names, m.Spec.MFA.AnswersSecretRef.Name)
	}
	return names
}
