package v1alpha1_test

import (
	"context"
	"path/filepath"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/testenv"
)

func validMember(ns string) *mxv1alpha1.MXMember {
	return &mxv1alpha1.MXMember{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-mxbank", Namespace: ns},
		Spec: mxv1alpha1.MXMemberSpec{
			UserRef:              mxv1alpha1.LocalObjectReference{Name: "alice"},
			InstitutionCode:      "mxbank",
			CredentialsSecretRef: &mxv1alpha1.LocalObjectReference{Name: "alice-mxbank-credentials"},
		},
	}
}

// decodeSamples returns every object of every YAML file in config/samples except kustomization.yaml.
func decodeSamples() []*unstructured.Unstructured {
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	Expect(err).NotTo(HaveOccurred())
	files = slices.DeleteFunc(files, func(f string) bool { return filepath.Base(f) == "kustomization.yaml" })
	objs, err := testenv.DecodeYAMLFiles(files)
	Expect(err).NotTo(HaveOccurred())
	return objs
}

var _ = Describe("The MX API at admission", func() {
	var ns string
	BeforeEach(func(ctx context.Context) { ns = newNamespace(ctx) })

	It("installs both CRDs and serves them", func(ctx context.Context) {
		for _, name := range []string{"mxusers.mx.mxoperator.dev", "mxmembers.mx.mxoperator.dev"} {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, crd)).To(Succeed())
			Expect(crd.Spec.Names.Categories).To(ContainElement("mx"))
		}
		Expect(k8sClient.List(ctx, &mxv1alpha1.MXMemberList{}, client.InNamespace(ns))).To(Succeed())
	})

	It("accepts every sample in config/samples", func(ctx context.Context) {
		objs := decodeSamples()
		Expect(objs).NotTo(BeEmpty())
		kinds := map[string]bool{}
		for _, o := range objs {
			o.SetNamespace(ns)
			Expect(k8sClient.Create(ctx, o)).To(Succeed(), "%s %s", o.GetKind(), o.GetName())
			kinds[o.GetKind()] = true
		}
		Expect(kinds).To(HaveKey("MXUser"))
		Expect(kinds).To(HaveKey("MXMember"))
	})

	It("defaults deletionPolicy to Delete", func(ctx context.Context) {
		m := validMember(ns)
		Expect(k8sClient.Create(ctx, m)).To(Succeed())
		Expect(m.Spec.DeletionPolicy).To(Equal(mxv1alpha1.DeletionPolicyDelete))
		u := &mxv1alpha1.MXUser{ObjectMeta: metav1.ObjectMeta{Name: "alice", Namespace: ns}}
		Expect(k8sClient.Create(ctx, u)).To(Succeed())
		Expect(u.Spec.DeletionPolicy).To(Equal(mxv1alpha1.DeletionPolicyDelete))
	})

	DescribeTable("rejects an invalid new MXMember with a message that says what to fix",
		func(ctx context.Context, mutate func(*mxv1alpha1.MXMember), want string) {
			m := validMember(ns)
			mutate(m)
			err := k8sClient.Create(ctx, m)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring(want))
		},
		Entry("credentials are missing and neither oauth nor connectWidget is set", func(m *mxv1alpha1.MXMember) {
			m.Spec.CredentialsSecretRef = nil
		}, "set exactly one of credentialsSecretRef"),
		Entry("credentials are given for an oauth member", func(m *mxv1alpha1.MXMember) {
			m.Spec.OAuth = true
		}, "set exactly one of credentialsSecretRef"),
		Entry("credentials are given for a widget member", func(m *mxv1alpha1.MXMember) {
			m.Spec.ConnectWidget = &mxv1alpha1.ConnectWidgetSpec{}
		}, "set exactly one of credentialsSecretRef"),
		Entry("a widget member is also oauth", func(m *mxv1alpha1.MXMember) {
			m.Spec.CredentialsSecretRef, m.Spec.OAuth, m.Spec.ConnectWidget = nil, true, &mxv1alpha1.ConnectWidgetSpec{}
		}, "set exactly one of credentialsSecretRef"),
		Entry("the widget's colour scheme is unknown", func(m *mxv1alpha1.MXMember) {
			m.Spec.CredentialsSecretRef, m.Spec.ConnectWidget = nil, &mxv1alpha1.ConnectWidgetSpec{ColorScheme: "pink"}
		}, `supported values: "light", "dark", "browser"`),
		Entry("the widget's redirect URL is not a URL", func(m *mxv1alpha1.MXMember) {
			m.Spec.CredentialsSecretRef, m.Spec.ConnectWidget = nil, &mxv1alpha1.ConnectWidgetSpec{ClientRedirectURL: "app/connected"}
		}, "clientRedirectURL must be an absolute http(s) URL"),
		Entry("urlSecretName is no Secret name", func(m *mxv1alpha1.MXMember) {
			m.Spec.URLSecretName = "Not_A_Name"
		}, "spec.urlSecretName"),
		Entry("refreshInterval is under MX's 3h throttle window", func(m *mxv1alpha1.MXMember) {
			m.Spec.RefreshInterval = &metav1.Duration{Duration: time.Hour}
		}, "refreshInterval must be at least 3h"),
		Entry("deletionPolicy is unknown", func(m *mxv1alpha1.MXMember) {
			m.Spec.DeletionPolicy = "Keep"
		}, `supported values: "Delete", "Orphan"`),
		Entry("institutionCode is empty", func(m *mxv1alpha1.MXMember) {
			m.Spec.InstitutionCode = ""
		}, "spec.institutionCode"),
		Entry("userRef names no valid object name", func(m *mxv1alpha1.MXMember) {
			m.Spec.UserRef.Name = "Not A Name"
		}, "spec.userRef.name"),
		Entry("id has white space", func(m *mxv1alpha1.MXMember) {
			m.Spec.ID = "has space"
		}, "spec.id"),
	)

	It("rejects an MXUser with an unknown deletionPolicy or a malformed email", func(ctx context.Context) {
		u := &mxv1alpha1.MXUser{ObjectMeta: metav1.ObjectMeta{Name: "bob", Namespace: ns},
			Spec: mxv1alpha1.MXUserSpec{DeletionPolicy: "Retain"}}
		err := k8sClient.Create(ctx, u)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring(`supported values: "Delete", "Orphan"`))

		u = &mxv1alpha1.MXUser{ObjectMeta: metav1.ObjectMeta{Name: "bob", Namespace: ns},
			Spec: mxv1alpha1.MXUserSpec{Email: "not-an-email"}}
		err = k8sClient.Create(ctx, u)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("spec.email"))
	})

	DescribeTable("rejects changes to immutable MXMember fields",
		func(ctx context.Context, start func(*mxv1alpha1.MXMember), mutate func(*mxv1alpha1.MXMember), want string) {
			m := validMember(ns)
			start(m)
			Expect(k8sClient.Create(ctx, m)).To(Succeed())
			mutate(m)
			err := k8sClient.Update(ctx, m)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring(want))
		},
		Entry("institutionCode", func(*mxv1alpha1.MXMember) {}, func(m *mxv1alpha1.MXMember) {
			m.Spec.InstitutionCode = "chase"
		}, "institutionCode is immutable"),
		Entry("userRef", func(*mxv1alpha1.MXMember) {}, func(m *mxv1alpha1.MXMember) {
			m.Spec.UserRef.Name = "bob"
		}, "userRef is immutable"),
		Entry("id once set", func(m *mxv1alpha1.MXMember) { m.Spec.ID = "member-1" }, func(m *mxv1alpha1.MXMember) {
			m.Spec.ID = "member-2"
		}, "id is immutable once set"),
		Entry("id removed once set", func(m *mxv1alpha1.MXMember) { m.Spec.ID = "member-1" }, func(m *mxv1alpha1.MXMember) {
			m.Spec.ID = ""
		}, "id is immutable once set"),
		Entry("oauth", func(*mxv1alpha1.MXMember) {}, func(m *mxv1alpha1.MXMember) {
			m.Spec.OAuth = true
			m.Spec.CredentialsSecretRef = nil
		}, "oauth is immutable"),
		Entry("connectWidget", func(*mxv1alpha1.MXMember) {}, func(m *mxv1alpha1.MXMember) {
			m.Spec.ConnectWidget = &mxv1alpha1.ConnectWidgetSpec{}
			m.Spec.CredentialsSecretRef = nil
		}, "connectWidget is immutable"),
	)

	It("accepts the changes a person is expected to make", func(ctx context.Context) {
		m := validMember(ns)
		Expect(k8sClient.Create(ctx, m)).To(Succeed())
		m.Spec.ID = "member-1" // setting an id that was empty is allowed
		m.Spec.Metadata = `{"k":"v"}`
		m.Spec.DisableBackgroundAggregation = true
		m.Spec.RefreshInterval = &metav1.Duration{Duration: 6 * time.Hour}
		m.Spec.Suspend = true
		m.Spec.DeletionPolicy = mxv1alpha1.DeletionPolicyOrphan
		Expect(k8sClient.Update(ctx, m)).To(Succeed())
	})

	It("rejects a change of an MXUser's id once set", func(ctx context.Context) {
		u := &mxv1alpha1.MXUser{ObjectMeta: metav1.ObjectMeta{Name: "carol", Namespace: ns},
			Spec: mxv1alpha1.MXUserSpec{ID: "customer-7"}}
		Expect(k8sClient.Create(ctx, u)).To(Succeed())
		u.Spec.ID = "customer-8"
		err := k8sClient.Update(ctx, u)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("id is immutable once set"))
	})

	It("caps the account summaries in status at 50", func(ctx context.Context) {
		m := validMember(ns)
		Expect(k8sClient.Create(ctx, m)).To(Succeed())
		for i := 0; i <= mxv1alpha1.MaxAccountSummaries; i++ {
			m.Status.Accounts = append(m.Status.Accounts, mxv1alpha1.AccountSummary{GUID: "ACT-x"})
		}
		err := k8sClient.Status().Update(ctx, m)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("status.accounts"))
	})
})
