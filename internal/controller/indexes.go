package controller

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
)

// Field indexes on MXMember, registered once per manager by SetupIndexes.
const (
	// indexMemberUser maps an MXMember to spec.userRef.name.
	indexMemberUser = "spec.userRef.name"
	// indexMemberSecrets maps an MXMember to the names of the Secrets it reads: the credentials
	// Secret and the MFA answers Secret.
	indexMemberSecrets = "mx.mxoperator.dev/secrets"
	// indexMemberGUID maps an MXMember to status.guid, for MX webhooks.
	indexMemberGUID = "status.guid"
)

// SetupIndexes registers the field indexes both controllers and the webhook receiver use. Call it
// once per manager, before the controllers are set up.
func SetupIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	member := &mxv1alpha1.MXMember{}
	if err := indexer.IndexField(ctx, member, indexMemberUser, memberUserIndex); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, member, indexMemberSecrets, memberSecretsIndex); err != nil {
		return err
	}
	return indexer.IndexField(ctx, member, indexMemberGUID, memberGUIDIndex)
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

func memberGUIDIndex(o client.Object) []string {
	if guid := o.(*mxv1alpha1.MXMember).Status.GUID; guid != "" {
		return []string{guid}
	}
	return nil
}
