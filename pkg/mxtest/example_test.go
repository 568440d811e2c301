package mxtest_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/pkg/mxsandbox"
	"github.com/mxoperator/mx-operator/pkg/mxtest"
)

// The CRDs are embedded: no path to this module is needed.
func ExampleCRDs() {
	for _, crd := range mxtest.CRDs() {
		fmt.Println(crd.Name, crd.Spec.Names.Kind)
	}
	// Output:
	// mxmembers.mx.mxoperator.dev MXMember
	// mxtransactionsyncs.mx.mxoperator.dev MXTransactionSync
	// mxusers.mx.mxoperator.dev MXUser
}

// An envtest environment with the suite's own CRDs and mx-operator's.
func ExampleInstallCRDs() {
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{"config/crd/bases"}, // the suite's own CRDs
		BinaryAssetsDirectory: os.Getenv("KUBEBUILDER_ASSETS"),
	}
	mxtest.InstallCRDs(env)
	cfg, err := env.Start()
	if err != nil {
		panic(err)
	}
	defer func() { _ = env.Stop() }()
	_ = cfg // for the suite's clients and managers
}

// A test runs mx-operator against a sandbox, creates a member whose mxbank password connects,
// and asserts what MX saw. cfg is the suite's envtest config; each test uses its own namespace.
func ExampleRun() {
	testMemberConnects := func(t *testing.T, cfg *rest.Config, c client.Client, ns string) {
		sb := mxsandbox.Start(t, mxsandbox.Options{AggregationDuration: 200 * time.Millisecond})
		mxtest.Run(t, cfg, sb, mxtest.WithNamespaces(ns))

		ctx := context.Background()
		for _, obj := range []client.Object{
			&mxv1alpha1.MXUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice"}},
			&corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice-creds"},
				StringData: map[string]string{"username": "mxuser", "password": "password"},
			},
			&mxv1alpha1.MXMember{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice-bank"},
				Spec: mxv1alpha1.MXMemberSpec{
					UserRef:              mxv1alpha1.LocalObjectReference{Name: "alice"},
					InstitutionCode:      mxsandbox.InstitutionMXBank,
					CredentialsSecretRef: &mxv1alpha1.LocalObjectReference{Name: "alice-creds"},
				},
			},
		} {
			if err := c.Create(ctx, obj); err != nil {
				t.Fatal(err)
			}
		}
		// ... wait (gomega's Eventually, or a polling loop with a deadline) until the
		// MXMember's status.connectionStatus is CONNECTED, then:
		if n := sb.CallCount(mxsandbox.EndpointCreateMember); n != 1 {
			t.Errorf("MX saw %d member creations, want 1", n)
		}
	}
	_ = testMemberConnects
}

// mx-operator's controllers in the suite's own manager, next to the suite's controllers.
func ExampleSetupOperator() {
	var cfg *rest.Config // from env.Start()
	sb, err := mxsandbox.NewServer(mxsandbox.Options{AggregationDuration: 200 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	defer sb.Close()

	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = mxv1alpha1.AddToScheme(scheme)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:     scheme,
		Client:     mxtest.ClientOptions(),
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}, // more than one manager per process
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := mxtest.SetupOperator(ctx, mgr, sb.URL()); err != nil {
		panic(err)
	}
	// ... set up the suite's own controllers with mgr, then:
	go func() { _ = mgr.Start(ctx) }()
}
