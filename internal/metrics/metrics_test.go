package metrics

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mxoperator/mx-operator/internal/mx"
)

// series returns the counter values and histogram sample counts gathered from reg, keyed by
// metric name and label values.
func series(g Gomega, reg *prometheus.Registry) map[string]float64 {
	families, err := reg.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			k := f.GetName()
			for _, l := range m.GetLabel() {
				k += " " + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				out[k] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				out[k] = float64(m.GetHistogram().GetSampleCount())
			case m.GetGauge() != nil:
				out[k] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func TestMXObserverCountsByEndpointAndCode(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewRegistry()
	o, err := NewMXObserver(reg)
	g.Expect(err).NotTo(HaveOccurred())
	o.ObserveRequest("GET /users/{user}/members/{member}/status", 200, 30*time.Millisecond)
	o.ObserveRequest("GET /users/{user}/members/{member}/status", 200, 40*time.Millisecond)
	o.ObserveRequest("POST /users/{user}/members", 0, time.Second)

	again, err := NewMXObserver(reg)
	g.Expect(err).NotTo(HaveOccurred(), "a second observer on the same registry reuses the metrics")
	again.ObserveRequest("POST /users/{user}/members", 0, time.Second)

	g.Expect(series(g, reg)).To(Equal(map[string]float64{
		"mx_operator_mx_requests_total code=200 endpoint=GET /users/{user}/members/{member}/status":  2,
		"mx_operator_mx_requests_total code=0 endpoint=POST /users/{user}/members":                   2,
		"mx_operator_mx_request_duration_seconds endpoint=GET /users/{user}/members/{member}/status": 2,
		"mx_operator_mx_request_duration_seconds endpoint=POST /users/{user}/members":                2,
		"mx_operator_mx_cooldown_until_seconds":                                                      0,
	}), "bounded labels: the route template and the status code (0: no response)")
}

func TestMXObserverShowsTheCoolDown(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewRegistry()
	o, err := NewMXObserver(reg)
	g.Expect(err).NotTo(HaveOccurred())
	var _ mx.HealthObserver = o
	until := time.Unix(1_800_000_000, 500_000_000)
	o.ObserveCoolDown(until)
	g.Expect(series(g, reg)).To(HaveKeyWithValue("mx_operator_mx_cooldown_until_seconds", 1_800_000_000.5))
	o.ObserveCoolDown(time.Time{})
	g.Expect(series(g, reg)).To(HaveKeyWithValue("mx_operator_mx_cooldown_until_seconds", 0.0))
}
