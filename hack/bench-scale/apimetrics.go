package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// requestKey is one series of apiserver_request_total, without code, scope, version and dry_run.
type requestKey struct {
	Verb, Group, Resource, Subresource string
}

// String is "PATCH mxmembers/status" (with ".group" for another group than core and mx).
func (k requestKey) String() string {
	r := k.Resource
	if k.Group != "" && k.Group != mxGroup {
		r += "." + k.Group
	}
	if k.Subresource != "" {
		r += "/" + k.Subresource
	}
	if r == "" {
		r = "(non-resource)"
	}
	return k.Verb + " " + r
}

// mxGroup is the API group of MXUser and MXMember.
const mxGroup = "mx.mxoperator.dev"

// write reports whether the verb changes something.
func (k requestKey) write() bool {
	switch k.Verb {
	case "POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION":
		return true
	}
	return false
}

// operatorResource reports whether the request is on a resource the manager touches (its kinds,
// Secrets, Events). Everything else the API server counts is its own loops (leases, endpoints,
// flow control) or discovery, reported apart.
func (k requestKey) operatorResource() bool {
	switch {
	case k.Group == mxGroup:
		return true
	case k.Group == "" && (k.Resource == "secrets" || k.Resource == "events"):
		return true
	case k.Group == "events.k8s.io" && k.Resource == "events":
		return true
	}
	return false
}

// requestCounts counts requests by series.
type requestCounts map[requestKey]float64

// minus returns c - o, series by series.
func (c requestCounts) minus(o requestCounts) requestCounts {
	out := maps.Clone(c)
	for k, v := range o {
		out[k] -= v
	}
	for k, v := range out {
		if v == 0 {
			delete(out, k)
		}
	}
	return out
}

// sum adds up the series for which keep is true.
func (c requestCounts) sum(keep func(requestKey) bool) float64 {
	total := 0.0
	for k, v := range c {
		if keep(k) {
			total += v
		}
	}
	return total
}

// writes sums the writes on the operator's resources.
func (c requestCounts) writes() float64 {
	return c.sum(func(k requestKey) bool { return k.operatorResource() && k.write() })
}

// reads sums the reads (GET, LIST, WATCH) on the operator's resources.
func (c requestCounts) reads() float64 {
	return c.sum(func(k requestKey) bool { return k.operatorResource() && !k.write() })
}

// sortedKeys returns the series that keep accepts, writes first, then by name.
func (c requestCounts) sortedKeys(keep func(requestKey) bool) []requestKey {
	var keys []requestKey
	for k := range c {
		if keep(k) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b requestKey) int {
		if a.write() != b.write() {
			if a.write() {
				return -1
			}
			return 1
		}
		return strings.Compare(a.String(), b.String())
	})
	return keys
}

// scrapeRequests reads apiserver_request_total from the API server's /metrics.
func scrapeRequests(ctx context.Context, hc *http.Client, cfg *rest.Config) (requestCounts, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading the API server's metrics: %s", res.Status)
	}
	return parseRequestTotals(res.Body)
}

// parseRequestTotals reads the apiserver_request_total samples of a Prometheus text exposition,
// summed over the labels requestKey leaves out.
func parseRequestTotals(r io.Reader) (requestCounts, error) {
	const name = "apiserver_request_total{"
	out := requestCounts{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		labels, rest, err := parseLabels(line[len(name):])
		if err != nil {
			return nil, fmt.Errorf("%w in %q", err, line)
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("no value in %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("value of %q: %w", line, err)
		}
		out[requestKey{Verb: labels["verb"], Group: labels["group"], Resource: labels["resource"], Subresource: labels["subresource"]}] += v
	}
	return out, sc.Err()
}

// parseLabels parses `a="x",b="y"}` and returns the labels and what follows the brace.
func parseLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, ", ")
		if strings.HasPrefix(s, "}") {
			return labels, s[1:], nil
		}
		eq := strings.Index(s, `="`)
		if eq < 0 {
			return nil, "", fmt.Errorf("malformed labels")
		}
		key := s[:eq]
		s = s[eq+2:]
		var b strings.Builder
		i := 0
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					b.WriteByte('\n')
				default:
					b.WriteByte(s[i])
				}
				continue
			}
			b.WriteByte(s[i])
		}
		if i == len(s) {
			return nil, "", fmt.Errorf("unterminated label value")
		}
		labels[key] = b.String()
		s = s[i+1:]
	}
}

// requestCounter counts the harness's own requests to the API server as apiserver_request_total
// would: by verb and resource, when the request is over (a watch, when its body is closed), so
// that they can be subtracted from the API server's counts.
type requestCounter struct {
	mu     sync.Mutex
	counts requestCounts
}

func newRequestCounter() *requestCounter { return &requestCounter{counts: requestCounts{}} }

// snapshot returns a copy of the counts so far.
func (c *requestCounter) snapshot() requestCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

func (c *requestCounter) add(k requestKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[k]++
}

// wrap is a rest.Config wrapper (Config.Wrap).
func (c *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return countingTransport{rt: rt, c: c}
}

type countingTransport struct {
	rt http.RoundTripper
	c  *requestCounter
}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	key := classify(req)
	res, err := t.rt.RoundTrip(req)
	if err != nil || res.Body == nil {
		t.c.add(key)
		return res, err
	}
	res.Body = &countOnClose{ReadCloser: res.Body, done: func() { t.c.add(key) }}
	return res, nil
}

type countOnClose struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *countOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// classify maps a request to the labels apiserver_request_total gives it, for the paths a
// client-go client sends: the HTTP method, except LIST and WATCH for collection reads and
// watches, APPLY for a server-side apply patch and DELETECOLLECTION.
func classify(req *http.Request) requestKey {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	var k requestKey
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		k.Group = parts[1]
		parts = parts[3:]
	default:
		// Discovery, /metrics and the like: non-resource requests.
		k.Verb = req.Method
		return k
	}
	if len(parts) >= 3 && parts[0] == "namespaces" && parts[2] != "status" && parts[2] != "finalize" {
		parts = parts[2:]
	}
	named := len(parts) >= 2
	if len(parts) > 0 {
		k.Resource = parts[0]
	}
	if len(parts) >= 3 {
		k.Subresource = parts[2]
	}
	switch req.Method {
	case http.MethodGet:
		switch {
		case req.URL.Query().Get("watch") == "true" || req.URL.Query().Get("watch") == "1":
			k.Verb = "WATCH"
		case named:
			k.Verb = "GET"
		default:
			k.Verb = "LIST"
		}
	case http.MethodPatch:
		k.Verb = "PATCH"
		if strings.HasPrefix(req.Header.Get("Content-Type"), "application/apply-patch") {
			k.Verb = "APPLY"
		}
	case http.MethodDelete:
		k.Verb = "DELETE"
		if !named {
			k.Verb = "DELETECOLLECTION"
		}
	default:
		// POST, PUT and the rest are reported as they are.
		k.Verb = req.Method
	}
	return k
}
