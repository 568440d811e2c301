// Package txsync delivers an MX member's transactions to a sink as CloudEvents (structured
// mode, JSON, over HTTP): one event per transaction, in MX's order, then one window marker
// event. It reads one page of transactions at a time and sends it before asking MX for the
// next, so memory does not grow with the history. The MXTransactionSync controller decides
// which window to deliver and turns the errors of this package into conditions.
//
// Nothing here logs, and no error carries transaction content or a sink's answer body: errors
// name status codes only.
package txsync
