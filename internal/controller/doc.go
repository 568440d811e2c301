// Package controller reconciles MXUser and MXMember objects with users and members in the MX
// Platform API.
//
// Both reconcilers follow the same shape: Reconcile fetches the object, ensures the finalizer,
// defers the one status write, and hands over to reconcileDelete or reconcileNormal, which run
// small phases in order and stop at the first that fails or waits. MX is reached through the
// UserAPI and MemberAPI interfaces; every MX error is classified once (mxFailure).
//
// Cost is a design goal: MX bills and rate-limits calls. An object that needs nothing costs no MX
// call when it is reconciled again or when the operator restarts; it is re-read from MX only on a
// long, jittered interval (Timing.ResyncInterval), when MX reports a change by webhook, or when a
// person sets the reconcile-requested-at annotation.
package controller
