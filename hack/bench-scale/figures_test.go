package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestParseRequestTotals(t *testing.T) {
	g := NewWithT(t)
	exposition := `# HELP apiserver_request_total [STABLE] Counter of apiserver requests.
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="mx.mxoperator.dev",resource="mxmembers",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 12
apiserver_request_total{code="409",component="apiserver",dry_run="",group="mx.mxoperator.dev",resource="mxmembers",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 3
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="secrets",scope="resource",subresource="",verb="POST",version="v1"} 1e+03
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="",scope="",subresource="",verb="GET",version=""} 7
apiserver_request_duration_seconds_bucket{verb="PATCH",le="0.1"} 99
`
	got, err := parseRequestTotals(strings.NewReader(exposition))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(requestCounts{
		{Verb: "PATCH", Group: mxGroup, Resource: "mxmembers", Subresource: "status"}: 15, // codes summed
		{Verb: "POST", Resource: "secrets"}:                                           1000,
		{Verb: "GET"}:                                                                 7,
	}))
	g.Expect(got.writes()).To(Equal(1015.0), "the non-resource GET is not the operator's")

	_, err = parseRequestTotals(strings.NewReader(`apiserver_request_total{verb="GET 1` + "\n"))
	g.Expect(err).To(HaveOccurred(), "an unterminated label value")
}

func TestParseLabelsEscapes(t *testing.T) {
	g := NewWithT(t)
	labels, rest, err := parseLabels(`a="x\"y",b="\\n"} 5`)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(labels).To(Equal(map[string]string{"a": `x"y`, "b": `\n`}))
	g.Expect(rest).To(Equal(" 5"))
}

func TestClassify(t *testing.T) {
	cases := []struct {
		reason, method, url, contentType string
		want                             requestKey
	}{
		{"create in a namespace", http.MethodPost, "/api/v1/namespaces/bench/secrets", "", requestKey{Verb: "POST", Resource: "secrets"}},
		{"a namespace itself", http.MethodPost, "/api/v1/namespaces", "", requestKey{Verb: "POST", Resource: "namespaces"}},
		{"get by name", http.MethodGet, "/apis/mx.mxoperator.dev/v1alpha1/namespaces/bench/mxusers/user-1", "", requestKey{Verb: "GET", Group: mxGroup, Resource: "mxusers"}},
		{"cluster-wide list", http.MethodGet, "/apis/mx.mxoperator.dev/v1alpha1/mxmembers?limit=500", "", requestKey{Verb: "LIST", Group: mxGroup, Resource: "mxmembers"}},
		{"watch", http.MethodGet, "/apis/mx.mxoperator.dev/v1alpha1/namespaces/bench/mxmembers?watch=true", "", requestKey{Verb: "WATCH", Group: mxGroup, Resource: "mxmembers"}},
		{"status subresource", http.MethodPatch, "/apis/mx.mxoperator.dev/v1alpha1/namespaces/bench/mxmembers/m/status", "application/merge-patch+json", requestKey{Verb: "PATCH", Group: mxGroup, Resource: "mxmembers", Subresource: "status"}},
		{"server-side apply", http.MethodPatch, "/api/v1/namespaces/bench/secrets/s", "application/apply-patch+yaml", requestKey{Verb: "APPLY", Resource: "secrets"}},
		{"namespace status is not a namespaced resource", http.MethodPut, "/api/v1/namespaces/bench/status", "", requestKey{Verb: "PUT", Resource: "namespaces", Subresource: "status"}},
		{"delete collection", http.MethodDelete, "/api/v1/namespaces/bench/secrets", "", requestKey{Verb: "DELETECOLLECTION", Resource: "secrets"}},
		{"discovery", http.MethodGet, "/apis", "", requestKey{Verb: "GET"}},
	}
	for _, c := range cases {
		t.Run(c.reason, func(t *testing.T) {
			g := NewWithT(t)
			req, err := http.NewRequest(c.method, "https://127.0.0.1:6443"+c.url, nil)
			g.Expect(err).NotTo(HaveOccurred())
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			g.Expect(classify(req)).To(Equal(c.want))
		})
	}
}

func TestSinceSubtractsTheHarness(t *testing.T) {
	g := NewWithT(t)
	create := requestKey{Verb: "POST", Group: mxGroup, Resource: "mxusers"}
	patch := requestKey{Verb: "PATCH", Group: mxGroup, Resource: "mxusers"}
	t0 := time.Now()
	before := counters{at: t0, mx: map[string]int{"POST /users": 1}, api: requestCounts{create: 1}, own: requestCounts{create: 1}}
	after := counters{at: t0.Add(time.Second), mx: map[string]int{"POST /users": 4, "GET /users": 0},
		api: requestCounts{create: 4, patch: 3}, own: requestCounts{create: 4}}
	u := since(before, after)
	g.Expect(u.elapsed).To(Equal(time.Second))
	g.Expect(u.mx).To(Equal(map[string]int{"POST /users": 3}))
	g.Expect(u.api).To(Equal(requestCounts{patch: 3}), "the harness's creates are not the manager's")
}

func TestPercentile(t *testing.T) {
	g := NewWithT(t)
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	g.Expect(percentile(d, 50)).To(Equal(100 * time.Millisecond))
	g.Expect(percentile(d, 99)).To(Equal(198 * time.Millisecond))
	g.Expect(percentile(d, 100)).To(Equal(200 * time.Millisecond))
	g.Expect(percentile(d[:1], 99)).To(Equal(time.Millisecond))
	g.Expect(percentile(nil, 50)).To(BeZero())
}

func TestProcParsing(t *testing.T) {
	g := NewWithT(t)
	status := []byte("Name:\tmanager\nVmHWM:\t   94208 kB\nVmRSS:\t   81920 kB\nRssAnon:\t   40960 kB\n")
	g.Expect(statusKB(status, "VmHWM:")).To(Equal(int64(94208 * 1024)))
	g.Expect(statusKB(status, "VmRSS:")).To(Equal(int64(81920 * 1024)))
	g.Expect(statusKB(status, "RssAnon:")).To(Equal(int64(40960 * 1024)))
	_, err := statusKB(status, "VmSwap:")
	g.Expect(err).To(HaveOccurred())

	// A command name with spaces and parentheses; utime 250 and stime 50 ticks.
	stat := []byte("4242 (my (odd) manager) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0")
	g.Expect(statCPU(stat)).To(Equal(3 * time.Second))
}
