package controller

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/mxoperator/mx-operator/internal/mx"
)

// readmeConditions parses the README's conditions table: for each row, the condition it names
// (Ready, Reconciling, Stalled, Suspended), its reasons, and the connection statuses its meaning
// names.
func readmeConditions(t *testing.T) []readmeRow {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	start := strings.Index(text, "## Conditions")
	if start < 0 {
		t.Fatal("README.md has no Conditions section")
	}
	text = text[start:]
	if end := strings.Index(text[3:], "\n## "); end > 0 {
		text = text[:end+3]
	}
	cell := regexp.MustCompile("^`(Ready|Reconciling|Stalled|Suspended)(=True)?` \\(([^)]*)\\)")
	code := regexp.MustCompile("`([A-Za-z]+)`")
	upper := regexp.MustCompile(`\b[A-Z]{4,}\b`)
	var rows []readmeRow
	for _, line := range strings.Split(text, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		m := cell.FindStringSubmatch(strings.TrimSpace(cells[1]))
		if m == nil {
			continue
		}
		row := readmeRow{condition: m[1]}
		for _, r := range code.FindAllStringSubmatch(m[3], -1) {
			row.reasons = append(row.reasons, r[1])
		}
		for _, w := range upper.FindAllString(cells[2], -1) {
			if s := mx.ConnectionStatus(w); s.Known() {
				row.statuses = append(row.statuses, s)
			}
		}
		rows = append(rows, row)
	}
	if len(rows) < 10 {
		t.Fatalf("found only %d rows in the README's conditions table", len(rows))
	}
	return rows
}

type readmeRow struct {
	condition string
	reasons   []string
	statuses  []mx.ConnectionStatus
}

// TestStatusRulesMatchTheREADME proves the README's conditions table mirrors statusRules: every
// rule's condition and reason has a row, and every status a row names has that row's reason.
func TestStatusRulesMatchTheREADME(t *testing.T) {
	g := NewWithT(t)
	rows := readmeConditions(t)
	documented := map[string]string{} // reason → condition
	for _, r := range rows {
		for _, reason := range r.reasons {
			documented[reason] = r.condition
		}
	}
	for status, row := range statusRules {
		for _, rule := range []statusRule{row.busy, row.idle} {
			g.Expect(documented).To(HaveKeyWithValue(rule.reason, rule.verdict.String()),
				"the README documents %s with reason %s (status %s)", rule.verdict, rule.reason, status)
		}
	}
	for _, r := range rows {
		for _, reason := range r.reasons {
			// A reason that is a status in CamelCase stands for that status.
			status := mx.ConnectionStatus(strings.ToUpper(reason))
			if !status.Known() || status == mx.StatusNone {
				continue
			}
			rule := statusRules[status].idle
			g.Expect(rule.verdict.String()+"/"+rule.reason).To(Equal(r.condition+"/"+reason), "the README's row for %s", status)
		}
		for _, status := range r.statuses {
			row := statusRules[status]
			g.Expect([]string{row.busy.reason, row.idle.reason}).To(ContainElement(BeElementOf(r.reasons)),
				"the README row %s %v names %s: its rule says the same", r.condition, r.reasons, status)
		}
	}
}
