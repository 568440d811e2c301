// Package txsync delivers an MX member's transactions to a sink as CloudEvents over HTTP, in
// structured mode (one request per event) or batched mode (one JSON batch per MX page): one
// event per transaction, in MX's order, its data MX's object with money as decimal strings,
// then one window marker event. It reads one page of transactions at a time and sends it before
// asking MX for the next, so memory does not grow with the history. Plan.Next decides which
// window comes next; the MXTransactionSync controller runs it and turns the errors of this
// package into conditions.
//
// Nothing here logs, and no error carries transaction content or a sink's answer body: errors
// name status codes only.
package txsync
