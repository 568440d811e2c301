package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

const (
	// namespace holds every object of the run.
	namespace = "chaos"
	// partnerIDPrefix is the manager's --partner-id-prefix.
	partnerIDPrefix = "chaos"
)

// partnerID is the partner id the operator derives for an object without spec.id (the
// controller's derivedPartnerID, for names short enough not to be hashed).
func partnerID(name string) string { return partnerIDPrefix + ":" + namespace + "/" + name }

// options configure one run.
type options struct {
	members, kills  int
	seed            uint64
	errorRate       float64
	unavailableRate float64
	commitThenFail  int
	killMin         time.Duration
	killMax         time.Duration
	settle          time.Duration
	timeout         time.Duration
	aggregation     time.Duration
	mxQPS           float64
	concurrency     int
	managerLog      string
}

// errNotClean is returned when the figures found duplicates, orphans, missing or stuck objects,
// or the manager exited without being killed.
var errNotClean = errors.New("the crash test found problems")

// runner is one run of the crash test.
type runner struct {
	o     options
	s     *stack
	rng   *rand.Rand
	plan  plan
	began time.Time
	// kills counts the SIGKILLs sent, per phase.
	kills map[string]int
	// arms counts the times faults were (re)armed; it varies their seeds and variants.
	arms int
	// unexpected lists the manager runs that ended without a kill.
	unexpected []string
	// hadMX records, for each object the harness deleted ("MXUser/name", "MXMember/name"),
	// whether its status.guid was set just before the deletion.
	hadMXMu sync.Mutex
	hadMX   map[string]bool
}

// run executes the crash test: create, delete, settle, then judge. It returns errNotClean when
// the figures are not all zero.
func run(ctx context.Context, o options) error {
	r := &runner{o: o, rng: rand.New(rand.NewPCG(o.seed, 0x6368616f73)), began: time.Now(), kills: map[string]int{}, hadMX: map[string]bool{}}
	r.plan = newPlan(o.members, r.rng)
	s, err := start(ctx, o)
	if err != nil {
		return err
	}
	r.s = s
	defer func() {
		say("stopping the manager, the sandbox and the control plane")
		s.stop()
	}()

	createKills := (o.kills + 1) / 2
	say("creating %d MXUsers and %d MXMembers while killing the manager %d times", len(r.plan.users), len(r.plan.members), createKills)
	if err := r.phase(ctx, "create", createKills, r.createAll); err != nil {
		return err
	}
	deletedMembers, deletedUsers := 0, 0
	for _, m := range r.plan.members {
		if m.deleted {
			deletedMembers++
		}
	}
	for _, u := range r.plan.users {
		if u.deleted {
			deletedUsers++
		}
	}
	say("deleting %d MXMembers, then %d MXUsers, while killing the manager %d times", deletedMembers, deletedUsers, o.kills-createKills)
	if err := r.phase(ctx, "delete", o.kills-createKills, r.deleteSome); err != nil {
		return err
	}

	say("faults cleared; waiting up to %s for every object to be Ready or gone", o.settle)
	r.s.sandbox.ClearFaults()
	if err := r.settle(ctx); err != nil {
		return err
	}

	calls := r.s.sandbox.Requests()
	snap, err := r.collect(ctx)
	if err != nil {
		return fmt.Errorf("reading the end state: %w", err)
	}
	f := compute(snap)
	r.report(os.Stdout, f, calls)
	if !f.clean() || len(r.unexpected) > 0 {
		return errNotClean
	}
	return nil
}

// phase arms the faults, runs work (the writes to the API server) and meanwhile kills and
// restarts the manager kills times at random moments, then waits for work to finish.
func (r *runner) phase(ctx context.Context, name string, kills int, work func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.armFaults()
	done := make(chan error, 1)
	go func() { done <- work(ctx) }()
	for range kills {
		if err := r.killOnce(ctx, name); err != nil {
			cancel()
			<-done
			return err
		}
	}
	return <-done
}

// armFaults injects into the sandbox, afresh: on the write endpoints (create and delete of
// users and members) CommitThenFail lost answers, half of them as 500s and half as dropped
// connections (alternating by endpoint and arming), plus the 500 and 503 rates, which also apply
// to the look-ups by partner id (the user and member lists). Each arming has its own seeds.
func (r *runner) armFaults() {
	r.arms++
	writes := []string{sandbox.EndpointCreateUser, sandbox.EndpointCreateMember, sandbox.EndpointDeleteMember, sandbox.EndpointDeleteUser}
	reads := []string{sandbox.EndpointListUsers, sandbox.EndpointListMembers}
	for i, e := range append(writes, reads...) {
		f := sandbox.Fault{
			ErrorRate:              r.o.errorRate,
			ServiceUnavailableRate: r.o.unavailableRate,
			Seed:                   int64(r.o.seed)*1000 + int64(r.arms)*10 + int64(i),
		}
		if i < len(writes) {
			f.CommitThenFail = r.o.commitThenFail
			f.DropConnection = (r.arms+i)%2 == 1
		}
		r.s.sandbox.SetFault(e, f)
	}
}

