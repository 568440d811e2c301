package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/testenv"
)

// The namespace the demo applies its manifests to.
const demoNamespace = "demo"

// Annotations on the demo's MXMembers that tell the demo what to expect and where to play the
// end user. The operator ignores them.
const (
	expectAnnotation         = "demo.mxoperator.dev/expect"
	answerMFAAnnotation      = "demo.mxoperator.dev/answer-mfa"
	authorizeAfterAnnotation = "demo.mxoperator.dev/authorize-oauth-after"
)

// run starts the stack, applies the demo manifests and follows the members until Ctrl-C or, with
// --exit-when-settled, until every member settled (nil) or the timeout passed (errNotSettled).
func run(ctx context.Context, opts options) error {
	p := newProgress(opts.out, opts.tty)
	s, err := start(ctx, opts, p)
	if err != nil {
		p.done()
		return err
	}
	led := startLedger()
	defer func() {
		fmt.Fprintln(opts.out, led.summary())
		fmt.Fprintln(opts.out, "Stopping the manager, the MX sandbox and the control plane…")
		s.stop()
		led.close()
		fmt.Fprintln(opts.out, "Cleaned up.")
	}()

	p.step("applying hack/demo/manifests")
	if err := apply(ctx, s.k8s, filepath.Join(testenv.RepoRoot(), "hack", "demo", "manifests")); err != nil {
		p.done()
		return fmt.Errorf("applying the demo manifests: %w", err)
	}
	if err := led.apply(ctx, s.k8s); err != nil {
		p.done()
		return fmt.Errorf("applying the demo's transaction sync: %w", err)
	}
	p.done()
	printExplore(opts.out, s)

	var deadline <-chan time.Time
	if opts.exitWhenSettled {
		t := time.NewTimer(opts.timeout)
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	table := newTable(opts.out, opts.tty)
	pendingSince := map[string]time.Time{}
	widget := newWidgetPlayer()
	for {
		members := &mxv1alpha1.MXMemberList{}
		if err := s.k8s.List(ctx, members, client.InNamespace(demoNamespace)); err != nil && ctx.Err() == nil {
			return fmt.Errorf("listing the demo members: %w", err)
		}
		sort.Slice(members.Items, func(i, j int) bool { return members.Items[i].Name < members.Items[j].Name })
		if err := playEndUser(ctx, s, members.Items, pendingSince); err != nil && ctx.Err() == nil {
			return err
		}
		for _, m := range members.Items {
			if err := widget.play(ctx, s, m); err != nil && ctx.Err() == nil && !apierrors.IsConflict(err) {
				return err
			}
		}
		syncs, syncsSettled, err := led.syncs(ctx, s.k8s)
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("listing the demo's transaction syncs: %w", err)
		}
		table.render(members.Items, syncs)
		if opts.exitWhenSettled && allSettled(members.Items) && syncsSettled {
			fmt.Fprintln(opts.out, "Every demo member reached its expected state.")
			fmt.Fprintf(opts.out, "%s delivered the member's transactions to the receiver.\n", ledgerSync)
			return nil
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(opts.out)
			return nil
		case err := <-s.managerEnd:
			s.managerEnd <- err
			return fmt.Errorf("the manager exited (%v); the end of %s:\n%s", err, s.managerLog, tailFile(s.managerLog, 20))
		case <-deadline:
			for _, m := range members.Items {
				if !settled(m) {
					fmt.Fprintf(opts.out, "%s: expected %s, is %q (%s)\n", m.Name, m.Annotations[expectAnnotation],
						m.Status.ConnectionStatus, readyMessage(m))
				}
			}
			if !syncsSettled {
				fmt.Fprintf(opts.out, "%s: expected Ready with transactions at the receiver\n", ledgerSync)
			}
			fmt.Fprintf(opts.out, "The manager's log: %s\n%s\n", s.managerLog, tailFile(s.managerLog, 20))
			return errNotSettled
		case <-tick.C:
		}
	}
}

