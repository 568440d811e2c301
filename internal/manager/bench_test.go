package manager

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/testenv"
	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// BenchmarkConvergeMembers applies one MXUser with n MXMembers and waits until every member is
// Ready, through the real manager (RunWithConfig, default flags) against the MX sandbox over
// HTTP. It reports what one member costs: MX calls, writes to the API server (finalizer and
// status), and wall time per member; figures only, no assertions. Run it with
//
//	make bench
func BenchmarkConvergeMembers(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a control plane")
	}
	env, err := testenv.New()
	if err != nil {
		b.Skip(err.Error())
	}
	cfg, err := env.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = env.Stop() })
	scheme, err := Scheme()
	if err != nil {
		b.Fatal(err)
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		b.Fatal(err)
	}
	sb := sandbox.New(sandbox.Options{ClientID: "bench", APIKey: "bench-key", AggregationDuration: 100 * time.Millisecond})
	srv := httptest.NewServer(sb)
	b.Cleanup(func() { srv.Close(); sb.Close() })
	b.Setenv("MX_CLIENT_ID", "bench")
	b.Setenv("MX_API_KEY", "bench-key")
	opts, err := ParseFlags([]string{"--mx-base-url=" + srv.URL, "--metrics-bind-address=0", "--health-probe-bind-address=0"})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunWithConfig(ctx, cfg, opts) }()
	b.Cleanup(func() { cancel(); <-done })

	run := 0
	for _, n := range []int{10, 50} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			var calls, writes, members int
			var elapsed time.Duration
			for b.Loop() {
				run++
				c0 := sb.TotalCalls()
				w, took := convergeOnce(b, c, fmt.Sprintf("bench-%d", run), n)
				calls += sb.TotalCalls() - c0
				writes += w
				elapsed += took
				members += n
			}
			b.ReportMetric(float64(calls)/float64(members), "mx-calls/member")
			b.ReportMetric(float64(writes)/float64(members), "writes/member")
			b.ReportMetric(elapsed.Seconds()/float64(members), "s/member")
		})
	}
}

// convergeOnce creates a namespace with one user and n members with distinct credentials, waits
// until all members are Ready, and returns the MXMember writes it saw and the time it took.
func convergeOnce(b *testing.B, c client.WithWatch, ns string, n int) (int, time.Duration) {
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	w, err := c.Watch(ctx, &mxv1alpha1.MXMemberList{}, client.InNamespace(ns))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	var writes atomic.Int64
	ready := make(chan struct{})
	go func() {
		readyNames := map[string]bool{}
		for ev := range w.ResultChan() {
			m, ok := ev.Object.(*mxv1alpha1.MXMember)
			if !ok || ev.Type != watch.Modified {
				continue
			}
			writes.Add(1)
			if meta.IsStatusConditionTrue(m.Status.Conditions, mxv1alpha1.ReadyCondition) && !readyNames[m.Name] {
				readyNames[m.Name] = true
				if len(readyNames) == n {
					close(ready)
				}
			}
		}
	}()

	start := time.Now()
	objs := []client.Object{&mxv1alpha1.MXUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "user"}}}
	for i := range n {
		name := fmt.Sprintf("member-%d", i)
		objs = append(objs,
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				StringData: map[string]string{"username": fmt.Sprintf("mxuser-%d", i), "password": "password"}},
			&mxv1alpha1.MXMember{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: mxv1alpha1.MXMemberSpec{
				UserRef: mxv1alpha1.LocalObjectReference{Name: "user"}, InstitutionCode: "mxbank",
				CredentialsSecretRef: &mxv1alpha1.LocalObjectReference{Name: name},
			}})
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-ready:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d members did not all become Ready within 5m", n)
	}
	return int(writes.Load()), time.Since(start)
}