// killOnce waits a random delay in [killMin, killMax] from now, SIGKILLs the manager, starts it
// again and re-arms the faults. A manager that exits on its own meanwhile is recorded and
// restarted.
func (r *runner) killOnce(ctx context.Context, phase string) error {
	m := r.s.manager
	delay := r.o.killMin
	if r.o.killMax > r.o.killMin {
		delay += time.Duration(r.rng.Int64N(int64(r.o.killMax - r.o.killMin)))
	}
	// A random kill moment, not a wait for a condition.
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-m.done:
			m.done <- err
			if err := r.restartAfterExit(ctx, err); err != nil {
				return err
			}
		case <-timer.C:
			waiting = false
		}
	}
	r.kills[phase]++
	n := r.totalKills()
	say("SIGKILL %d/%d (%s phase): manager run %d was up %s; MX holds %d users, %d members after %d calls",
		n, r.o.kills, phase, m.starts, time.Since(m.started).Round(time.Millisecond),
		r.s.sandbox.UserCount(), r.s.sandbox.MemberCount(), r.s.sandbox.TotalCalls())
	if err := m.kill(n); err != nil {
		return err
	}
	if err := m.start(ctx); err != nil {
		return fmt.Errorf("restarting the manager after SIGKILL %d: %w", n, err)
	}
	r.armFaults()
	return nil
}

// restartAfterExit records a manager run that ended without a kill and starts a new one.
func (r *runner) restartAfterExit(ctx context.Context, exitErr error) error {
	m := r.s.manager
	msg := fmt.Sprintf("manager run %d exited on its own after %s (%v)", m.starts, time.Since(m.started).Round(time.Millisecond), exitErr)
	r.unexpected = append(r.unexpected, msg)
	say("%s; starting it again", msg)
	if err := m.start(ctx); err != nil {
		return fmt.Errorf("restarting the manager after it exited: %w", err)
	}
	return nil
}

func (r *runner) totalKills() int {
	n := 0
	for _, k := range r.kills {
		n += k
	}
	return n
}

// createAll creates the namespace, every MXUser, then every MXMember with its credentials
// Secret, as fast as the API server accepts them.
func (r *runner) createAll(ctx context.Context) error {
	c := r.s.k8s
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return fmt.Errorf("creating namespace %s: %w", namespace, err)
	}
	err := parallel(ctx, len(r.plan.users), func(i int) error {
		u := r.plan.users[i]
		return c.Create(ctx, &mxv1alpha1.MXUser{
			ObjectMeta: metav1.ObjectMeta{Name: u.name, Namespace: namespace},
			Spec:       mxv1alpha1.MXUserSpec{Email: u.name + "@example.com", DeletionPolicy: u.policy},
		})
	})
	if err != nil {
		return fmt.Errorf("creating the MXUsers: %w", err)
	}
	err = parallel(ctx, len(r.plan.members), func(i int) error {
		m := r.plan.members[i]
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: m.name + "-credentials", Namespace: namespace},
			// One login per member: MX refuses a second connection of a user to an
			// institution with the same credentials.
			StringData: map[string]string{"username": "chaos-" + m.name, "password": "password"},
		}
		if err := c.Create(ctx, secret); err != nil {
			return err
		}
		return c.Create(ctx, &mxv1alpha1.MXMember{
			ObjectMeta: metav1.ObjectMeta{Name: m.name, Namespace: namespace},
			Spec: mxv1alpha1.MXMemberSpec{
				UserRef:              mxv1alpha1.LocalObjectReference{Name: m.user},
				InstitutionCode:      "mxbank",
				CredentialsSecretRef: &mxv1alpha1.LocalObjectReference{Name: secret.Name},
				DeletionPolicy:       m.policy,
			},
		})
	})
	if err != nil {
		return fmt.Errorf("creating the MXMembers: %w", err)
	}
	say("created %d MXUsers and %d MXMembers in the API server", len(r.plan.users), len(r.plan.members))
	return nil
}

