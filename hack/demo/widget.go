package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// Annotations on the demo's MXMembers that make the demo play the end user in the Connect widget.
const (
	connectInWidgetAfterAnnotation = "demo.mxoperator.dev/connect-in-widget-after"
	repairInWidgetAnnotation       = "demo.mxoperator.dev/repair-in-widget-with"
)

// widgetPlayer plays the end user in MX's Connect widget: it connects a widget member a while
// after its URL is in the Secret, and asks for (then uses) a repair URL for a DENIED member, as
// a person handed those URLs would.
type widgetPlayer struct {
	urlSince map[string]time.Time
	done     map[string]bool
}

func newWidgetPlayer() *widgetPlayer {
	return &widgetPlayer{urlSince: map[string]time.Time{}, done: map[string]bool{}}
}

// play acts on one member. The end user types a password of their own in the widget (mxbank
// connects any password but its test words; the same credentials twice would be a duplicate).
func (w *widgetPlayer) play(ctx context.Context, s *stack, m mxv1alpha1.MXMember) error {
	if w.done[m.Name] {
		return nil
	}
	if wait, err := time.ParseDuration(m.Annotations[connectInWidgetAfterAnnotation]); err == nil && m.Status.GUID == "" {
		url, err := w.urlFor(ctx, s, m, mxv1alpha1.EndUserURLConnectWidget)
		if err != nil || url == "" || time.Since(w.urlSince[m.Name]) < wait {
			return err
		}
		if _, err := s.sandbox.ConnectThroughWidget(url, sandbox.WidgetConnect{Username: "mxuser", Password: "widget-password"}); err != nil {
			return fmt.Errorf("connecting %s in the widget: %w", m.Name, err)
		}
		w.done[m.Name] = true
		return nil
	}
	password, ok := m.Annotations[repairInWidgetAnnotation]
	if !ok || m.Status.ConnectionStatus != "DENIED" {
		return nil
	}
	if m.Annotations[mxv1alpha1.URLRequestedAtAnnotation] == "" {
		patched := m.DeepCopy()
		patched.Annotations[mxv1alpha1.URLRequestedAtAnnotation] = time.Now().UTC().Format(time.RFC3339)
		return s.k8s.Update(ctx, patched)
	}
	url, err := w.urlFor(ctx, s, m, mxv1alpha1.EndUserURLRepairWidget)
	if err != nil || url == "" {
		return err
	}
	if err := s.sandbox.RepairThroughWidget(url, sandbox.WidgetRepair{Username: "mxuser", Password: password}); err != nil {
		return fmt.Errorf("repairing %s in the widget: %w", m.Name, err)
	}
	w.done[m.Name] = true
	return nil
}

// urlFor returns the URL of kind in the member's end-user URL Secret ("" while there is none),
// and notes when it first saw one.
func (w *widgetPlayer) urlFor(ctx context.Context, s *stack, m mxv1alpha1.MXMember, kind mxv1alpha1.EndUserURLKind) (string, error) {
	if u := m.Status.EndUserURL; u == nil || !u.Available || u.Kind != kind {
		return "", nil
	}
	secret := &corev1.Secret{}
	err := s.k8s.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: m.Status.EndUserURL.SecretName}, secret)
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	url := string(secret.Data["url"])
	if url != "" {
		if _, ok := w.urlSince[m.Name]; !ok {
			w.urlSince[m.Name] = time.Now()
		}
	}
	return url, nil
}
