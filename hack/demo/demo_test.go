package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// These tests run the demo binary as a person would, with the real manager, control plane and
// sandbox. Each needs KUBEBUILDER_ASSETS (make test sets it).

// buildDemo builds this command into a temporary directory.
func buildDemo(t *testing.T) string {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set: run with make test")
	}
	bin := filepath.Join(t.TempDir(), "demo")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("building the demo: %v\n%s", err, out)
	}
	return bin
}

var kubeconfigLine = regexp.MustCompile(`export KUBECONFIG=(\S+)/kubeconfig`)

// workDirOf returns the demo's work directory, from the KUBECONFIG line it prints.
func workDirOf(g Gomega, output string) string {
	m := kubeconfigLine.FindStringSubmatch(output)
	g.Expect(m).To(HaveLen(2), "the demo prints the KUBECONFIG to export")
	return m[1]
}

func TestDemoSettlesAndCleansUp(t *testing.T) {
	g := NewWithT(t)
	bin := buildDemo(t)
	cmd := exec.Command(bin, "--exit-when-settled", "--timeout=4m")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	g.Expect(err).NotTo(HaveOccurred(), out.String())

	text := out.String()
	g.Expect(text).To(ContainSubstring("Every demo member reached its expected state."))
	// Not a terminal: plain lines, one per change, showing each story's path.
	for _, want := range []string{
		"jordan-checking | jordan | mxbank | CONNECTED | True | 6",
		"jordan-savings | jordan | mxbank | CHALLENGED | False",
		"jordan-savings | jordan | mxbank | CONNECTED | True | 6",
		"jordan-card | jordan | mxbank | DENIED | False | 0",
		"jordan-oauth | jordan | mx_bank_oauth | PENDING | False",
		"jordan-oauth | jordan | mx_bank_oauth | CONNECTED | True | 6",
		"jordan-widget | jordan | mxbank | AwaitingEndUser | False",
		"jordan-widget | jordan | mxbank | CONNECTED | True | 6",
		"jordan-loan | jordan | mxbank | DENIED | False",
		"jordan-loan | jordan | mxbank | CONNECTED | True | 6",
	} {
		g.Expect(text).To(ContainSubstring(want))
	}
	g.Expect(text).To(MatchRegexp(`jordan-checking-ledger \| jordan-checking \| \d{4}-\d{2}-\d{2} \| [1-9]\d* \| True \| [1-9]\d*`),
		"the sync's row: synced through a day, transactions delivered, Ready, the receiver holding them")
	got := regexp.MustCompile(`The CloudEvents receiver got (\d+) transactions: (\d+) events in \d+ requests, (\d+) distinct ids`).FindStringSubmatch(text)
	g.Expect(got).To(HaveLen(4), "the demo says what the receiver got")
	g.Expect(strconv.Atoi(got[1])).To(BeNumerically(">", 0), "transactions")
	g.Expect(strconv.Atoi(got[3])).To(BeNumerically(">", 0), "distinct event ids")
	g.Expect(text).NotTo(ContainSubstring("\033["), "no terminal escapes when output is not a terminal")
	g.Expect(text).To(ContainSubstring("Cleaned up."))
	g.Expect(workDirOf(g, text)).NotTo(BeADirectory(), "the work directory is removed")
}

func TestDemoStopsCleanlyOnCtrlC(t *testing.T) {
	g := NewWithT(t)
	bin := buildDemo(t)
	cmd := exec.Command(bin)
	stdout, err := cmd.StdoutPipe()
	g.Expect(err).NotTo(HaveOccurred())
	cmd.Stderr = cmd.Stdout
	g.Expect(cmd.Start()).To(Succeed())

	var out strings.Builder
	running := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if !signalled && strings.Contains(sc.Text(), "Press Ctrl-C to stop") {
				signalled = true
				close(running)
			}
		}
	}()
	select {
	case <-running:
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("the demo did not start:\n%s", out.String())
	}
	g.Expect(cmd.Process.Signal(syscall.SIGINT)).To(Succeed())
	<-done
	g.Expect(cmd.Wait()).To(Succeed())
	g.Expect(out.String()).To(ContainSubstring("Cleaned up."))
	g.Expect(workDirOf(g, out.String())).NotTo(BeADirectory())
}

func TestDemoHardStopsOnASecondCtrlC(t *testing.T) {
	g := NewWithT(t)
	bin := buildDemo(t)
	cmd := exec.Command(bin)
	stdout, err := cmd.StdoutPipe()
	g.Expect(err).NotTo(HaveOccurred())
	cmd.Stderr = cmd.Stdout
	g.Expect(cmd.Start()).To(Succeed())

	var out strings.Builder
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	waitFor := func(text string) {
		t.Helper()
		timeout := time.After(3 * time.Minute)
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("the demo ended before printing %q:\n%s", text, out.String())
				}
				out.WriteString(line + "\n")
				if strings.Contains(line, text) {
					return
				}
			case <-timeout:
				_ = cmd.Process.Kill()
				t.Fatalf("the demo did not print %q:\n%s", text, out.String())
			}
		}
	}
	waitFor("Press Ctrl-C to stop")
	children := childPIDs(cmd.Process.Pid)
	g.Expect(len(children)).To(BeNumerically(">=", 3), "the manager, kube-apiserver and etcd run under the demo")

	g.Expect(cmd.Process.Signal(syscall.SIGINT)).To(Succeed())
	waitFor("Stopping the manager")
	g.Expect(cmd.Process.Signal(syscall.SIGINT)).To(Succeed())
	for range lines {
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	g.Expect(errors.As(err, &exit)).To(BeTrue(), "a hard stop exits non-zero")
	g.Expect(exit.ExitCode()).To(Equal(130))
	g.Expect(workDirOf(g, out.String())).NotTo(BeADirectory())
	for _, pid := range children {
		g.Eventually(func() bool { return processGone(pid) }, 30*time.Second).Should(BeTrue(), "child %d is gone", pid)
	}
}

// processGone reports whether pid no longer runs (gone, or a zombie waiting to be reaped).
func processGone(pid int) bool {
	state, _, ok := procStat(pid)
	return !ok || state == "Z"
}

func TestDemoNamesTheComponentThatFailedToStart(t *testing.T) {
	g := NewWithT(t)
	bin := buildDemo(t)
	cmd := exec.Command(bin, "--exit-when-settled")
	cmd.Env = append(os.Environ(), "KUBEBUILDER_ASSETS="+t.TempDir())
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	g.Expect(err).To(BeAssignableToTypeOf(exit), string(out))
	g.Expect(err.(*exec.ExitError).ExitCode()).To(Equal(2))
	g.Expect(string(out)).To(ContainSubstring("the control plane failed to start"))
	g.Expect(string(out)).To(ContainSubstring("holds no kube-apiserver"))
}
