package mxsandbox_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// A sandbox on a fake clock: create an MX Bank member whose password ("challenge") asks an MFA
// question, answer it, and watch the connection status with the Go control API. Real code under
// test would make the HTTP calls; mxCall below stands in for it.
func Example() {
	clock := mxsandbox.NewFakeClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	sb, err := mxsandbox.NewServer(mxsandbox.Options{Clock: clock}) // in a test: mxsandbox.Start(t, ...)
	if err != nil {
		panic(err)
	}
	defer sb.Close()

	var user struct {
		User struct{ GUID string } `json:"user"`
	}
	mxCall(sb, "POST", "/users", `{"user":{"id":"alice"}}`, &user)
	var created struct {
		Member struct{ GUID string } `json:"member"`
	}
	status := mxCall(sb, "POST", "/users/"+user.User.GUID+"/members", fmt.Sprintf(
		`{"member":{"institution_code":%q,"credentials":[{"guid":%q,"value":"alice"},{"guid":%q,"value":"challenge"}]}}`,
		mxsandbox.InstitutionMXBank,
		mxsandbox.CredentialGUID(mxsandbox.InstitutionMXBank, mxsandbox.CredentialFieldUsername),
		mxsandbox.CredentialGUID(mxsandbox.InstitutionMXBank, mxsandbox.CredentialFieldPassword)), &created)
	guid := created.Member.GUID
	m, _ := sb.Member(guid)
	fmt.Println("created:", status, m.ConnectionStatus)

	sb.Advance(mxsandbox.DefaultAggregationDuration) // one aggregation step of sandbox time
	m, _ = sb.Member(guid)
	fmt.Println("after one step:", m.ConnectionStatus)

	var challenges struct {
		Challenges []struct{ GUID string } `json:"challenges"`
	}
	memberPath := "/users/" + user.User.GUID + "/members/" + guid
	mxCall(sb, "GET", memberPath+"/challenges", "", &challenges)
	status = mxCall(sb, "PUT", memberPath+"/resume", fmt.Sprintf(
		`{"member":{"challenges":[{"guid":%q,"value":%q}]}}`, challenges.Challenges[0].GUID, mxsandbox.CorrectAnswer), nil)
	sb.Advance(mxsandbox.DefaultAggregationDuration)
	m, _ = sb.Member(guid)
	fmt.Println("answered:", status, m.ConnectionStatus)
	// Output:
	// created: 202 CREATED
	// after one step: CHALLENGED
	// answered: 202 CONNECTED
}

// mxCall sends one MX API request with the sandbox's credentials and decodes the JSON answer
// into out (unless nil); it returns the HTTP status.
func mxCall(sb *mxsandbox.Server, method, path, body string, out any) int {
	req, err := http.NewRequest(method, sb.URL()+path, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.SetBasicAuth(sb.Options().ClientID, sb.Options().APIKey)
	req.Header.Set("Accept", mxsandbox.AcceptVersion)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		panic(err)
	}
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			panic(err)
		}
	}
	return res.StatusCode
}
