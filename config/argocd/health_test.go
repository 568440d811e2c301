// Package argocd_test proves that the Argo CD health check in health.lua and kstatus
// (sigs.k8s.io/cli-utils, what Flux and kpt use) judge MXUser and MXMember objects alike.
package argocd_test

import (
	"encoding/json"
	"os"
	"testing"

	. "github.com/onsi/gomega"
	lua "github.com/yuin/gopher-lua"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
)

// argoHealth runs health.lua the way Argo CD does: the object, decoded from JSON, is the global
// `obj`, and the script returns a table with status and message.
func argoHealth(t *testing.T, obj map[string]any) (string, string) {
	t.Helper()
	script, err := os.ReadFile("health.lua")
	if err != nil {
		t.Fatal(err)
	}
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(string(script)); err != nil {
		t.Fatalf("health.lua: %v", err)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("health.lua returned %s, not a table", L.Get(-1).Type())
	}
	return hs.RawGetString("status").String(), hs.RawGetString("message").String()
}

// toLua converts a JSON-decoded value into Lua values, numbers as Lua numbers like Argo CD.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case []any:
		t := L.NewTable()
		for _, e := range v {
			t.Append(toLua(L, e))
		}
		return t
	case map[string]any:
		t := L.NewTable()
		for k, e := range v {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	default:
		panic("unexpected JSON value")
	}
}

// judge returns what kstatus and health.lua make of obj.
func judge(t *testing.T, obj runtime.Object) (status.Status, string, string) {
	t.Helper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	if err != nil {
		t.Fatal(err)
	}
	// Argo CD sees the object as JSON, so numbers arrive as float64.
	data, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	var asJSON map[string]any
	if err := json.Unmarshal(data, &asJSON); err != nil {
		t.Fatal(err)
	}
	health, msg := argoHealth(t, asJSON)
	return res.Status, health, msg
}

func cond(typ string, s metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg, LastTransitionTime: metav1.Now()}
}

func member(generation, observed int64, conds ...metav1.Condition) *mxv1alpha1.MXMember {
	m := &mxv1alpha1.MXMember{
		TypeMeta:   metav1.TypeMeta{APIVersion: mxv1alpha1.GroupVersion.String(), Kind: "MXMember"},
		ObjectMeta: metav1.ObjectMeta{Name: "m", Namespace: "ns", Generation: generation},
	}
	m.Status.ObservedGeneration = observed
	m.Status.Conditions = conds
	return m
}

func TestArgoCDHealthAgreesWithKstatus(t *testing.T) {
	now := metav1.Now()
	deleting := member(1, 1, cond("Ready", "True", "Succeeded", "Connected"))
	deleting.DeletionTimestamp = &now
	user := &mxv1alpha1.MXUser{
		TypeMeta:   metav1.TypeMeta{APIVersion: mxv1alpha1.GroupVersion.String(), Kind: "MXUser"},
		ObjectMeta: metav1.ObjectMeta{Name: "u", Namespace: "ns", Generation: 2},
		Status: mxv1alpha1.MXUserStatus{ObservedGeneration: 2, Conditions: []metav1.Condition{
			cond("Ready", "True", "Succeeded", "The user exists in MX")}},
	}

	cases := []struct {
		reason  string
		obj     runtime.Object
		kstatus status.Status
		argo    string
	}{
		{"a connected member", member(1, 1, cond("Ready", "True", "Succeeded", "Connected")),
			status.CurrentStatus, "Healthy"},
		{"a member MX is aggregating", member(1, 1,
			cond("Ready", "False", "Aggregating", "MX is aggregating"),
			cond("Reconciling", "True", "Aggregating", "MX is aggregating")),
			status.InProgressStatus, "Progressing"},
		{"a member denied by the institution", member(1, 1,
			cond("Ready", "False", "Denied", "The credentials were refused"),
			cond("Stalled", "True", "Denied", "The credentials were refused")),
			status.FailedStatus, "Degraded"},
		{"a member waiting for MFA answers", member(3, 3,
			cond("Ready", "False", "Challenged", "Answer the challenges"),
			cond("Stalled", "True", "Challenged", "Answer the challenges")),
			status.FailedStatus, "Degraded"},
		{"a spec change the operator has not acted on", member(2, 1, cond("Ready", "True", "Succeeded", "Connected")),
			status.InProgressStatus, "Progressing"},
		{"a stalled member whose spec was just fixed", member(2, 1,
			cond("Ready", "False", "Denied", "Refused"), cond("Stalled", "True", "Denied", "Refused")),
			status.InProgressStatus, "Progressing"},
		{"Ready=False with no abnormal condition", member(1, 1, cond("Ready", "False", "UserNotReady", "Waiting")),
			status.InProgressStatus, "Progressing"},
		{"Ready=Unknown", member(1, 1, cond("Ready", "Unknown", "Progressing", "Starting")),
			status.InProgressStatus, "Progressing"},
		{"a member being deleted", deleting, status.TerminatingStatus, "Progressing"},
		{"a ready user", user, status.CurrentStatus, "Healthy"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			kstatus, health, _ := judge(t, tc.obj)
			g.Expect(kstatus).To(Equal(tc.kstatus), "kstatus")
			g.Expect(health).To(Equal(tc.argo), "Argo CD")
		})
	}
}

// An object the operator has not reported on yet is the one case where the two differ on
// purpose: kstatus has no signal and assumes Current; the Lua check waits (Progressing).
func TestArgoCDHealthWaitsForTheFirstReport(t *testing.T) {
	g := NewWithT(t)
	kstatus, health, msg := judge(t, member(1, 0))
	g.Expect(kstatus).To(Equal(status.CurrentStatus))
	g.Expect(health).To(Equal("Progressing"))
	g.Expect(msg).To(Equal("Waiting for the operator to report"))
}
