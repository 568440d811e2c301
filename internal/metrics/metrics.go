// Package metrics exposes the operator's MX API usage as Prometheus metrics, served with
// controller-runtime's own metrics (which are registered on sigs.k8s.io/controller-runtime/
// pkg/metrics.Registry).
package metrics

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MXObserver counts and times every HTTP attempt the MX client makes. It implements
// mx.Observer. Its labels are bounded: endpoint is a route template such as
// "GET /users/{user}/members/{member}/status" and code an HTTP status ("0" when no response
// arrived).
type MXObserver struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	coolDown prometheus.Gauge
}

// NewMXObserver creates the metrics and registers them on reg, reusing them when a previous
// observer registered them there already.
//
//   - mx_operator_mx_requests_total{endpoint,code}: HTTP attempts made to MX.
//   - mx_operator_mx_request_duration_seconds{endpoint}: their latency.
func NewMXObserver(reg prometheus.Registerer) (*MXObserver, error) {
	o := &MXObserver{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mx_operator_mx_requests_total",
			Help: "HTTP requests made to the MX Platform API, by endpoint (route template) and status code (0: no response).",
		}, []string{"endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mx_operator_mx_request_duration_seconds",
			Help:    "Latency of HTTP requests to the MX Platform API, by endpoint (route template).",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint"}),
	}
	o.coolDown = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mx_operator_mx_cooldown_until_seconds",
		Help: "While MX refuses the operator (429, or a run of 5xx), the Unix time until which the MX client holds requests back before one probe; 0 when MX answers.",
	})
	if err := reg.Register(o.coolDown); err != nil {
		existing, ok := errors.AsType[prometheus.AlreadyRegisteredError](err)
		if !ok {
			return nil, err
		}
		o.coolDown = existing.ExistingCollector.(prometheus.Gauge)
	}
	if err := reg.Register(o.requests); err != nil {
		existing, ok := errors.AsType[prometheus.AlreadyRegisteredError](err)
		if !ok {
			return nil, err
		}
		o.requests = existing.ExistingCollector.(*prometheus.CounterVec)
	}
	if err := reg.Register(o.latency); err != nil {
		existing, ok := errors.AsType[prometheus.AlreadyRegisteredError](err)
		if !ok {
			return nil, err
		}
		o.latency = existing.ExistingCollector.(*prometheus.HistogramVec)
	}
	return o, nil
}

// ObserveRequest records one HTTP attempt.
func (o *MXObserver) ObserveRequest(endpoint string, code int, d time.Duration) {
	o.requests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
	o.latency.WithLabelValues(endpoint).Observe(d.Seconds())
}

// ObserveCoolDown records the MX client's cool-down (mx.HealthObserver): until when it holds
// requests back, or the zero time when MX answers again.
func (o *MXObserver) ObserveCoolDown(until time.Time) {
	if until.IsZero() {
		o.coolDown.Set(0)
		return
	}
	o.coolDown.Set(float64(until.UnixNano()) / 1e9)
}