// deleteSome deletes the planned members, then the planned users (whose deletion waits for
// their members), recording for each whether it had an MX object by then.
func (r *runner) deleteSome(ctx context.Context) error {
	err := parallel(ctx, len(r.plan.members), func(i int) error {
		m := r.plan.members[i]
		if !m.deleted {
			return nil
		}
		obj := &mxv1alpha1.MXMember{}
		return r.deleteObject(ctx, "MXMember/"+m.name, obj, func() string { return obj.Status.GUID })
	})
	if err != nil {
		return fmt.Errorf("deleting MXMembers: %w", err)
	}
	err = parallel(ctx, len(r.plan.users), func(i int) error {
		u := r.plan.users[i]
		if !u.deleted {
			return nil
		}
		obj := &mxv1alpha1.MXUser{}
		return r.deleteObject(ctx, "MXUser/"+u.name, obj, func() string { return obj.Status.GUID })
	})
	if err != nil {
		return fmt.Errorf("deleting MXUsers: %w", err)
	}
	say("deletions requested in the API server")
	return nil
}

// deleteObject reads the object key ("Kind/name") into obj, records whether guid() is set, and
// deletes it. A guid written between the read and the delete is not seen, which only makes the
// figures more lenient (an Orphan deletion then may, rather than must, leave its MX object).
func (r *runner) deleteObject(ctx context.Context, key string, obj client.Object, guid func() string) error {
	_, name, _ := strings.Cut(key, "/")
	if err := r.s.k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj); err != nil {
		return fmt.Errorf("reading %s: %w", key, err)
	}
	r.hadMXMu.Lock()
	r.hadMX[key] = guid() != ""
	r.hadMXMu.Unlock()
	return client.IgnoreNotFound(r.s.k8s.Delete(ctx, obj))
}

// parallel runs f(0)…f(n-1) on 8 workers and returns the first error.
func parallel(ctx context.Context, n int, f func(int) error) error {
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					firstErr = cmp.Or(firstErr, err)
					mu.Unlock()
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
	return cmp.Or(firstErr, ctx.Err())
}

// settle polls, every second until the settle timeout, until every object not deleted is Ready
// and every deleted one is gone, restarting a manager that exits on its own.
func (r *runner) settle(ctx context.Context) error {
	deadline := time.NewTimer(r.o.settle)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastReport := time.Now()
	for {
		snap, err := r.collectCRs(ctx)
		if err != nil {
			return err
		}
		pending := 0
		for _, o := range append(snap.Users, snap.Members...) {
			if o.Deleted == o.Exists || (!o.Deleted && !o.Ready) {
				pending++
			}
		}
		if pending == 0 {
			say("every object is Ready or gone")
			return nil
		}
		if time.Since(lastReport) >= 10*time.Second {
			say("settling: %d objects not yet Ready or gone", pending)
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-r.s.manager.done:
			r.s.manager.done <- err
			if err := r.restartAfterExit(ctx, err); err != nil {
				return err
			}
		case <-deadline.C:
			say("settle timeout: %d objects not Ready or gone after %s", pending, r.o.settle)
			return nil
		case <-tick.C:
		}
	}
}

// collectCRs reads the MXUsers and MXMembers of the plan from the API server.
func (r *runner) collectCRs(ctx context.Context) (snapshot, error) {
	var snap snapshot
	users := &mxv1alpha1.MXUserList{}
	if err := r.s.k8s.List(ctx, users, client.InNamespace(namespace)); err != nil {
		return snap, err
	}
	members := &mxv1alpha1.MXMemberList{}
	if err := r.s.k8s.List(ctx, members, client.InNamespace(namespace)); err != nil {
		return snap, err
	}
	userByName := map[string]*mxv1alpha1.MXUser{}
	for i := range users.Items {
		userByName[users.Items[i].Name] = &users.Items[i]
	}
	memberByName := map[string]*mxv1alpha1.MXMember{}
	for i := range members.Items {
		memberByName[members.Items[i].Name] = &members.Items[i]
	}
	for _, p := range r.plan.users {
		o := objectState{Name: p.name, PartnerID: partnerID(p.name), Policy: p.policy, Deleted: p.deleted, HadMXObject: r.hadMXObject("MXUser/" + p.name)}
		if u, ok := userByName[p.name]; ok {
			o.Exists, o.GUID = true, u.Status.GUID
			o.Ready = isReady(u.Status.Conditions, u.Generation, u.Status.ObservedGeneration)
			o.State = describe(u.Status.Conditions, u.DeletionTimestamp)
		}
		snap.Users = append(snap.Users, o)
	}
	for _, p := range r.plan.members {
		o := objectState{
			Name: p.name, PartnerID: partnerID(p.name), UserPartnerID: partnerID(p.user),
			Policy: p.policy, Deleted: p.deleted, HadMXObject: r.hadMXObject("MXMember/" + p.name),
		}
		if m, ok := memberByName[p.name]; ok {
			o.Exists, o.GUID = true, m.Status.GUID
			o.Ready = isReady(m.Status.Conditions, m.Generation, m.Status.ObservedGeneration)
			o.State = describe(m.Status.Conditions, m.DeletionTimestamp)
		}
		snap.Members = append(snap.Members, o)
	}
	return snap, nil
}

