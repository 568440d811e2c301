package controller

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// mxTime converts an MX timestamp to the second precision a Kubernetes status keeps, so that
// comparing a fresh MX value with a stored one does not see a change that is not there.
func mxTime(t *time.Time) *metav1.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}

// timeEqual reports whether two optional timestamps are the same second.
func timeEqual(a, b *metav1.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Truncate(time.Second).Equal(b.Truncate(time.Second))
}

// statusTime returns now at the second precision a Kubernetes status keeps.
func statusTime(now time.Time) *metav1.Time {
	t := metav1.NewTime(now.UTC().Truncate(time.Second))
	return &t
}

// formatTime renders a time for a condition message (UTC, RFC 3339, seconds).
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// namesList renders at most max sorted names, "a, b and 3 more".
func namesList(names []string, limit int) string {
	names = slices.Clone(names)
	slices.Sort(names)
	if len(names) <= limit {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:limit], ", "), len(names)-limit)
}

// joinSentences joins the non-empty sentences with a space.
func joinSentences(sentences ...string) string {
	out := make([]string, 0, len(sentences))
	for _, s := range sentences {
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}
