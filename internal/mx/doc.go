// Package mx is a small, tolerant client for the MX Platform API (version
// 20111101): users, institutions, members, member status and MFA
// challenges, accounts and transactions, and Connect widget URLs.
//
// The client is hand-written rather than generated because the official SDK
// mis-decodes real member responses (see MX-API.md §10). It returns domain
// types and typed errors, never *http.Response. Every error it returns is
// classified in one place, [Classify], by HTTP status code and transport
// failure, never by message text.
//
// # Contracts
//
//   - One [Client] is safe for concurrent use. Its token bucket (Config.QPS,
//     Config.Burst) is shared by every caller of that Client.
//   - No call blocks its caller for long. Idempotent requests are retried on
//     5xx and network errors a few times (Config.MaxRetries, 2 by default)
//     with a short exponential backoff and full jitter; a 429 is retried only
//     when its Retry-After or the cool-down it starts is short
//     (Config.MaxBackoff, 1 s by default); the waits of one call never add up
//     to more than Config.MaxRetryWait (1 s). Longer waits are the caller's:
//     the error says how long ([RetryAfter]). The two non-idempotent creates
//     ([Client.CreateUser], [Client.CreateMember]) and [Client.ResumeMember]
//     are retried only on 429 and on failures to connect, where the request
//     provably never reached MX. [Client.CreateConnectWidgetURL] is retried
//     like an idempotent request: a replay only mints a second URL.
//   - One Client keeps one view of MX's health. After a 429, a 503 with
//     Retry-After, or Config.FailureThreshold (3) consecutive 5xx/network
//     failures it cools down: every call is refused at once, without an HTTP
//     request, with a [*CoolingDownError] that [Classify] puts in the class
//     of its cause. The cool-down lasts MX's Retry-After, else a jittered
//     interval from Config.CoolDownMin (1 s) doubling up to
//     Config.CoolDownMax (60 s); then one probe request is let through, and
//     its success makes the client healthy and calls the [Client.OnRecovered]
//     callbacks. [Client.CoolingDownUntil] reports the state; an Observer that
//     also implements [HealthObserver] is told of it. The token bucket
//     remains the ceiling on the request rate.
//   - A 2xx whose body cannot be decoded is an unknown outcome
//     ([ErrUndecodableResponse], [ClassRetryable]), never the caller's fault.
//   - Credentials, MFA answers, the API key, request bodies and Connect
//     widget URLs never appear in an error string or a log line.
//     [CredentialValue] and [ChallengeAnswer] redact their value, and
//     [WidgetURL] its URL, under every fmt verb and in JSON.
//   - Observer endpoints and log fields use route templates such as
//     "GET /users/{user}/members/{member}/status", so metrics have bounded
//     cardinality.
//
// # Network
//
// MX accepts API calls only from whitelisted static egress IPs; any other
// caller gets 403, which this package classifies as [ClassUnauthorized].
// Operators of the operator must give its pods a static egress address and
// register it with MX.
package mx