// collect reads the end state: the objects from the API server, users and members from the
// sandbox (users through its API, which the sandbox offers no snapshot of).
func (r *runner) collect(ctx context.Context) (snapshot, error) {
	snap, err := r.collectCRs(ctx)
	if err != nil {
		return snap, err
	}
	mxc, err := mx.New(mx.Config{BaseURL: r.s.sandboxURL, ClientID: mxClientID, APIKey: r.s.apiKey})
	if err != nil {
		return snap, err
	}
	users, err := mxc.ListUsers(ctx, mx.ListUsersOptions{})
	if err != nil {
		return snap, fmt.Errorf("listing the sandbox's users: %w", err)
	}
	for _, u := range users {
		snap.MXUsers = append(snap.MXUsers, mxObject{GUID: u.GUID, ID: u.ID})
	}
	for _, m := range r.s.sandbox.Members() {
		snap.MXMembers = append(snap.MXMembers, mxObject{GUID: m.GUID, ID: m.ID, UserID: m.UserID})
	}
	return snap, nil
}

func (r *runner) hadMXObject(key string) bool {
	r.hadMXMu.Lock()
	defer r.hadMXMu.Unlock()
	return r.hadMX[key]
}

func isReady(conds []metav1.Condition, generation, observed int64) bool {
	return apimeta.IsStatusConditionTrue(conds, mxv1alpha1.ReadyCondition) && observed == generation
}

// describe summarises an object's state for the stuck list: the Stalled, else Reconciling,
// else Ready condition's reason and message.
func describe(conds []metav1.Condition, deleting *metav1.Time) string {
	prefix := ""
	if deleting != nil {
		prefix = "deleting; "
	}
	for _, t := range []string{mxv1alpha1.StalledCondition, mxv1alpha1.ReconcilingCondition} {
		if c := apimeta.FindStatusCondition(conds, t); c != nil && c.Status == metav1.ConditionTrue {
			return fmt.Sprintf("%s%s=True %s: %s", prefix, t, c.Reason, c.Message)
		}
	}
	if c := apimeta.FindStatusCondition(conds, mxv1alpha1.ReadyCondition); c != nil {
		return fmt.Sprintf("%sReady=%s %s: %s", prefix, c.Status, c.Reason, c.Message)
	}
	return prefix + "no conditions"
}

// report prints the figures, the problems with the manager log lines about each, and the MX
// calls by endpoint.
func (r *runner) report(w io.Writer, f figures, calls []sandbox.RequestRecord) {
	fmt.Fprintf(w, "\nFigures (seed %d)\n", r.o.seed)
	fmt.Fprintf(w, "  MX users          %d (expected %s)\n", f.MXUsers, expectedRange(f.ExpectedMXUsers, f.MayRemainMXUsers))
	fmt.Fprintf(w, "  MX members        %d (expected %s)\n", f.MXMembers, expectedRange(f.ExpectedMXMembers, f.MayRemainMXMembers))
	fmt.Fprintf(w, "  kills             %d (create phase %d, delete phase %d); manager runs %d; exits without a kill %d\n",
		r.totalKills(), r.kills["create"], r.kills["delete"], r.s.manager.starts, len(r.unexpected))
	for _, line := range []struct {
		name string
		list []string
	}{{"duplicates", f.Duplicates}, {"orphans", f.Orphans}, {"missing", f.Missing}, {"stuck", f.Stuck}, {"unexpected exits", r.unexpected}} {
		fmt.Fprintf(w, "  %-17s %d\n", line.name, len(line.list))
		for _, item := range line.list {
			fmt.Fprintf(w, "      %s\n", item)
		}
	}
	printCalls(w, calls)
	if !f.clean() {
		r.printLogLines(w, f)
	}
	fmt.Fprintf(w, "\nManager log (all runs): %s\n", r.o.managerLog)
	fmt.Fprintf(w, "chaos: members=%d users=%d kills=%d duplicates=%d orphans=%d missing=%d stuck=%d unexpected-exits=%d wall=%s\n",
		len(r.plan.members), len(r.plan.users), r.totalKills(), len(f.Duplicates), len(f.Orphans), len(f.Missing), len(f.Stuck),
		len(r.unexpected), time.Since(r.began).Round(time.Second))
}

