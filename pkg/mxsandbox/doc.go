// Package mxsandbox is an in-memory MX Platform API (version 20111101) for
// tests, demos and benchmarks. It speaks MX's wire format over real HTTP with
// MX's status codes and quirks, runs members through MX's aggregation state
// machine on an injectable clock, and can inject faults, count and log
// requests and send webhooks. It depends on the standard library only.
// docs/sandbox.md is the user guide, docs/testing.md shows it with
// mx-operator in an envtest suite; MX-API.md is the reference it reproduces.
//
// In a test, Start serves a sandbox on 127.0.0.1 until the test ends:
//
//	sb := mxsandbox.Start(t, mxsandbox.Options{AggregationDuration: 200 * time.Millisecond})
//	// MX base URL sb.URL(), client_id sb.Options().ClientID, api_key sb.Options().APIKey
//
// A program uses NewServer and Close instead; NewSandbox (or New, which
// panics on invalid options) gives the bare http.Handler.
//
// Connect widget: POST /users/{user}/widget_urls mints a single-use URL
// (WidgetURLLifetime); ConnectThroughWidget and RepairThroughWidget play the
// end user connecting a new member, or fixing one, through it.
//
// Go control API: everything the HTTP control surface (/_sandbox/...,
// Options.EnableControl) does, a test can do directly:
//
//	GET  /_sandbox/clock                  Now, Options().Clock
//	POST /_sandbox/clock/advance          Advance (needs a *FakeClock)
//	POST /_sandbox/members/{m}/authorize  AuthorizeOAuth
//	POST /_sandbox/members/{m}/jobs       StartJob
//	GET  /_sandbox/oauth/authorize        OpenOAuthWindow
//	GET  /_sandbox/members                Members (and Member, MemberCount, UserCount)
//	POST /_sandbox/widget/connect         ConnectThroughWidget
//	POST /_sandbox/widget/repair          RepairThroughWidget
//	GET  /_sandbox/widget_urls            WidgetURLs
//	GET  /_sandbox/faults                 Faults
//	PUT  /_sandbox/faults                 SetFaults (and SetFault, SetFaultAll)
//	DELETE /_sandbox/faults               ClearFaults
//	GET  /_sandbox/held                   HeldCount
//	POST /_sandbox/held/release           ReleaseHeld
//	GET  /_sandbox/calls                  Calls, CallCount, TotalCalls
//	DELETE /_sandbox/calls                ResetCalls
//	GET  /_sandbox/requests               Requests
//	DELETE /_sandbox/requests             ResetRequests
//	POST /_sandbox/reset                  Reset
//
// Institutions: mxbank (the test bank, password selects the outcome),
// mx_bank_oauth (OAuth, PENDING until AuthorizeOAuth or OpenOAuthWindow, and
// deleted if still PENDING after OAuthPendingTimeout), mxbank_throttled
// (mxbank with the aggregation throttle), mxbank_degraded (always DEGRADED)
// and mxbank_slow (DELAYED before CONNECTED). Every institution but mxbank
// ignores a foreground aggregation requested within
// Options.AggregationThrottle (3 h) of the member's last successful one.
//
// mxbank passwords (case-sensitive; any other password connects):
//
//	challenge        CHALLENGED (TEXT), answer "correct"
//	options          CHALLENGED (OPTIONS), choose the option whose value is "correct"
//	image            CHALLENGED (IMAGE_DATA), answer "correct"
//	token            CHALLENGED (TOKEN), answer "correct"          (sandbox extension)
//	image_options    CHALLENGED (IMAGE_OPTIONS), value "correct"   (sandbox extension)
//	challenge_multi  two CHALLENGED rounds with new guids            (sandbox extension)
//	BAD_REQUEST, SERVER_ERROR, UNAVAILABLE   FAILED
//	UNAUTHORIZED, INVALID, DISABLED          DENIED (the third in a row: PREVENTED)
//	LOCKED                                   LOCKED
//	IMPEDED                                  IMPEDED                (sandbox extension)
//
// As MFA answers, "correct" passes, SERVER_ERROR and UNAVAILABLE fail
// (FAILED), DISABLED is DENIED and anything else is REJECTED.
//
// Usernames: any; mxuser_accounts_N yields N accounts (0-1000), others
// DefaultAccountCount. Account content depends only on institution,
// username and account index; transactions on those and their date.
//
// Time: each aggregation step takes Options.AggregationDuration of sandbox
// time. Transitions are applied lazily, in order, on every request, on
// Advance and by a small background ticker; their timestamps are the times
// they were due, so a FakeClock makes every timestamp deterministic.
package mxsandbox
