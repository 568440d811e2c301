package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/testenv"
)

const (
	// nsBench holds the pairs the manager converges; nsBaseline those of the baseline.
	nsBench    = "bench"
	nsBaseline = "bench-baseline"
	// extraMember is the member created once the pairs are converged (under the first user).
	extraMember = "extra"
)

// options configure one run.
type options struct {
	pairs           int
	mxQPS           float64
	mxBurst         int
	concurrency     int
	aggregation     time.Duration
	createWorkers   int
	settle          time.Duration
	restartWindow   time.Duration
	quietWindow     time.Duration
	convergeTimeout time.Duration
	timeout         time.Duration
	managerLog      string
}

// errNotConverged is returned when objects were still not Ready at --converge-timeout.
var errNotConverged = errors.New("not every object became Ready within --converge-timeout")

// runner is one run of the benchmark.
type runner struct {
	o options
	s *stack
	t *tracker
}

// run executes the phases (converge, one more member, restart, quiet, baseline) and prints the
// figures.
func run(ctx context.Context, o options) error {
	s, err := start(ctx, o)
	if err != nil {
		return err
	}
	defer func() {
		say("stopping the manager, the sandbox and the control plane")
		s.stop()
	}()
	scheme, err := testenv.Scheme()
	if err != nil {
		return err
	}
	t, err := startTracker(ctx, s.admin, scheme, nsBench, nsBaseline)
	if err != nil {
		return err
	}
	r := &runner{o: o, s: s, t: t}
	res := &results{o: o}

	say("starting the manager (--mx-qps %g --mx-burst %d --max-concurrent-reconciles %d)", o.mxQPS, o.mxBurst, o.concurrency)
	if err := s.manager.start(ctx); err != nil {
		return fmt.Errorf("starting the manager: %w", err)
	}
	say("converge: creating %d pairs (MXUser, Secret, MXMember) in namespace %s", o.pairs, nsBench)
	if res.converge, err = r.converge(ctx, nsBench); err != nil {
		return err
	}
	if res.convergeUsage, err = readUsage(s.manager.pid()); err != nil {
		return err
	}
	say("converge: %d objects Ready after %s", 2*o.pairs-res.converge.notReady, res.converge.allReady.Round(10*time.Millisecond))

	if res.converge.notReady == 0 {
		say("one more member: creating MXMember %s/%s with %d pairs converged", nsBench, extraMember, o.pairs)
		if res.extra, err = r.oneMore(ctx); err != nil {
			return err
		}
	}

	say("restart: stopping the manager (SIGTERM) and starting it again; counting for %s", o.restartWindow)
	s.manager.stop()
	if res.restart, err = r.window(ctx, o.restartWindow, func() error { return s.manager.start(ctx) }); err != nil {
		return err
	}
	say("quiet: counting for %s with nothing changing", o.quietWindow)
	if res.quiet, err = r.window(ctx, o.quietWindow, nil); err != nil {
		return err
	}
	if ok, exitErr := s.manager.exited(); ok {
		return fmt.Errorf("the manager exited on its own (%v); see %s", exitErr, o.managerLog)
	}
	s.manager.stop()

	say("baseline: the floor's writes only, in-process, %d workers per kind; creating %d pairs in namespace %s", o.concurrency, o.pairs, nsBaseline)
	stopBaseline, err := startBaseline(ctx, s.uncounted, scheme, nsBaseline, o.concurrency)
	if err != nil {
		return err
	}
	res.baseline, err = r.converge(ctx, nsBaseline)
	stopBaseline()
	if err != nil {
		return err
	}
	say("baseline: %d objects Ready after %s", 2*o.pairs-res.baseline.notReady, res.baseline.allReady.Round(10*time.Millisecond))

	res.print(os.Stdout)
	if res.converge.notReady > 0 || res.baseline.notReady > 0 {
		return errNotConverged
	}
	return nil
}

// counters is a snapshot of everything that counts: the sandbox's calls by endpoint, the API
// server's request totals and the harness's own requests.
type counters struct {
	at  time.Time
	mx  map[string]int
	api requestCounts
	own requestCounts
}

