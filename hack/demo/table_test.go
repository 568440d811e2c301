package main

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
)

func TestTruncateCutsRunesNotBytes(t *testing.T) {
	g := NewWithT(t)
	g.Expect(truncate("short", 10)).To(Equal("short"))
	cut := truncate("Déjà vu, encore déjà vu", 8)
	g.Expect(utf8.ValidString(cut)).To(BeTrue())
	g.Expect([]rune(cut)).To(HaveLen(8))
	g.Expect(cut).To(Equal("Déjà vu…"))
}

func demoMember(status string, ready metav1.ConditionStatus, msg string) mxv1alpha1.MXMember {
	m := mxv1alpha1.MXMember{ObjectMeta: metav1.ObjectMeta{Name: "jordan-checking"}}
	m.Spec.UserRef.Name, m.Spec.InstitutionCode = "jordan", "mxbank"
	m.Status.ConnectionStatus = status
	m.Status.Conditions = []metav1.Condition{{Type: mxv1alpha1.ReadyCondition, Status: ready, Reason: "R", Message: msg}}
	return m
}

func TestPlainTablePrintsARowOnlyWhenItChanged(t *testing.T) {
	g := NewWithT(t)
	var out bytes.Buffer
	tbl := newTable(&out, false)
	aggregating := demoMember("CREATED", metav1.ConditionFalse, "MX is aggregating")
	tbl.render([]mxv1alpha1.MXMember{aggregating})
	tbl.render([]mxv1alpha1.MXMember{aggregating})
	tbl.render([]mxv1alpha1.MXMember{demoMember("CONNECTED", metav1.ConditionTrue, "Connected")})

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	g.Expect(lines).To(HaveLen(2))
	g.Expect(lines[0]).To(HaveSuffix("jordan-checking | jordan | mxbank | CREATED | False | 0 | MX is aggregating"))
	g.Expect(lines[1]).To(HaveSuffix("jordan-checking | jordan | mxbank | CONNECTED | True | 0 | Connected"))
	g.Expect(out.String()).NotTo(ContainSubstring("\033["))
}

func TestTerminalTableRedrawsInPlace(t *testing.T) {
	g := NewWithT(t)
	var out bytes.Buffer
	tbl := newTable(&out, true)
	members := []mxv1alpha1.MXMember{demoMember("CREATED", metav1.ConditionFalse, "MX is aggregating")}
	tbl.render(members)
	g.Expect(out.String()).NotTo(ContainSubstring("\033["), "nothing to move back over the first time")
	first := strings.Count(out.String(), "\n")
	g.Expect(first).To(Equal(3), "header, one member, the update time")

	out.Reset()
	tbl.render(members)
	g.Expect(out.String()).To(HavePrefix("\033[3A\033[J"), "moves up over the 3 lines printed before and clears them")
}

func TestTablesPrintMoreBlocksBelowTheMembers(t *testing.T) {
	g := NewWithT(t)
	members := []mxv1alpha1.MXMember{demoMember("CONNECTED", metav1.ConditionTrue, "Connected")}
	syncs := block{header: []string{"SYNC", "DELIVERED"}, rows: [][]string{{"jordan-ledger", "0"}}}

	var plain bytes.Buffer
	tbl := newTable(&plain, false)
	tbl.render(members, syncs)
	tbl.render(members, syncs)
	tbl.render(members, block{header: syncs.header, rows: [][]string{{"jordan-ledger", "130"}}})
	lines := strings.Split(strings.TrimSpace(plain.String()), "\n")
	g.Expect(lines).To(HaveLen(3), "the member once, the sync row each time it changed")
	g.Expect(lines[1]).To(HaveSuffix("jordan-ledger | 0"))
	g.Expect(lines[2]).To(HaveSuffix("jordan-ledger | 130"))

	var tty bytes.Buffer
	tbl = newTable(&tty, true)
	tbl.render(members, syncs)
	g.Expect(strings.Count(tty.String(), "\n")).To(Equal(6), "header, member, a blank line, the block's header and row, the update time")
	tty.Reset()
	tbl.render(members, syncs)
	g.Expect(tty.String()).To(HavePrefix("\033[6A\033[J"))
}
