// Command chaos is mx-operator's crash test: it SIGKILLs the real manager binary again and again
// while MXUsers and MXMembers are created and deleted against an MX sandbox that loses answers
// (commit-then-fail, as 500s and as dropped connections) and fails requests (500 and 503), then
// checks that MX ends up holding exactly what the cluster says: no duplicates, no orphans, nothing
// missing and nothing stuck.
//
// It starts an envtest control plane (kube-apiserver and etcd), the MX sandbox in-process on a
// loopback port (so it can count MX objects directly) and the manager built from main.go, all on
// 127.0.0.1. Then:
//
//  1. create: it creates the MXUsers (one in ten members, at least 5; every fourth has
//     deletionPolicy Orphan) and the MXMembers (mxbank, password "password", one credentials
//     Secret each with its own username; one in ten Orphan) as fast as the API server accepts
//     them, and meanwhile kills the manager at random moments and starts it again, half of
//     --kills times;
//  2. delete: it deletes about half the members, then a few users (one of each policy among
//     them; their deletion waits for their members), with the other half of the kills;
//  3. settle: it clears the faults and waits, at most --settle-timeout, until every object not
//     deleted is Ready and every deleted one is gone;
//  4. judge: it prints the figures and exits 1 unless duplicates, orphans, missing and stuck
//     objects are all 0 and the manager never exited without being killed.
//
// The faults are re-armed after every restart with new seeds; kill moments and the deleted
// members come from --seed. The manager's log of every run, with a "chaos:" line at each start
// and kill, is left in --manager-log. Exit status: 0 clean, 1 problems found, 2 the harness
// failed.
//
// Run it with `make chaos` (CHAOS_FLAGS="--members 20 --kills 4" for a small run).
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

	"github.com/mxoperator/mx-operator/internal/testenv"
)

func main() {
	var o options
	flag.IntVar(&o.members, "members", 100, "MXMembers to create")
	flag.IntVar(&o.kills, "kills", 10, "SIGKILLs of the manager, half while creating and half while deleting")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the kill moments, the deleted members and the faults")
	flag.Float64Var(&o.errorRate, "error-rate", 0.08, "probability that a faulted MX request is answered 500 without effect")
	flag.Float64Var(&o.unavailableRate, "unavailable-rate", 0.05, "probability that a faulted MX request is answered 503 without effect")
	flag.IntVar(&o.commitThenFail, "commit-then-fail", 1, "lost answers armed on each MX create and delete endpoint at every (re)start of the manager")
	flag.DurationVar(&o.killMin, "kill-min", 300*time.Millisecond, "shortest time the manager runs before a kill")
	flag.DurationVar(&o.killMax, "kill-max", 3*time.Second, "longest time the manager runs before a kill")
	flag.DurationVar(&o.settle, "settle-timeout", 3*time.Minute, "how long to wait, without faults or kills, for every object to be Ready or gone")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "bound of the whole run, start-up included")
	flag.DurationVar(&o.aggregation, "aggregation-duration", time.Second, "how long one aggregation step takes in the sandbox")
	flag.Float64Var(&o.mxQPS, "mx-qps", 10, "the manager's --mx-qps (its burst is the same number)")
	flag.IntVar(&o.concurrency, "max-concurrent-reconciles", 4, "the manager's --max-concurrent-reconciles")
	flag.StringVar(&o.managerLog, "manager-log", filepath.Join(testenv.RepoRoot(), "bin", "chaos-manager.log"), "file that receives the log of every manager run")
	flag.Parse()
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// A second interrupt while cleaning up: kill every child process, remove every
		// directory and exit without waiting.
		<-ctx.Done()
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		stop()
		<-again
		fmt.Fprintln(os.Stderr, "\nchaos: interrupted again, exiting without waiting for cleanup")
		forceCleanup()
		os.Exit(130)
	}()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	err := run(ctx, o)
	cancel()
	switch {
	case err == nil:
	case errors.Is(err, errNotClean):
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
}

func (o options) validate() error {
	switch {
	case o.members < 1:
		return errors.New("--members must be at least 1")
	case o.kills < 0:
		return errors.New("--kills must not be negative")
	case o.killMin <= 0 || o.killMax < o.killMin:
		return errors.New("--kill-min must be positive and at most --kill-max")
	case o.errorRate < 0 || o.unavailableRate < 0 || o.errorRate+o.unavailableRate > 1:
		return errors.New("--error-rate and --unavailable-rate must be probabilities that sum to at most 1")
	case o.commitThenFail < 0:
		return errors.New("--commit-then-fail must not be negative")
	case o.concurrency < 1:
		return errors.New("--max-concurrent-reconciles must be at least 1")
	case o.mxQPS < 0:
		return errors.New("--mx-qps must not be negative")
	}
	return os.MkdirAll(filepath.Dir(o.managerLog), 0o755)
}

// began is when the harness started; say prefixes its lines with the time since.
var began = time.Now()

// say prints one progress line.
func say(format string, args ...any) {
	fmt.Printf("chaos: [%6.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
}
