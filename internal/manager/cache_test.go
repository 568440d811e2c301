package manager

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/testenv"
)

// lastApplied is what kubectl apply leaves on a Secret: the whole manifest, data included.
const lastApplied = `{"apiVersion":"v1","kind":"Secret","stringData":{"password":"hunter2"}}`

func managedFields() []metav1.ManagedFieldsEntry {
	return []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply, FieldsType: "FieldsV1",
		FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:email":{}}}`)}}}
}

func TestStripUnread(t *testing.T) {
	g := NewWithT(t)
	member := &mxv1alpha1.MXMember{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "alice-bank", ManagedFields: managedFields(), Annotations: map[string]string{
			lastAppliedAnnotation: `{"spec":{}}`, mxv1alpha1.AggregateRequestedAtAnnotation: "2026-12-01T00:00:00Z",
		}},
		Spec:   mxv1alpha1.MXMemberSpec{InstitutionCode: "mxbank"},
		Status: mxv1alpha1.MXMemberStatus{GUID: "MBR-1"},
	}
	want := member.DeepCopy()
	want.ManagedFields = nil
	want.Annotations = map[string]string{mxv1alpha1.AggregateRequestedAtAnnotation: "2026-12-01T00:00:00Z"}

	got, err := StripUnread(member)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(want), "managedFields and last-applied go; the request annotations, spec and status stay")

	user := &mxv1alpha1.MXUser{ObjectMeta: metav1.ObjectMeta{Name: "alice", Annotations: map[string]string{lastAppliedAnnotation: "{}"}}}
	got, err = StripUnread(user)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.(*mxv1alpha1.MXUser).Annotations).To(BeNil(), "no empty annotations map is kept")

	tombstone := toolscache.DeletedFinalStateUnknown{Key: "team/alice", Obj: user}
	g.Expect(StripUnread(tombstone)).To(Equal(tombstone), "what has no metadata is left alone")
}

func TestStripMemberUnread(t *testing.T) {
	g := NewWithT(t)
	member := &mxv1alpha1.MXMember{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "alice-bank", ManagedFields: managedFields()},
		Status:     mxv1alpha1.MXMemberStatus{GUID: "MBR-1", AccountCount: 2, Accounts: []mxv1alpha1.AccountSummary{{GUID: "ACT-1"}, {GUID: "ACT-2"}}},
	}
	got, err := StripMemberUnread(member)
	g.Expect(err).NotTo(HaveOccurred())
	m := got.(*mxv1alpha1.MXMember)
	g.Expect(m.Status.Accounts).To(BeNil(), "the summaries are written, never read")
	g.Expect(m.Status.AccountCount).To(Equal(int32(2)))
	g.Expect(m.ManagedFields).To(BeNil(), "and what StripUnread drops")
}

func TestSecretIdentity(t *testing.T) {
	g := NewWithT(t)
	meta := metav1.ObjectMeta{
		Namespace: "team", Name: "creds", UID: types.UID("u-1"), ResourceVersion: "42",
		Labels: map[string]string{"app": "x"}, Annotations: map[string]string{lastAppliedAnnotation: lastApplied},
		ManagedFields: managedFields(), Finalizers: []string{"example.com/keep"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: "u-2"}},
	}
	identity := metav1.ObjectMeta{Namespace: "team", Name: "creds", UID: types.UID("u-1"), ResourceVersion: "42"}

	md := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: *meta.DeepCopy()}
	got, err := SecretIdentity(md)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(&metav1.PartialObjectMetadata{TypeMeta: md.TypeMeta, ObjectMeta: identity}),
		"the metadata watch keeps what membersOfSecret and the revision checks read")

	full := &corev1.Secret{ObjectMeta: *meta.DeepCopy(), Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("hunter2")}}
	got, err = SecretIdentity(full)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(&corev1.Secret{ObjectMeta: identity, Type: corev1.SecretTypeOpaque}), "a full Secret is cached without its data")
}

// TestCacheOptionsInACache builds the manager's cache (CacheOptions) against an API server and
// reads back what it holds: an MXUser applied with kubectl-style managed fields and last-applied
// annotation has neither, and a Secret watched for its metadata keeps only its identity.
func TestCacheOptionsInACache(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	g := NewWithT(t)
	env, err := testenv.New()
	g.Expect(err).NotTo(HaveOccurred())
	cfg, err := env.Start()
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { g.Expect(env.Stop()).To(Succeed()) }()
	scheme, err := Scheme()
	g.Expect(err).NotTo(HaveOccurred())
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}})).To(Succeed())
	annotations := map[string]string{lastAppliedAnnotation: lastApplied}
	g.Expect(c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "creds", Labels: map[string]string{"app": "x"}, Annotations: annotations},
		StringData: map[string]string{"password": "hunter2"},
	})).To(Succeed())
	g.Expect(c.Create(ctx, &mxv1alpha1.MXUser{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "alice", Annotations: annotations}})).To(Succeed())
	stored := &mxv1alpha1.MXUser{}
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: "team", Name: "alice"}, stored)).To(Succeed())
	g.Expect(stored.ManagedFields).NotTo(BeEmpty(), "the API server records managed fields")

	opts := CacheOptions()
	opts.Scheme = scheme
	cached, err := cache.New(cfg, opts)
	g.Expect(err).NotTo(HaveOccurred())
	secretMeta := &metav1.PartialObjectMetadata{}
	secretMeta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	for _, obj := range []client.Object{&mxv1alpha1.MXUser{}, secretMeta} {
		_, err := cached.GetInformer(ctx, obj)
		g.Expect(err).NotTo(HaveOccurred())
	}
	go func() { _ = cached.Start(ctx) }()
	g.Expect(cached.WaitForCacheSync(ctx)).To(BeTrue())

	user := &mxv1alpha1.MXUser{}
	g.Expect(cached.Get(ctx, client.ObjectKey{Namespace: "team", Name: "alice"}, user)).To(Succeed())
	g.Expect(user.ManagedFields).To(BeEmpty())
	g.Expect(user.Annotations).NotTo(HaveKey(lastAppliedAnnotation))

	md := &metav1.PartialObjectMetadata{}
	md.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	g.Expect(cached.Get(ctx, client.ObjectKey{Namespace: "team", Name: "creds"}, md)).To(Succeed())
	g.Expect(md.ResourceVersion).NotTo(BeEmpty())
	g.Expect(md.ManagedFields).To(BeEmpty())
	g.Expect(md.Annotations).To(BeEmpty(), "the last-applied copy of the data is not cached")
	g.Expect(md.Labels).To(BeEmpty())
}

func TestBudgetEstimate(t *testing.T) {
	g := NewWithT(t)
	g.Expect(budgetEstimate(10)).To(Equal("1000 pairs need 4000 calls, about 6m40s at 10 calls/s (N pairs: N×4÷qps seconds)"))
	g.Expect(budgetEstimate(0)).To(HavePrefix("unlimited"))
}
