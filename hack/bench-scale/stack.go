package main

// The control plane, the sandbox and the manager process, as hack/chaos starts them (copied, not
// shared, so that the crash test's behaviour cannot change with this benchmark's needs).

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
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

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/mxoperator/mx-operator/internal/testenv"
	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// The MX client id the manager and the sandbox share; the API key is random per run.
const mxClientID = "bench-scale-client"

// stack is what the harness started: the control plane, the in-process sandbox and the manager
// binary (started by the converge phase, restarted by the restart phase). stop tears it down in
// reverse order.
type stack struct {
	work       string
	env        *envtest.Environment
	kubeconfig string
	// admin is the harness's rest.Config (no client-side rate limit), its requests counted by
	// own; uncounted is the same without the counting, for the baseline manager.
	admin, uncounted *rest.Config
	own              *requestCounter
	k8s              client.Client
	// metrics reads the API server's /metrics.
	metrics    *http.Client
	sandbox    *sandbox.Sandbox
	sandboxURL string
	sandboxSrv *http.Server
	apiKey     string
	manager    *managerProc
}

// The directories the harness and its control plane created, for forceCleanup.
var (
	cleanupMu   sync.Mutex
	cleanupDirs []string
)

func removeOnForce(dirs ...string) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanupDirs = append(cleanupDirs, dirs...)
}