func (r *runner) snap(ctx context.Context) (counters, error) {
	api, err := scrapeRequests(ctx, r.s.metrics, r.s.admin)
	if err != nil {
		return counters{}, err
	}
	return counters{at: time.Now(), mx: r.s.sandbox.Calls(), api: api, own: r.s.own.snapshot()}, nil
}

// usage is what one phase cost: MX calls by endpoint, and the API-server requests of everyone
// but the harness.
type usage struct {
	elapsed time.Duration
	mx      map[string]int
	api     requestCounts
}

// since returns what happened between before and after.
func since(before, after counters) usage {
	mx := maps.Clone(after.mx)
	for e, n := range before.mx {
		mx[e] -= n
	}
	for e, n := range mx {
		if n == 0 {
			delete(mx, e)
		}
	}
	return usage{
		elapsed: after.at.Sub(before.at),
		mx:      mx,
		api:     after.api.minus(before.api).minus(after.own.minus(before.own)),
	}
}

func (u usage) mxCalls() int {
	total := 0
	for _, n := range u.mx {
		total += n
	}
	return total
}

// convergeFigures describe one namespace's convergence.
type convergeFigures struct {
	// allReady runs from the first create to the last object's first Ready; creates is how long
	// the creates took.
	allReady, creates time.Duration
	p50, p99          time.Duration
	notReady          int
	// usage counts from the first create to --settle after the last Ready.
	usage usage
}

// converge creates the pairs in ns, waits until all are Ready (at most --converge-timeout),
// keeps counting for --settle, and returns the figures.
func (r *runner) converge(ctx context.Context, ns string) (convergeFigures, error) {
	var f convergeFigures
	before, err := r.snap(ctx)
	if err != nil {
		return f, err
	}
	began := time.Now()
	if err := r.createPairs(ctx, ns); err != nil {
		return f, err
	}
	f.creates = time.Since(began)
	say("%s: %d pairs created in %s", ns, r.o.pairs, f.creates.Round(10*time.Millisecond))
	if _, err := r.t.waitReady(ctx, ns, 2*r.o.pairs, r.o.convergeTimeout, r.managerExited(ns)); err != nil {
		return f, err
	}
	if err := pause(ctx, r.o.settle); err != nil {
		return f, err
	}
	after, err := r.snap(ctx)
	if err != nil {
		return f, err
	}
	c := r.t.convergence(ns)
	f.notReady = c.notReady
	if !c.lastReady.IsZero() {
		f.allReady = c.lastReady.Sub(began)
	}
	f.p50, f.p99 = percentile(c.latencies, 50), percentile(c.latencies, 99)
	f.usage = since(before, after)
	return f, nil
}

// managerExited returns, for the manager's namespace, a check that fails once the manager has
// exited on its own; nil for the baseline's.
func (r *runner) managerExited(ns string) func() error {
	if ns != nsBench {
		return nil
	}
	return func() error {
		if ok, err := r.s.manager.exited(); ok {
			return fmt.Errorf("the manager exited on its own (%v); see %s", err, r.o.managerLog)
		}
		return nil
	}
}

// Names of the objects of pair i.
func userName(i int) string   { return fmt.Sprintf("user-%05d", i) }
func memberName(i int) string { return fmt.Sprintf("member-%05d", i) }

// createPairs creates ns and, on --create-workers workers, pair by pair in a manifest's order:
// the MXUser, the credentials Secret (one login per member) and the MXMember, recording when
// each create returned.
func (r *runner) createPairs(ctx context.Context, ns string) error {
	c := r.s.k8s
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	return parallel(ctx, r.o.pairs, r.o.createWorkers, func(i int) error {
		user := userName(i)
		if err := c.Create(ctx, &mxv1alpha1.MXUser{
			ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: ns},
			Spec:       mxv1alpha1.MXUserSpec{Email: user + "@example.com"},
		}); err != nil {
			return fmt.Errorf("creating MXUser %s: %w", user, err)
		}
		r.t.createdAt(objectRef{"MXUser", ns, user}, time.Now())
		return r.createMember(ctx, ns, memberName(i), user)
	})
}

