// Command bench-scale is mx-operator's scale benchmark: it converges N pairs of one MXUser and
// one MXMember with the real manager binary and reports what they cost, next to a baseline
// controller that makes only the floor's writes, in the same run.
//
// It starts an envtest control plane (kube-apiserver and etcd), the MX sandbox in-process on a
// loopback port (aggregating in --aggregation-duration) and the manager built from main.go as
// the Dockerfile builds it (CGO_ENABLED=0, -trimpath, -ldflags="-s -w"), all on 127.0.0.1. Then,
// in order:
//
//  1. converge: it creates, in the namespace bench, N credentials Secrets, N MXUsers and N
//     MXMembers (mxbank, one login each) as fast as the API server accepts them, and waits until
//     every object is Ready for its generation;
//  2. one more member: with the N pairs converged, it creates one more MXMember (under the first
//     MXUser) and measures the time to its first MX call (the sandbox's request log) and to Ready;
//  3. restart: it stops the manager (SIGTERM), starts it again and counts the MX calls and the
//     API-server writes in the next --restart-window;
//  4. quiet: it counts them again during --quiet-window, with nothing changing;
//  5. baseline: with the manager stopped, an in-process controller-runtime manager that makes
//     exactly the floor's writes without MX (the finalizer, then one status write setting Ready,
//     per object) converges the same N pairs in the namespace bench-baseline.
//
// Figures: time to all Ready and the member latencies (from each create to the member's first
// Ready) from an informer of the harness; MX calls by endpoint from the sandbox's counters;
// API-server requests by verb and resource from the API server's own apiserver_request_total
// (GET /metrics), minus the harness's own requests, which it counts itself; the manager's peak RSS
// (VmHWM) and CPU time (utime+stime) from /proc. It prints them as a table, then a Markdown row
// for docs/benchmarks.md, then one machine-readable line starting with "bench-scale:". Nothing is
// asserted: exit status 0 when the run completed, 1 when objects were still not Ready at
// --converge-timeout, 2 when the harness failed.
//
// Run it with `make bench-scale N=1000`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/mxoperator/mx-operator/internal/testenv"
)

func main() {
	var o options
	flag.IntVar(&o.pairs, "pairs", 1000, "MXUser+MXMember pairs to converge")
	flag.Float64Var(&o.mxQPS, "mx-qps", 1000, "the manager's --mx-qps")
	flag.IntVar(&o.mxBurst, "mx-burst", 0, "the manager's --mx-burst (0: the same as --mx-qps)")
	flag.IntVar(&o.concurrency, "max-concurrent-reconciles", 4, "the manager's --max-concurrent-reconciles, and the baseline's")
	flag.DurationVar(&o.aggregation, "aggregation-duration", 100*time.Millisecond, "how long one aggregation step takes in the sandbox")
	flag.IntVar(&o.createWorkers, "create-workers", 16, "parallel creates of the harness")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "how long after the last Ready the counters keep counting a phase (late writes and events)")
	flag.DurationVar(&o.restartWindow, "restart-window", time.Minute, "how long the MX calls and writes of the restarted manager are counted")
	flag.DurationVar(&o.quietWindow, "quiet-window", time.Minute, "how long the MX calls and writes are counted with nothing changing")
	flag.DurationVar(&o.convergeTimeout, "converge-timeout", 30*time.Minute, "how long to wait for N pairs to be Ready (manager and baseline each)")
	flag.DurationVar(&o.timeout, "timeout", time.Hour, "bound of the whole run, start-up included")
	flag.StringVar(&o.managerLog, "manager-log", filepath.Join(testenv.RepoRoot(), "bin", "bench-scale-manager.log"), "file that receives the log of every manager run")
	flag.Parse()
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(2)
	}

	// The harness's informers and the baseline manager log only their errors.
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// A second interrupt while cleaning up: kill every child process, remove every
		// directory and exit without waiting.
		<-ctx.Done()
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		stop()
		<-again
		fmt.Fprintln(os.Stderr, "\nbench-scale: interrupted again, exiting without waiting for cleanup")
		forceCleanup()
		os.Exit(130)
	}()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	err := run(ctx, o)
	cancel()
	switch {
	case err == nil:
	case errors.Is(err, errNotConverged):
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(2)
	}
}

func (o *options) validate() error {
	if o.mxBurst == 0 {
		o.mxBurst = max(1, int(o.mxQPS))
	}
	switch {
	case o.pairs < 1:
		return errors.New("--pairs must be at least 1")
	case o.mxQPS < 0 || o.mxBurst < 0:
		return errors.New("--mx-qps and --mx-burst must not be negative")
	case o.concurrency < 1:
		return errors.New("--max-concurrent-reconciles must be at least 1")
	case o.createWorkers < 1:
		return errors.New("--create-workers must be at least 1")
	case o.aggregation <= 0:
		return errors.New("--aggregation-duration must be positive")
	case o.settle < 0 || o.restartWindow <= 0 || o.quietWindow <= 0:
		return errors.New("--settle must not be negative; --restart-window and --quiet-window must be positive")
	case o.convergeTimeout <= 0 || o.timeout <= 0:
		return errors.New("--converge-timeout and --timeout must be positive")
	}
	return os.MkdirAll(filepath.Dir(o.managerLog), 0o755)
}

// began is when the harness started; say prefixes its lines with the time since.
var began = time.Now()

// say prints one progress line.
func say(format string, args ...any) {
	fmt.Printf("bench-scale: [%6.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
}
