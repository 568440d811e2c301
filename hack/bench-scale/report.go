package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// results are the figures of one run.
type results struct {
	o                  options
	converge, baseline convergeFigures
	// convergeUsage is the manager's /proc after the converge phase.
	convergeUsage procUsage
	extra         extraFigures
	// restart and quiet are the fixed windows after a restart and with nothing changing.
	restart, quiet windowFigures
}

const mib = 1 << 20

// ratio is the manager's time to all Ready over the baseline's (0 when either is missing).
func (r *results) ratio() float64 {
	if r.baseline.allReady <= 0 || r.converge.allReady <= 0 {
		return 0
	}
	return r.converge.allReady.Seconds() / r.baseline.allReady.Seconds()
}

// perPair divides by the number of pairs.
func (r *results) perPair(v float64) float64 { return v / float64(r.o.pairs) }

// eventWrites counts the writes on Events.
func eventWrites(c requestCounts) float64 {
	return c.sum(func(k requestKey) bool { return k.write() && k.Resource == "events" })
}

// print writes the table, the per-endpoint and per-resource breakdowns, the windows, a row for
// docs/benchmarks.md and the machine-readable line.
func (r *results) print(w io.Writer) {
	o, c, b := r.o, r.converge, r.baseline
	fmt.Fprintf(w, "\nScale: %d pairs (one MXUser, one MXMember and its credentials Secret each); manager --mx-qps %g --mx-burst %d --max-concurrent-reconciles %d; sandbox aggregation %s\n\n",
		o.pairs, o.mxQPS, o.mxBurst, o.concurrency, o.aggregation)
	row := func(name, manager, baseline string) { fmt.Fprintf(w, "  %-28s %-22s %s\n", name, manager, baseline) }
	row("", "manager", "baseline (floor writes, no MX)")
	row("time to all Ready", seconds(c.allReady), fmt.Sprintf("%s  (ratio %.2f)", seconds(b.allReady), r.ratio()))
	row("member Ready p50 / p99", p50p99(c), p50p99(b))
	row("creates took", seconds(c.creates), seconds(b.creates))
	row("not Ready", fmt.Sprint(c.notReady), fmt.Sprint(b.notReady))
	row("MX calls per pair", fmt.Sprintf("%.2f", r.perPair(float64(c.usage.mxCalls()))), fmt.Sprintf("%.2f", r.perPair(float64(b.usage.mxCalls()))))
	row("API writes per pair", fmt.Sprintf("%.2f (%.2f Events)", r.perPair(c.usage.api.writes()), r.perPair(eventWrites(c.usage.api))),
		fmt.Sprintf("%.2f", r.perPair(b.usage.api.writes())))
	row("API reads per pair", fmt.Sprintf("%.2f", r.perPair(c.usage.api.reads())), fmt.Sprintf("%.2f", r.perPair(b.usage.api.reads())))
	row("manager peak RSS", fmt.Sprintf("%.1f MiB (now %.1f, %.1f of it anonymous)", float64(r.convergeUsage.PeakRSS)/mib,
		float64(r.convergeUsage.RSS)/mib, float64(r.convergeUsage.AnonRSS)/mib), "")
	row("manager CPU", fmt.Sprintf("%.1f s (%.1f ms per pair)", r.convergeUsage.CPU.Seconds(), 1000*r.perPair(r.convergeUsage.CPU.Seconds())), "")

	fmt.Fprintf(w, "\nMX calls per pair, by endpoint (sandbox counters, first create to %s after the last Ready)\n", o.settle)
	for _, e := range slices.Sorted(maps.Keys(c.usage.mx)) {
		fmt.Fprintf(w, "  %-48s %8.3f  (%d)\n", e, r.perPair(float64(c.usage.mx[e])), c.usage.mx[e])
	}

	fmt.Fprintf(w, "\nAPI-server requests per pair, by verb and resource (apiserver_request_total; the harness's own requests subtracted)\n")
	fmt.Fprintf(w, "  %-40s %10s %10s\n", "", "manager", "baseline")
	both := requestCounts{}
	for k, v := range c.usage.api {
		both[k] += v
	}
	for k, v := range b.usage.api {
		both[k] += v
	}
	for _, k := range both.sortedKeys(requestKey.operatorResource) {
		fmt.Fprintf(w, "  %-40s %10.3f %10.3f\n", k, r.perPair(c.usage.api[k]), r.perPair(b.usage.api[k]))
	}
	other := func(u usage) float64 { return u.api.sum(func(k requestKey) bool { return !k.operatorResource() }) }
	fmt.Fprintf(w, "  not counted: %.0f and %.0f requests on other resources (the API server's own loops, discovery)\n", other(c.usage), other(b.usage))

	e := r.extra
	if e.firstEndpoint != "" {
		fmt.Fprintf(w, "\nOne more member, %d pairs converged: first MX call %s after its create (%s), Ready after %s; %d MX calls, %.0f API writes\n",
			o.pairs, millis(e.firstCall), e.firstEndpoint, seconds(e.ready), e.usage.mxCalls(), e.usage.api.writes())
	}
	window := func(name string, f windowFigures) {
		fmt.Fprintf(w, "%s: %d MX calls, %.0f API writes, %.0f API reads; manager RSS peak %.1f MiB, now %.1f MiB (%.1f anonymous)\n",
			name, f.usage.mxCalls(), f.usage.api.writes(), f.usage.api.reads(), float64(f.proc.PeakRSS)/mib, float64(f.proc.RSS)/mib, float64(f.proc.AnonRSS)/mib)
		for _, k := range f.usage.api.sortedKeys(func(k requestKey) bool { return k.operatorResource() && k.write() }) {
			fmt.Fprintf(w, "    %-40s %6.0f\n", k, f.usage.api[k])
		}
		for _, ep := range slices.Sorted(maps.Keys(f.usage.mx)) {
			fmt.Fprintf(w, "    %-40s %6d\n", ep, f.usage.mx[ep])
		}
	}
	fmt.Fprintln(w)
	window(fmt.Sprintf("Restart, %s from the new process's start", o.restartWindow), r.restart)
	window(fmt.Sprintf("Quiet, %s", o.quietWindow), r.quiet)

	fmt.Fprintf(w, "\nRow for docs/benchmarks.md:\n| %d | %s | %s | %.2f | %.2f | %.0f MiB (%.0f after restart) | %s | %.2f | %s / %s | %d / %.0f | %d / %.0f |\n\n",
		o.pairs, seconds(c.allReady), p50p99(c), r.perPair(float64(c.usage.mxCalls())), r.perPair(c.usage.api.writes()),
		float64(r.convergeUsage.PeakRSS)/mib, float64(r.restart.proc.PeakRSS)/mib, seconds(b.allReady), r.ratio(),
		seconds(e.firstCall), seconds(e.ready), r.restart.usage.mxCalls(), r.restart.usage.api.writes(), r.quiet.usage.mxCalls(), r.quiet.usage.api.writes())

	fields := []string{
		fmt.Sprintf("pairs=%d", o.pairs),
		fmt.Sprintf("mx_qps=%g", o.mxQPS),
		fmt.Sprintf("all_ready_s=%.2f", c.allReady.Seconds()),
		fmt.Sprintf("p50_s=%.2f", c.p50.Seconds()),
		fmt.Sprintf("p99_s=%.2f", c.p99.Seconds()),
		fmt.Sprintf("not_ready=%d", c.notReady),
		fmt.Sprintf("mx_calls_per_pair=%.3f", r.perPair(float64(c.usage.mxCalls()))),
		fmt.Sprintf("writes_per_pair=%.3f", r.perPair(c.usage.api.writes())),
		fmt.Sprintf("events_per_pair=%.3f", r.perPair(eventWrites(c.usage.api))),
		fmt.Sprintf("reads_per_pair=%.3f", r.perPair(c.usage.api.reads())),
		fmt.Sprintf("peak_rss_mib=%.1f", float64(r.convergeUsage.PeakRSS)/mib),
		fmt.Sprintf("anon_rss_mib=%.1f", float64(r.convergeUsage.AnonRSS)/mib),
		fmt.Sprintf("cpu_s=%.2f", r.convergeUsage.CPU.Seconds()),
		fmt.Sprintf("baseline_all_ready_s=%.2f", b.allReady.Seconds()),
		fmt.Sprintf("baseline_writes_per_pair=%.3f", r.perPair(b.usage.api.writes())),
		fmt.Sprintf("ratio=%.2f", r.ratio()),
		fmt.Sprintf("extra_first_call_s=%.3f", e.firstCall.Seconds()),
		fmt.Sprintf("extra_ready_s=%.2f", e.ready.Seconds()),
		fmt.Sprintf("restart_mx_calls=%d", r.restart.usage.mxCalls()),
		fmt.Sprintf("restart_writes=%.0f", r.restart.usage.api.writes()),
		fmt.Sprintf("restart_peak_rss_mib=%.1f", float64(r.restart.proc.PeakRSS)/mib),
		fmt.Sprintf("quiet_mx_calls=%d", r.quiet.usage.mxCalls()),
		fmt.Sprintf("quiet_writes=%.0f", r.quiet.usage.api.writes()),
	}
	fmt.Fprintf(w, "bench-scale: %s\n", strings.Join(fields, " "))
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func millis(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

func p50p99(c convergeFigures) string {
	return fmt.Sprintf("%.2f / %.2f s", c.p50.Seconds(), c.p99.Seconds())
}
