package mx

import (
	"context"
	"errors"
	"testing"

	. "github.com/onsi/gomega"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// TestMemberTransactionPages proves that the page walk hands over the same transactions as
// ListMemberTransactions, one page at a time at the configured page size, with MX's JSON kept
// byte for byte, and that an error from the callback stops the walk.
func TestMemberTransactionPages(t *testing.T) {
	g := NewWithT(t)
	e := newSandboxEnv(t)
	ctx := context.Background()
	u := e.newUser(g, "pages")
	m, _, err := e.c.CreateMember(ctx, u.GUID, CreateMemberRequest{InstitutionCode: sandbox.InstitutionMXBank, Credentials: mxbankCreds("mxuser", "password")})
	g.Expect(err).NotTo(HaveOccurred())
	e.sb.Advance(10 * step)

	all, err := e.c.ListMemberTransactions(ctx, u.GUID, m.GUID, DateRange{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(len(all)).To(BeNumerically(">", 100))

	c, _ := newTestClient(t, e.srv.URL, func(c *Config) { c.PageSize = 100 })
	e.sb.ResetCalls()
	var guids []string
	pages := 0
	err = c.MemberTransactionPages(ctx, u.GUID, m.GUID, DateRange{}, func(p TransactionPage) error {
		pages++
		g.Expect(p.Number).To(Equal(pages))
		g.Expect(len(p.Transactions)).To(BeNumerically("<=", 100))
		g.Expect(p.TotalEntries).To(Equal(len(all)))
		for _, tx := range p.Transactions {
			g.Expect(string(tx.JSON)).To(ContainSubstring(`"guid":"` + tx.Transaction.GUID + `"`))
			guids = append(guids, tx.Transaction.GUID)
		}
		return nil
	})
	g.Expect(err).NotTo(HaveOccurred())
	want := (len(all) + 99) / 100
	g.Expect(pages).To(Equal(want))
	g.Expect(e.sb.CallCount("GET /users/{user}/members/{member}/transactions")).To(Equal(want))
	g.Expect(guids).To(HaveLen(len(all)))
	for i := range all {
		g.Expect(guids[i]).To(Equal(all[i].GUID))
	}

	stop := errors.New("stop")
	e.sb.ResetCalls()
	err = c.MemberTransactionPages(ctx, u.GUID, m.GUID, DateRange{}, func(TransactionPage) error { return stop })
	g.Expect(err).To(BeIdenticalTo(stop))
	g.Expect(e.sb.CallCount("GET /users/{user}/members/{member}/transactions")).To(Equal(1), "the walk stops at the first page")
}