// expectedRange is "n", or "n to n+may (may Orphan deletions came before their MX object was
// known)".
func expectedRange(n, may int) string {
	if may == 0 {
		return strconv.Itoa(n)
	}
	return fmt.Sprintf("%d to %d: %d Orphan deletion(s) came before the MX object was known", n, n+may, may)
}

// callRow counts the answers of one endpoint: total, 2xx/3xx, other 4xx, 500, 503, none.
type callRow [6]int

func (c *callRow) add(o callRow) {
	for i := range c {
		c[i] += o[i]
	}
}

// printCalls prints the MX requests by endpoint and answer.
func printCalls(w io.Writer, calls []sandbox.RequestRecord) {
	rows := map[string]*callRow{}
	for _, c := range calls {
		rw := rows[c.Endpoint]
		if rw == nil {
			rw = &callRow{}
			rows[c.Endpoint] = rw
		}
		rw[0]++
		switch {
		case c.Status == 0:
			rw[5]++
		case c.Status == 500:
			rw[3]++
		case c.Status == 503:
			rw[4]++
		case c.Status < 400:
			rw[1]++
		default:
			rw[2]++
		}
	}
	endpoints := make([]string, 0, len(rows))
	for e := range rows {
		endpoints = append(endpoints, e)
	}
	sort.Strings(endpoints)
	line := func(name string, rw callRow) {
		fmt.Fprintf(w, "  %-48s %6d %6d %6d %6d %6d %6d\n", name, rw[0], rw[1], rw[2], rw[3], rw[4], rw[5])
	}
	fmt.Fprintf(w, "\nMX calls by endpoint (answers; none: dropped connection, or the manager was killed first)\n")
	fmt.Fprintf(w, "  %-48s %6s %6s %6s %6s %6s %6s\n", "endpoint", "calls", "2xx", "4xx", "500", "503", "none")
	var sum callRow
	for _, e := range endpoints {
		line(e, *rows[e])
		sum.add(*rows[e])
	}
	line("total", sum)
}

// printLogLines prints, for each object named in a problem, the last manager log lines that
// mention it (its quoted name, or the partner id or guid of an MX object).
func (r *runner) printLogLines(w io.Writer, f figures) {
	var needles []string
	seen := map[string]bool{}
	for _, item := range append(append(append(f.Duplicates, f.Orphans...), f.Missing...), f.Stuck...) {
		for _, word := range strings.Fields(item) {
			word = strings.Trim(word, `"():,`)
			if strings.HasPrefix(word, "user-") || strings.HasPrefix(word, "member-") ||
				strings.HasPrefix(word, "USR-") || strings.HasPrefix(word, "MBR-") {
				if !seen[word] {
					seen[word] = true
					needles = append(needles, word)
				}
			}
		}
	}
	for _, needle := range needles {
		fmt.Fprintf(w, "\nManager log lines mentioning %s (last 12):\n", needle)
		lines := grepTail(r.o.managerLog, needle, 12)
		if len(lines) == 0 {
			fmt.Fprintln(w, "  (none)")
		}
		for _, line := range lines {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
}

// grepTail returns the last n lines of the file that contain needle as a whole word, plus the
// harness's own "chaos:" lines between them (so kills show in context).
func grepTail(path, needle string, n int) []string {
	file, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer file.Close()
	var lines []string
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if containsWord(line, needle) || strings.HasPrefix(line, "chaos: ") {
			// The stack traces of "Reconciler error" lines say nothing about the object.
			line, _, _ = strings.Cut(line, `,"stacktrace":`)
			lines = append(lines, line)
		}
	}
	// Drop harness lines not followed by a match.
	for len(lines) > 0 && strings.HasPrefix(lines[len(lines)-1], "chaos: ") {
		lines = lines[:len(lines)-1]
	}
	var out []string
	matches := 0
	for i := len(lines) - 1; i >= 0 && matches < n; i-- {
		out = append(out, lines[i])
		if !strings.HasPrefix(lines[i], "chaos: ") {
			matches++
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// containsWord reports whether needle occurs in line not followed by a letter or digit (so
// member-001 does not match member-0012).
func containsWord(line, needle string) bool {
	for rest := line; ; {
		i := strings.Index(rest, needle)
		if i < 0 {
			return false
		}
		end := i + len(needle)
		if end == len(rest) || !isAlnum(rest[end]) {
			return true
		}
		rest = rest[end:]
	}
}

func isAlnum(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}