// apply creates the namespace and every object of every YAML file in dir, in file order.
func apply(ctx context.Context, c client.Client, dir string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: demoNamespace}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	objs, err := testenv.DecodeYAMLFiles(files)
	if err != nil {
		return err
	}
	for _, u := range objs {
		u.SetNamespace(demoNamespace)
		if err := c.Create(ctx, u); err != nil {
			return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}

// playEndUser does what a person would: writes the MFA answers Secret once challenges show, and
// authorises an OAuth connection in the sandbox a while after it shows PENDING.
func playEndUser(ctx context.Context, s *stack, members []mxv1alpha1.MXMember, pendingSince map[string]time.Time) error {
	for _, m := range members {
		switch m.Status.ConnectionStatus {
		case "CHALLENGED":
			answer, ok := m.Annotations[answerMFAAnnotation]
			if !ok || m.Spec.MFA == nil || m.Spec.MFA.AnswersSecretRef == nil || len(m.Status.Challenges) == 0 {
				continue
			}
			secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: m.Spec.MFA.AnswersSecretRef.Name, Namespace: m.Namespace}}
			err := s.k8s.Get(ctx, client.ObjectKeyFromObject(secret), secret)
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			exists := err == nil
			if secret.Data == nil {
				secret.Data = map[string][]byte{}
			}
			changed := false
			for _, ch := range m.Status.Challenges {
				if _, ok := secret.Data[ch.GUID]; !ok {
					secret.Data[ch.GUID] = []byte(answer)
					changed = true
				}
			}
			switch {
			case !changed:
			case exists:
				err = s.k8s.Update(ctx, secret)
			default:
				err = s.k8s.Create(ctx, secret)
			}
			if err != nil {
				return fmt.Errorf("writing the MFA answers for %s: %w", m.Name, err)
			}
		case "PENDING":
			wait, err := time.ParseDuration(m.Annotations[authorizeAfterAnnotation])
			if err != nil || m.Status.GUID == "" {
				continue
			}
			since, ok := pendingSince[m.Name]
			if !ok {
				pendingSince[m.Name] = time.Now()
				continue
			}
			if time.Since(since) >= wait {
				delete(pendingSince, m.Name)
				if err := s.sandbox.AuthorizeOAuth(m.Status.GUID); err != nil {
					return fmt.Errorf("authorising %s in the sandbox: %w", m.Name, err)
				}
			}
		}
	}
	return nil
}

// settled reports whether a member reached the state its expect annotation names: CONNECTED
// with Ready=True and accounts listed, or a needs-the-end-user state reported as Stalled.
func settled(m mxv1alpha1.MXMember) bool {
	want := m.Annotations[expectAnnotation]
	if m.Status.ConnectionStatus != want || m.Status.ObservedGeneration != m.Generation {
		return false
	}
	if want == "CONNECTED" {
		return apimeta.IsStatusConditionTrue(m.Status.Conditions, mxv1alpha1.ReadyCondition) && m.Status.AccountCount > 0
	}
	return apimeta.IsStatusConditionTrue(m.Status.Conditions, mxv1alpha1.StalledCondition)
}

func allSettled(members []mxv1alpha1.MXMember) bool {
	if len(members) == 0 {
		return false
	}
	for _, m := range members {
		if !settled(m) {
			return false
		}
	}
	return true
}

// readyMessage is the message a person should read first: Stalled's, else Reconciling's, else Ready's.
func readyMessage(m mxv1alpha1.MXMember) string {
	for _, t := range []string{mxv1alpha1.StalledCondition, mxv1alpha1.ReconcilingCondition} {
		if c := apimeta.FindStatusCondition(m.Status.Conditions, t); c != nil && c.Status == metav1.ConditionTrue {
			return c.Message
		}
	}
	if c := apimeta.FindStatusCondition(m.Status.Conditions, mxv1alpha1.ReadyCondition); c != nil {
		return c.Message
	}
	return ""
}

// printExplore prints how to look at the demo with kubectl while it runs.
func printExplore(w io.Writer, s *stack) {
	kubectl := filepath.Join(s.assets, "kubectl")
	fmt.Fprintf(w, `
The operator is running. In another terminal, explore:

  export KUBECONFIG=%s
  alias kubectl=%s
  kubectl get mxu,mxm,mxts -n demo
  kubectl describe mxm jordan-card -n demo
  kubectl get events -n demo
  kubectl explain mxmember.spec

MX sandbox: %s   manager log: %s
Press Ctrl-C to stop; everything the demo started is cleaned up.

`, s.kubeconfig, kubectl, s.sandboxURL, s.managerLog)
}