// forceCleanup is the hard stop after a second interrupt: it kills every child process (the
// manager, kube-apiserver, etcd, a build in progress) and removes the directories, without
// waiting for anything to shut down.
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
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The fields after the command name, which is in parentheses and may contain spaces.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) >= 2 && fields[1] == strconv.Itoa(parent) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// start builds the manager, then brings up the control plane and the sandbox. The manager is
// prepared but not started. On error, whatever was started is stopped before it returns.
func start(ctx context.Context, o options) (s *stack, retErr error) {
	root := testenv.RepoRoot()
	work, err := os.MkdirTemp("", "mx-bench-scale-")
	if err != nil {
		return nil, err
	}
	removeOnForce(work)
	s = &stack{work: work, kubeconfig: filepath.Join(work, "kubeconfig"), apiKey: randomToken(), own: newRequestCounter()}
	defer func() {
		if retErr != nil {
			s.stop()
			s = nil
		}
	}()

	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		assets, err := envtestAssets(ctx, root)
		if err != nil {
			return s, fmt.Errorf("preparing the envtest binaries (hack/setup-envtest.sh): %w", err)
		}
		if err := os.Setenv("KUBEBUILDER_ASSETS", assets); err != nil {
			return s, err
		}
	}
	say("building the manager from main.go as the Dockerfile does")
	bin := filepath.Join(work, "manager")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return s, fmt.Errorf("building the manager: %w\n%s", err, out)
	}

	say("starting kube-apiserver and etcd")
	if s.env, err = testenv.New(); err != nil {
		return s, err
	}
	if _, err := s.env.Start(); err != nil {
		return s, fmt.Errorf("starting the control plane: %w", err)
	}
	removeOnForce(s.env.ControlPlane.APIServer.CertDir, s.env.ControlPlane.Etcd.DataDir)
	admin, err := s.env.AddUser(envtest.User{Name: "bench-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return s, err
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return s, err
	}
	if err := os.WriteFile(s.kubeconfig, kubeconfig, 0o600); err != nil {
		return s, err
	}
	scheme, err := testenv.Scheme()
	if err != nil {
		return s, err
	}
	// The harness writes as fast as the API server accepts, like the manager (controller-runtime
	// leaves client-side rate limiting off).
	s.uncounted = rest.CopyConfig(admin.Config())
	s.uncounted.QPS, s.uncounted.Burst = -1, 0
	s.admin = rest.CopyConfig(s.uncounted)
	s.admin.Wrap(s.own.wrap)
	if s.k8s, err = client.New(s.admin, client.Options{Scheme: scheme}); err != nil {
		return s, err
	}
	// /metrics is read without counting: it is not a resource request.
	if s.metrics, err = rest.HTTPClientFor(admin.Config()); err != nil {
		return s, err
	}

	say("starting the MX sandbox in-process (aggregation %s)", o.aggregation)
	s.sandbox = sandbox.New(sandbox.Options{
		ClientID:            mxClientID,
		APIKey:              s.apiKey,
		AggregationDuration: o.aggregation,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s, err
	}
	s.sandboxURL = "http://" + ln.Addr().String()
	s.sandboxSrv = &http.Server{Handler: s.sandbox, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.sandboxSrv.Serve(ln) }()

	logFile, err := os.Create(o.managerLog)
	if err != nil {
		return s, fmt.Errorf("creating the manager log: %w", err)
	}
	s.manager = &managerProc{
		bin: bin,
		env: append(os.Environ(),
			"KUBECONFIG="+s.kubeconfig,
			"MX_CLIENT_ID="+mxClientID,
			"MX_API_KEY="+s.apiKey,
		),
		args: []string{
			"--mx-base-url=" + s.sandboxURL,
			"--metrics-bind-address=0",
			"--mx-qps=" + strconv.FormatFloat(o.mxQPS, 'f', -1, 64),
			"--mx-burst=" + strconv.Itoa(o.mxBurst),
			"--max-concurrent-reconciles=" + strconv.Itoa(o.concurrency),
		},
		log: logFile,
	}
	return s, nil
}

// stop ends the manager, the sandbox and the control plane and removes the work directory.
func (s *stack) stop() {
	if s.manager != nil {
		s.manager.stop()
		_ = s.manager.log.Close()
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

// managerProc supervises the manager binary: it starts it, stops it and starts it again. All
// runs write to one log, separated by lines starting with "bench-scale:".
type managerProc struct {
	bin  string
	env  []string
	args []string
	log  *os.File

	cmd     *exec.Cmd
	started time.Time
	// done receives the result of Wait once per run.
	done chan error
	// starts counts the runs so far.
	starts int
}

// start runs the manager and waits, at most 2 minutes, until its readiness probe answers.
func (m *managerProc) start(ctx context.Context) error {
	healthAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	m.starts++
	m.note("starting the manager (run %d)", m.starts)
	m.cmd = exec.Command(m.bin, append(m.args, "--health-probe-bind-address="+healthAddr)...)
	m.cmd.Env = m.env
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	// The manager dies with the harness even if the harness is killed outright.
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		return err
	}
	m.started = time.Now()
	m.done = make(chan error, 1)
	cmd, done := m.cmd, m.done
	go func() { done <- cmd.Wait() }()

	deadline := time.NewTimer(2 * time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-m.done:
			m.done <- err
			return fmt.Errorf("it exited (%v) before it was ready; see %s", err, m.log.Name())
		case <-deadline.C:
			return fmt.Errorf("it was not ready within 2m; see %s", m.log.Name())
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

// pid is the running manager's process id.
func (m *managerProc) pid() int { return m.cmd.Process.Pid }

// exited reports whether the running manager has exited, and its exit error.
func (m *managerProc) exited() (bool, error) {
	select {
	case err := <-m.done:
		m.done <- err
		return true, err
	default:
		return false, nil
	}
}

// stop ends the manager with SIGTERM, then SIGKILL after 15 s.
func (m *managerProc) stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	if ok, _ := m.exited(); ok {
		return
	}
	m.note("stopping the manager (SIGTERM)")
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-m.done:
		m.done <- err
	case <-time.After(15 * time.Second):
		_ = m.cmd.Process.Kill()
		err := <-m.done
		m.done <- err
	}
}

// note writes a harness line into the manager log, so that a reader sees where each run starts.
func (m *managerProc) note(format string, args ...any) {
	fmt.Fprintf(m.log, "bench-scale: %s %s\n", time.Now().Format(time.RFC3339Nano), fmt.Sprintf(format, args...))
}

// envtestAssets runs hack/setup-envtest.sh, its progress on stderr, and returns the directory it
// prints.
func envtestAssets(ctx context.Context, root string) (string, error) {
	say("preparing kube-apiserver, etcd and kubectl (hack/setup-envtest.sh)")
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "setup-envtest.sh"))
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
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
