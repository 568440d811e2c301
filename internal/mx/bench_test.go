package mx

import (
	"context"
	"net/http/httptest"
	"testing"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// Benchmarks of the client against the sandbox over real HTTP on 127.0.0.1. They report figures
// (time and allocations per operation, MX calls per operation); they assert nothing about speed.
//
//	go test -run '^$' -bench . -benchmem ./internal/mx/

// benchEnv is a connected member with accounts in a fake-clock sandbox.
type benchEnv struct {
	sb           *sandbox.Sandbox
	c            *Client
	user, member string
}

func newBenchEnv(b *testing.B, username string) *benchEnv {
	b.Helper()
	clock := sandbox.NewFakeClock(sandboxStart)
	sb := sandbox.New(sandbox.Options{ClientID: testClientID, APIKey: testAPIKey, Clock: clock})
	srv := httptest.NewServer(sb)
	b.Cleanup(func() { srv.Close(); sb.Close() })
	c, err := New(Config{BaseURL: srv.URL, ClientID: testClientID, APIKey: testAPIKey})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	u, err := c.CreateUser(ctx, CreateUserRequest{ID: "bench-user"})
	if err != nil {
		b.Fatal(err)
	}
	m, _, err := c.CreateMember(ctx, u.GUID, CreateMemberRequest{
		InstitutionCode: sandbox.InstitutionMXBank,
		Credentials:     mxbankCreds(username, "password"),
	})
	if err != nil {
		b.Fatal(err)
	}
	sb.Advance(10 * sandbox.DefaultAggregationDuration)
	return &benchEnv{sb: sb, c: c, user: u.GUID, member: m.GUID}
}

// BenchmarkGetMemberStatus is the operator's polling call.
func BenchmarkGetMemberStatus(b *testing.B) {
	e := newBenchEnv(b, "mxuser")
	ctx := context.Background()
	e.sb.ResetCalls()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.c.GetMemberStatus(ctx, e.user, e.member); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(e.sb.TotalCalls())/float64(b.N), "mx-calls/op")
}

// BenchmarkListMemberAccounts lists all accounts of a member with many: one page at the client's
// default page size, where MX's default of 25 would take several.
func BenchmarkListMemberAccounts(b *testing.B) {
	for _, tc := range []struct {
		name, username string
	}{{"6-accounts", "mxuser"}, {"300-accounts", "mxuser_accounts_300"}} {
		b.Run(tc.name, func(b *testing.B) {
			e := newBenchEnv(b, tc.username)
			ctx := context.Background()
			e.sb.ResetCalls()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.c.ListMemberAccounts(ctx, e.user, e.member); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(e.sb.TotalCalls())/float64(b.N), "mx-calls/op")
		})
	}
}

// BenchmarkListMemberTransactions walks ~90 days of transactions.
func BenchmarkListMemberTransactions(b *testing.B) {
	e := newBenchEnv(b, "mxuser")
	ctx := context.Background()
	e.sb.ResetCalls()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.c.ListMemberTransactions(ctx, e.user, e.member, DateRange{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(e.sb.TotalCalls())/float64(b.N), "mx-calls/op")
}
