package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"
	apimeta "k8s.io/apimachinery/pkg/api/meta"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
)

// table prints the members: redrawn in place on a terminal, else one line per member whose row
// changed.
type table struct {
	w         io.Writer
	tty       bool
	lastLines int
	lastRows  map[string]string
}

func newTable(w io.Writer, tty bool) *table {
	return &table{w: w, tty: tty, lastRows: map[string]string{}}
}

var tableHeader = []string{"NAME", "USER", "INSTITUTION", "STATUS", "READY", "ACCOUNTS", "MESSAGE"}

func row(m mxv1alpha1.MXMember) []string {
	ready := "Unknown"
	if c := apimeta.FindStatusCondition(m.Status.Conditions, mxv1alpha1.ReadyCondition); c != nil {
		ready = string(c.Status)
	}
	status := m.Status.ConnectionStatus
	if c := apimeta.FindStatusCondition(m.Status.Conditions, mxv1alpha1.StalledCondition); status == "" && c != nil && c.Status == "True" {
		status = c.Reason // AwaitingEndUser: no MX member yet
	}
	if status == "" {
		status = "-"
	}
	return []string{m.Name, m.Spec.UserRef.Name, m.Spec.InstitutionCode, status, ready,
		strconv.Itoa(int(m.Status.AccountCount)), truncate(readyMessage(m), 90)}
}

// truncate cuts s to at most n runes, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n || n < 1 {
		return s
	}
	return string(r[:n-1]) + "…"
}

// terminalWidth is the width of the terminal on stdout, or 0 when unknown.
func terminalWidth() int {
	w, _, err := term.GetSize(int(os.Stdout.Fd()))
	if err != nil {
		return 0
	}
	return w
}

// block is more rows printed below the members, under a header of their own; a row's first
// field names it.
type block struct {
	header []string
	rows   [][]string
}

// render prints the members, then each of more.
func (t *table) render(members []mxv1alpha1.MXMember, more ...block) {
	memberRows := make([][]string, len(members))
	for i, m := range members {
		memberRows[i] = row(m)
	}
	blocks := append([]block{{header: tableHeader, rows: memberRows}}, more...)
	if t.tty {
		var b strings.Builder
		for i, bl := range blocks {
			if i > 0 {
				b.WriteString("\n")
			}
			tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, strings.Join(bl.header, "\t"))
			for _, r := range bl.rows {
				fmt.Fprintln(tw, strings.Join(r, "\t"))
			}
			tw.Flush()
		}
		fmt.Fprintf(&b, "updated %s\n", time.Now().Format("15:04:05"))
		// Every row fits the terminal's width, so the cursor moves back over exactly the lines
		// printed last time.
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if width := terminalWidth(); width > 0 {
			for i := range lines {
				lines[i] = truncate(lines[i], width)
			}
		}
		if t.lastLines > 0 {
			fmt.Fprintf(t.w, "\033[%dA\033[J", t.lastLines)
		}
		fmt.Fprintln(t.w, strings.Join(lines, "\n"))
		t.lastLines = len(lines)
		return
	}
	for _, bl := range blocks {
		for _, r := range bl.rows {
			line, key := strings.Join(r, " | "), bl.header[0]+"/"+r[0]
			if t.lastRows[key] == line {
				continue
			}
			t.lastRows[key] = line
			fmt.Fprintf(t.w, "%s %s\n", time.Now().Format("15:04:05"), line)
		}
	}
}

// progress shows what the demo is doing while it starts: a line redrawn in place on a terminal
// with the elapsed time, else plain lines.
type progress struct {
	w       io.Writer
	tty     bool
	started time.Time
	current string
	active  bool
}

func newProgress(w io.Writer, tty bool) *progress { return &progress{w: w, tty: tty} }

// step starts a new step.
func (p *progress) step(msg string) {
	p.finishLine()
	p.current, p.started, p.active = msg, time.Now(), true
	if p.tty {
		fmt.Fprintf(p.w, "• %s", msg)
		return
	}
	fmt.Fprintf(p.w, "• %s\n", msg)
}

// detail reports progress inside the current step.
func (p *progress) detail(msg string) {
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K• %s (%s): %s", p.current, time.Since(p.started).Round(time.Second), msg)
		return
	}
	fmt.Fprintf(p.w, "  %s\n", msg)
}

func (p *progress) finishLine() {
	if p.tty && p.active {
		fmt.Fprintf(p.w, "\r\033[K✓ %s (%s)\n", p.current, time.Since(p.started).Round(100*time.Millisecond))
	}
	p.active = false
}

// done ends the last step.
func (p *progress) done() { p.finishLine() }
