package controller_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// apiWrites reads the API server's own request counters (apiserver_request_total on /metrics)
// and returns the writes on MXUsers and MXMembers (PATCH and PUT, status included) and the
// Events created. The stories create their objects with POST only, so these are the manager's.
func apiWrites() (objects, events float64) {
	hc, err := rest.HTTPClientFor(cfg)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+"/metrics", nil)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	res, err := hc.Do(req)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	defer res.Body.Close()
	ExpectWithOffset(1, res.StatusCode).To(Equal(http.StatusOK))
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		has := func(label, value string) bool { return strings.Contains(line, fmt.Sprintf(`%s="%s"`, label, value)) }
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
		switch {
		case has("group", "mx.mxoperator.dev") && (has("resource", "mxusers") || has("resource", "mxmembers")) && (has("verb", "PATCH") || has("verb", "PUT")):
			objects += v
		case has("resource", "events") && has("verb", "POST"):
			events += v
		}
	}
	ExpectWithOffset(1, sc.Err()).NotTo(HaveOccurred())
	return objects, events
}

var _ = Describe("What a converged pair costs the API server", func() {
	It("takes 4 writes per MXUser + MXMember pair (each object's finalizer, each object's status once Ready: the member's after-create status goes with its first read) and no Event", func() {
		const pairs = 3
		s := newStory(storyOptions{})
		objects0, events0 := apiWrites()
		// The users first: a member reconciled before its user is Ready writes UserNotReady, which
		// is honest but not the floor this story measures.
		var objs []client.Object
		for i := range pairs {
			u := s.user(fmt.Sprintf("cost-%d", i))
			s.create(u)
			objs = append(objs, u)
		}
		for _, u := range objs {
			eventuallyReady(u)
		}
		for i := range pairs {
			name := fmt.Sprintf("cost-%d", i)
			m := s.member(name+"-bank", name, name+"-creds")
			s.create(s.secret(name+"-creds", credentials(mxbankUser, defaultPassword)), m)
			objs = append(objs, m)
		}
		for _, o := range objs {
			eventuallyReady(o)
		}
		calls := s.calls()
		Expect(calls[epCredentials]).To(BeNumerically("<=", 2), "the institution's fields are cached per process (read by at most the 2 workers that start together)")
		delete(calls, epCredentials)
		Expect(calls).To(Equal(map[string]int{
			epCreateUser: pairs, epCreateMember: pairs, epStatus: pairs, epAccounts: pairs,
		}), "4 MX calls per pair")
		Eventually(func(g Gomega) {
			objects, events := apiWrites()
			g.Expect(objects - objects0).To(Equal(float64(4 * pairs)))
			g.Expect(events - events0).To(BeZero())
		}).Should(Succeed())
		Consistently(func() float64 { o, _ := apiWrites(); return o - objects0 }, "2s").Should(Equal(float64(4*pairs)), "and nothing more once converged")
	})
})
