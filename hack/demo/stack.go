package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/mxoperator/mx-operator/internal/testenv"
	"github.com/mxoperator/mx-operator/internal/webhook"
	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// options configure one run of the demo.
type options struct {
	exitWhenSettled bool
	timeout         time.Duration
	aggregation     time.Duration
	plain           bool
	tty             bool
	out             io.Writer
}

// errNotSettled is returned when --exit-when-settled timed out before every member settled.
var errNotSettled = errors.New("not every demo member reached its expected state")

// The directories the demo and its control plane created, for forceCleanup on a second Ctrl-C.
var (
	cleanupMu   sync.Mutex
	cleanupDirs []string
)

// forceCleanup is the hard stop: it kills every child process (the manager, kube-apiserver,
// etcd, a build in progress) and removes the work directory and the control plane's directories,
// without waiting for anything to shut down gracefully.
func forceCleanup() {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	for _, pid := range childPIDs(os.Getpid()) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, dir := range cleanupDirs {
		_ = os.RemoveAll(dir)
	}
}

// childPIDs returns the processes whose parent is parent, read from /proc.
func childPIDs(parent int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, ok := procStat(pid); ok && ppid == parent {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procStat returns the state letter (R, S, Z…) and the parent pid of pid from /proc/<pid>/stat;
// ok is false when the process does not exist.
func procStat(pid int) (state string, ppid int, ok bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", 0, false
	}
	// The fields after the command name, which is in parentheses and may contain spaces.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 2 {
		return "", 0, false
	}
	ppid, err = strconv.Atoi(fields[1])
	return fields[0], ppid, err == nil
}

// removeOnForce registers directories forceCleanup removes.
func removeOnForce(dirs ...string) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanupDirs = append(cleanupDirs, dirs...)
}

// stack is what the demo started; stop tears it down in reverse order.
type stack struct {
	work       string
	assets     string
	env        *envtest.Environment
	kubeconfig string
	k8s        client.Client
	sandbox    *sandbox.Sandbox
	sandboxURL string
	sandboxSrv *http.Server
	manager    *exec.Cmd
	managerLog string
	managerEnd chan error
}

// component wraps the failure of one part of the stack with its name, so the person running the
// demo learns which part failed and why.
func component(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s failed to start: %w", name, err)
}

// start brings up the control plane, the MX sandbox and the manager, in that order. On error,
// whatever was started is stopped before it returns.
func start(ctx context.Context, opts options, p *progress) (s *stack, retErr error) {
	root := testenv.RepoRoot()
	work, err := os.MkdirTemp("", "mx-demo-")
	if err != nil {
		return nil, err
	}
	s = &stack{work: work, kubeconfig: filepath.Join(work, "kubeconfig"), managerLog: filepath.Join(work, "manager.log")}
	removeOnForce(work)
	defer func() {
		if retErr != nil {
			s.stop()
			s = nil
		}
	}()

	if s.assets, err = envtestAssets(ctx, root, p); err != nil {
		return s, component("building the envtest binaries (hack/setup-envtest.sh)", err)
	}
	p.step("building the manager from main.go")
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(work, "manager"), ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return s, component("building the manager", fmt.Errorf("%w\n%s", err, out))
	}

	p.step("starting kube-apiserver and etcd")
	if err := os.Setenv("KUBEBUILDER_ASSETS", s.assets); err != nil {
		return s, err
	}
	if s.env, err = testenv.New(); err != nil {
		return s, component("the control plane", err)
	}
	if _, err := s.env.Start(); err != nil {
		return s, component("the control plane (kube-apiserver and etcd)", err)
	}
	removeOnForce(s.env.ControlPlane.APIServer.CertDir, s.env.ControlPlane.Etcd.DataDir)
	admin, err := s.env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return s, component("the control plane", err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return s, component("the control plane", err)
	}
	if err := os.WriteFile(s.kubeconfig, kubeconfig, 0o600); err != nil {
		return s, err
	}
	scheme, err := testenv.Scheme()
	if err != nil {
		return s, err
	}
	if s.k8s, err = client.New(admin.Config(), client.Options{Scheme: scheme}); err != nil {
		return s, component("the control plane", err)
	}

	p.step("starting the MX sandbox")
	webhookAddr, err := freeLoopbackAddr()
	if err != nil {
		return s, component("the MX sandbox", err)
	}
	apiKey, webhookPassword := randomToken(), randomToken()
	s.sandbox = sandbox.New(sandbox.Options{
		ClientID:            "demo-client",
		APIKey:              apiKey,
		AggregationDuration: opts.aggregation,
		EnableControl:       true,
		WebhookURL:          "http://" + webhookAddr + webhookPath,
		WebhookUsername:     "mx",
		WebhookPassword:     webhookPassword,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s, component("the MX sandbox", err)
	}
	s.sandboxURL = "http://" + ln.Addr().String()
	s.sandboxSrv = &http.Server{Handler: s.sandbox, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.sandboxSrv.Serve(ln) }()

	p.step("starting the manager")
	if err := s.startManager(ctx, apiKey, webhookAddr, webhookPassword); err != nil {
		return s, component("the manager", err)
	}
	return s, nil
}

