package v1alpha1_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
)

func validSync(ns, uri string) *mxv1alpha1.MXTransactionSync {
	return &mxv1alpha1.MXTransactionSync{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "sync-", Namespace: ns},
		Spec: mxv1alpha1.MXTransactionSyncSpec{
			MemberRef: mxv1alpha1.LocalObjectReference{Name: "alice-mxbank"},
			Sink:      mxv1alpha1.TransactionSink{URI: uri},
		},
	}
}

var _ = Describe("MXTransactionSync at admission", func() {
	var ns string
	BeforeEach(func(ctx context.Context) { ns = newNamespace(ctx) })

	It("accepts https anywhere and http only in-cluster or on loopback, with defaults, and the batched mode", func(ctx context.Context) {
		for _, uri := range []string{"https://ledger.example.com/events", "http://ledger.ns.svc:8080", "http://ledger.ns.svc.cluster.local", "http://127.0.0.1:9999", "http://localhost/x"} {
			s := validSync(ns, uri)
			Expect(k8sClient.Create(ctx, s)).To(Succeed(), uri)
			Expect(s.Spec.InitialHistoryDays).To(Equal(int32(90)))
			Expect(s.Spec.OverlapDays).To(Equal(ptr.To(int32(7))))
			Expect(s.Spec.Sink.Mode).To(Equal(mxv1alpha1.SinkModeStructured))
		}
		batched := validSync(ns, "https://ledger.example.com/events")
		batched.Spec.Sink.Mode = mxv1alpha1.SinkModeBatched
		Expect(k8sClient.Create(ctx, batched)).To(Succeed())
		ref := validSync(ns, "")
		ref.Spec.Sink = mxv1alpha1.TransactionSink{Ref: &mxv1alpha1.SinkServiceReference{Name: "ledger", Port: ptr.To(int32(8080))}}
		Expect(k8sClient.Create(ctx, ref)).To(Succeed())
	})

	It("rejects http to a public host, a non-URL, both or neither sink, more than 120 days, and an unknown mode", func(ctx context.Context) {
		for _, uri := range []string{"http://ledger.example.com/events", "ftp://ledger.svc", "not a url"} {
			err := k8sClient.Create(ctx, validSync(ns, uri))
			Expect(err).To(MatchError(ContainSubstring("sink.uri must be an https URL; http is allowed only for in-cluster Service names")), uri)
		}
		both := validSync(ns, "https://a.example.com")
		both.Spec.Sink.Ref = &mxv1alpha1.SinkServiceReference{Name: "ledger"}
		Expect(k8sClient.Create(ctx, both)).To(MatchError(ContainSubstring("set exactly one of sink.uri and sink.ref")))
		Expect(k8sClient.Create(ctx, validSync(ns, ""))).NotTo(Succeed())
		long := validSync(ns, "https://a.example.com")
		long.Spec.InitialHistoryDays = 121
		Expect(k8sClient.Create(ctx, long)).To(MatchError(ContainSubstring("initialHistoryDays may be at most 120")))
		binary := validSync(ns, "https://a.example.com")
		binary.Spec.Sink.Mode = "binary"
		Expect(k8sClient.Create(ctx, binary)).To(MatchError(And(ContainSubstring("spec.sink.mode"), ContainSubstring(`supported values: "structured", "batched"`))))
	})
})