// createMember creates the credentials Secret and the MXMember name under the MXUser user.
func (r *runner) createMember(ctx context.Context, ns, name, user string) error {
	c := r.s.k8s
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-credentials", Namespace: ns},
		StringData: map[string]string{"username": ns + "-" + name, "password": "password"},
	}
	if err := c.Create(ctx, secret); err != nil {
		return fmt.Errorf("creating Secret %s: %w", secret.Name, err)
	}
	if err := c.Create(ctx, &mxv1alpha1.MXMember{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: mxv1alpha1.MXMemberSpec{
			UserRef:              mxv1alpha1.LocalObjectReference{Name: user},
			InstitutionCode:      "mxbank",
			CredentialsSecretRef: &mxv1alpha1.LocalObjectReference{Name: secret.Name},
		},
	}); err != nil {
		return fmt.Errorf("creating MXMember %s: %w", name, err)
	}
	r.t.createdAt(objectRef{"MXMember", ns, name}, time.Now())
	return nil
}

// extraFigures describe the member created with the pairs converged.
type extraFigures struct {
	// firstCall is the time from its create request to the first MX request the sandbox
	// logged after it (firstEndpoint); ready, to its first Ready.
	firstCall, ready time.Duration
	firstEndpoint    string
	usage            usage
}

// oneMore creates one more member under the first MXUser and measures the time to its first MX
// call (polling the sandbox's request log, emptied first, every 10 ms) and to Ready.
func (r *runner) oneMore(ctx context.Context) (extraFigures, error) {
	var f extraFigures
	r.s.sandbox.ResetRequests()
	before, err := r.snap(ctx)
	if err != nil {
		return f, err
	}
	began := time.Now()
	if err := r.createMember(ctx, nsBench, extraMember, userName(0)); err != nil {
		return f, err
	}
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for f.firstEndpoint == "" {
		for _, rec := range r.s.sandbox.Requests() {
			if !rec.WallTime.Before(began) {
				f.firstCall, f.firstEndpoint = rec.WallTime.Sub(began), rec.Endpoint
				break
			}
		}
		select {
		case <-ctx.Done():
			return f, ctx.Err()
		case <-deadline.C:
			return f, errors.New("the new member caused no MX call within 1m")
		case <-tick.C:
		}
	}
	if _, err := r.t.waitReady(ctx, nsBench, 2*r.o.pairs+1, 5*time.Minute, r.managerExited(nsBench)); err != nil {
		return f, err
	}
	if at, ok := r.t.readyAt(objectRef{"MXMember", nsBench, extraMember}); ok {
		f.ready = at.Sub(began)
	}
	if err := pause(ctx, r.o.settle); err != nil {
		return f, err
	}
	after, err := r.snap(ctx)
	if err != nil {
		return f, err
	}
	f.usage = since(before, after)
	return f, nil
}

// windowFigures describe a fixed window: what it cost and the manager's process then.
type windowFigures struct {
	usage usage
	proc  procUsage
}

// window runs begin (if any), counts for d, and reads the manager's /proc at the end.
func (r *runner) window(ctx context.Context, d time.Duration, begin func() error) (windowFigures, error) {
	var f windowFigures
	before, err := r.snap(ctx)
	if err != nil {
		return f, err
	}
	end := time.Now().Add(d)
	if begin != nil {
		if err := begin(); err != nil {
			return f, err
		}
	}
	if err := pause(ctx, time.Until(end)); err != nil {
		return f, err
	}
	after, err := r.snap(ctx)
	if err != nil {
		return f, err
	}
	f.usage = since(before, after)
	f.proc, err = readUsage(r.s.manager.pid())
	return f, err
}

// pause waits d: a fixed measurement window, not a wait for a condition.
func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// parallel runs f(0)…f(n-1) on workers goroutines and returns the first error; it stops handing
// out work after one.
func parallel(ctx context.Context, n, workers int, f func(int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					firstErr = cmp.Or(firstErr, err)
					mu.Unlock()
					cancel()
				}
			}
		})
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return cmp.Or(firstErr, ctx.Err())
}
