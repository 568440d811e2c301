package mxsandbox_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// Start in a test: the sandbox serves on 127.0.0.1 until the test ends. The code under test
// gets its URL and credentials.
func ExampleStart() {
	testConnects := func(t *testing.T) {
		sb := mxsandbox.Start(t, mxsandbox.Options{AggregationDuration: 100 * time.Millisecond})
		opts := sb.Options()
		t.Logf("MX base URL %s, client_id %s, api_key %s", sb.URL(), opts.ClientID, opts.APIKey)
		// ... run the code under test, then assert what MX saw:
		if n := sb.MemberCount(); n != 1 {
			t.Errorf("MX has %d members, want 1", n)
		}
	}
	_ = testConnects
}

// Inject a fault into one endpoint, see it answer, and remove it again.
func ExampleSandbox_SetFault() {
	sb, err := mxsandbox.NewServer(mxsandbox.Options{})
	if err != nil {
		panic(err)
	}
	defer sb.Close()

	sb.SetFault(mxsandbox.EndpointCreateUser, mxsandbox.Fault{RateLimitRate: 1, RetryAfter: 30 * time.Second})
	fmt.Println("rate limited:", mxCall(sb, "POST", "/users", `{"user":{"id":"bob"}}`, nil), sb.UserCount())

	sb.SetFault(mxsandbox.EndpointCreateUser, mxsandbox.Fault{CommitThenFail: 1})
	fmt.Println("committed, answer lost:", mxCall(sb, "POST", "/users", `{"user":{"id":"bob"}}`, nil), sb.UserCount())

	sb.SetFault(mxsandbox.EndpointCreateUser, mxsandbox.Fault{}) // the zero Fault removes it
	fmt.Println("faults left:", len(sb.Faults()))
	// Output:
	// rate limited: 429 0
	// committed, answer lost: 500 1
	// faults left: 0
}

// A storm: every endpoint is rate limited until the fault is cleared.
func ExampleSandbox_SetFaultAll() {
	sb, err := mxsandbox.NewServer(mxsandbox.Options{})
	if err != nil {
		panic(err)
	}
	defer sb.Close()

	sb.SetFaultAll(mxsandbox.Fault{RateLimitRate: 1, RetryAfter: time.Second})
	fmt.Println(mxCall(sb, "GET", "/users", "", nil), mxCall(sb, "GET", "/institutions", "", nil))
	sb.ClearFaults()
	fmt.Println(mxCall(sb, "GET", "/users", "", nil))
	// Output:
	// 429 429
	// 200
}

// Read the call counters and the request log: what the code under test asked MX, refused and
// faulted requests included.
func ExampleSandbox_CallCount() {
	sb, err := mxsandbox.NewServer(mxsandbox.Options{})
	if err != nil {
		panic(err)
	}
	defer sb.Close()

	mxCall(sb, "POST", "/users", `{"user":{"id":"carol"}}`, nil)
	mxCall(sb, "POST", "/users", `{"user":{"id":"carol"}}`, nil) // the id is taken: 409
	mxCall(sb, "GET", "/users", "", nil)

	fmt.Println("create user:", sb.CallCount(mxsandbox.EndpointCreateUser))
	fmt.Println("total:", sb.TotalCalls())
	for _, r := range sb.Requests() {
		fmt.Println(r.Endpoint, r.Status)
	}
	sb.ResetCalls()
	fmt.Println("after reset:", sb.TotalCalls())
	// Output:
	// create user: 2
	// total: 3
	// POST /users 200
	// POST /users 409
	// GET /users 200
	// after reset: 0
}

// Play the end user authorising an OAuth member, which then aggregates.
func ExampleSandbox_AuthorizeOAuth() {
	clock := mxsandbox.NewFakeClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	sb, err := mxsandbox.NewServer(mxsandbox.Options{Clock: clock})
	if err != nil {
		panic(err)
	}
	defer sb.Close()

	var user struct {
		User struct{ GUID string } `json:"user"`
	}
	mxCall(sb, "POST", "/users", `{"user":{"id":"dave"}}`, &user)
	var created struct {
		Member struct{ GUID string } `json:"member"`
	}
	mxCall(sb, "POST", "/users/"+user.User.GUID+"/members",
		`{"member":{"institution_code":"`+mxsandbox.InstitutionMXBankOAuth+`","is_oauth":true}}`, &created)
	m, _ := sb.Member(created.Member.GUID)
	fmt.Println(m.ConnectionStatus)

	if err := sb.AuthorizeOAuth(m.GUID); err != nil {
		panic(err)
	}
	sb.Advance(mxsandbox.DefaultAggregationDuration)
	m, _ = sb.Member(m.GUID)
	fmt.Println(m.ConnectionStatus)
	// Output:
	// PENDING
	// CONNECTED
}

// The Connect widget: the code under test mints a widget URL; the test plays the end user, who
// connects through it and answers the MFA question in the widget. The URL works once.
func ExampleSandbox_ConnectThroughWidget() {
	clock := mxsandbox.NewFakeClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	sb, err := mxsandbox.NewServer(mxsandbox.Options{Clock: clock})
	if err != nil {
		panic(err)
	}
	defer sb.Close()

	var user struct {
		User struct{ GUID string } `json:"user"`
	}
	mxCall(sb, "POST", "/users", `{"user":{"id":"alice"}}`, &user)
	var widget struct {
		WidgetURL struct{ Type, URL string } `json:"widget_url"`
	}
	status := mxCall(sb, "POST", "/users/"+user.User.GUID+"/widget_urls",
		`{"widget_url":{"widget_type":"connect_widget","current_institution_code":"mxbank"}}`, &widget)
	fmt.Println("minted:", status, widget.WidgetURL.Type)

	guid, err := sb.ConnectThroughWidget(widget.WidgetURL.URL, mxsandbox.WidgetConnect{
		Username: "alice", Password: "challenge", Answers: []string{mxsandbox.CorrectAnswer}})
	if err != nil {
		panic(err)
	}
	sb.Advance(2 * mxsandbox.DefaultAggregationDuration) // CHALLENGED, answered, RESUMED, CONNECTED
	m, _ := sb.Member(guid)
	fmt.Printf("member: %s, partner id %q\n", m.ConnectionStatus, m.ID)

	_, err = sb.ConnectThroughWidget(widget.WidgetURL.URL, mxsandbox.WidgetConnect{Username: "bob", Password: "password"})
	fmt.Println("again:", errors.Is(err, mxsandbox.ErrWidgetURLUsed))
	// Output:
	// minted: 200 connect_widget
	// member: CONNECTED, partner id ""
	// again: true
}
