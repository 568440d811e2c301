// Package mx is a small, tolerant client for the MX Platform API (version
// 20111101): users, institutions, members, member status and MFA
// challenges, accounts and transactions.
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
//   - Idempotent requests are retried on 429, 5xx and network errors with
//     exponential backoff and full jitter, honouring Retry-After. The two
//     non-idempotent creates ([Client.CreateUser], [Client.CreateMember]) and
//     [Client.ResumeMember] are retried only on 429 and on failures to connect,
//     where the request provably never reached MX.
//   - Credentials, MFA answers, the API key and request bodies never appear in
//     an error string or a log line. [CredentialValue] and [ChallengeAnswer]
//     redact their value under every fmt verb and in JSON.
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