// startManager runs the manager binary against the control plane and the sandbox and waits until
// its readiness probe answers.
func (s *stack) startManager(ctx context.Context, apiKey, webhookAddr, webhookPassword string) error {
	healthAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	logFile, err := os.Create(s.managerLog)
	if err != nil {
		return err
	}
	s.manager = exec.Command(filepath.Join(s.work, "manager"), managerArgs(s.sandboxURL, healthAddr, webhookAddr)...)
	s.manager.Env = append(os.Environ(),
		"KUBECONFIG="+s.kubeconfig,
		"MX_CLIENT_ID=demo-client",
		"MX_API_KEY="+apiKey,
		"MX_WEBHOOK_USERNAME=mx",
		"MX_WEBHOOK_PASSWORD="+webhookPassword,
	)
	s.manager.Stdout, s.manager.Stderr = logFile, logFile
	// The manager dies with the demo even if the demo is killed outright.
	s.manager.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.manager.Start(); err != nil {
		logFile.Close()
		return err
	}
	s.managerEnd = make(chan error, 1)
	go func() { s.managerEnd <- s.manager.Wait(); logFile.Close() }()

	deadline := time.NewTimer(2 * time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-s.managerEnd:
			s.managerEnd <- err
			return fmt.Errorf("it exited (%v); the end of %s:\n%s", err, s.managerLog, tailFile(s.managerLog, 15))
		case <-deadline.C:
			return fmt.Errorf("it did not become ready within 2m; the end of %s:\n%s", s.managerLog, tailFile(s.managerLog, 15))
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if res, err := http.Get("http://" + healthAddr + "/readyz"); err == nil {
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
	}
}

// stop ends the manager, the sandbox and the control plane and removes the work directory.
func (s *stack) stop() {
	if s.manager != nil && s.manager.Process != nil {
		_ = s.manager.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.managerEnd:
		case <-time.After(15 * time.Second):
			_ = s.manager.Process.Kill()
			<-s.managerEnd
		}
	}
	if s.sandboxSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.sandboxSrv.Shutdown(ctx)
		cancel()
	}
	if s.sandbox != nil {
		s.sandbox.Close()
	}
	if s.env != nil {
		_ = s.env.Stop()
	}
	_ = os.RemoveAll(s.work)
}

// envtestAssets returns KUBEBUILDER_ASSETS when set, and otherwise runs hack/setup-envtest.sh,
// showing its progress (the first run builds kube-apiserver, kubectl and etcd from source).
func envtestAssets(ctx context.Context, root string, p *progress) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	p.step("preparing kube-apiserver, etcd and kubectl (the first run builds them from source: several minutes, once)")
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "setup-envtest.sh"))
	cmd.Dir = root
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", err
	}
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- strings.TrimPrefix(sc.Text(), "envtest: ")
		}
	}()
	// The build prints a line per stage; on a terminal the elapsed time keeps moving between them.
	var last []string
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for open := true; open; {
		select {
		case line, ok := <-lines:
			if !ok {
				open = false
				break
			}
			last = append(last, line)
			p.detail(line)
		case <-tick.C:
			if p.tty && len(last) > 0 {
				p.detail(last[len(last)-1])
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		if len(last) > 10 {
			last = last[len(last)-10:]
		}
		return "", fmt.Errorf("%w\n%s", err, strings.Join(last, "\n"))
	}
	return strings.TrimSpace(out.String()), nil
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tailFile returns the last n lines of a file, for error messages.
func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// webhookPath is where the manager's MX webhook receiver listens; the sandbox posts there.
const webhookPath = webhook.Path

// managerArgs are the manager's flags for the demo: the sandbox as MX, probes and the webhook
// receiver on loopback ports, no metrics endpoint.
func managerArgs(sandboxURL, healthAddr, webhookAddr string) []string {
	return []string{
		"--mx-base-url=" + sandboxURL,
		"--health-probe-bind-address=" + healthAddr,
		"--metrics-bind-address=0",
		"--mx-webhook-bind-address=" + webhookAddr,
		"--partner-id-prefix=demo",
	}
}
