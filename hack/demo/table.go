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

func (t *table) render(members []mxv1alpha1.MXMember) {
	if t.tty {
		var b strings.Builder
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(tableHeader, "\t"))
		for _, m := range members {
			fmt.Fprintln(tw, strings.Join(row(m), "\t"))
		}
		tw.Flush()
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
	for _, m := range members {
		line := strings.Join(row(m), " | ")
		if t.lastRows[m.Name] == line {
			continue
		}
		t.lastRows[m.Name] = line
		fmt.Fprintf(t.w, "%s %s\n", time.Now().Format("15:04:05"), line)
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
