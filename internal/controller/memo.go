package controller

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// memo is what a reconciler remembers between reconciles in this process: when each object is
// due for its next MX read, and which objects MX told us (by webhook) have changed. Nothing here
// is needed for correctness after a restart: the persisted status is the fallback.
type memo struct {
	mu       sync.Mutex
	nextRead map[types.UID]time.Time
	// hints counts the change notifications per object that no read has covered yet.
	hints map[types.NamespacedName]uint64
	// refusals counts, per object, the reconciles in a row that MX refused (429, 5xx).
	refusals map[types.UID]int
	// deferred holds, per object, a status whose write was put off (outcome.deferWrite): what MX
	// answered to a create, written with the next status write. Losing it to a crash costs
	// nothing but MX calls: MX holds the object under its partner id.
	deferred map[types.UID]any
}

func newMemo() *memo {
	return &memo{nextRead: map[types.UID]time.Time{}, hints: map[types.NamespacedName]uint64{}, refusals: map[types.UID]int{}, deferred: map[types.UID]any{}}
}

// scheduleRead records when uid is next due for an MX read.
func (m *memo) scheduleRead(uid types.UID, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextRead[uid] = at
}

// readAt returns when uid is due for its next MX read, if this process scheduled one.
func (m *memo) readAt(uid types.UID) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.nextRead[uid]
	return t, ok
}

// forget drops everything remembered about an object.
func (m *memo) forget(uid types.UID, key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.nextRead, uid)
	delete(m.hints, key)
	delete(m.refusals, uid)
	delete(m.deferred, uid)
}

// deferStatus keeps status, not written yet, for the next reconcile of uid.
func (m *memo) deferStatus(uid types.UID, status any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deferred[uid] = status
}

// takeDeferred returns the status kept for uid, if any, and forgets it: the reconcile that takes
// it writes it (or, should that write fail, MX's partner id is the fallback).
func (m *memo) takeDeferred(uid types.UID) (any, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.deferred[uid]
	delete(m.deferred, uid)
	return s, ok
}

// refused counts one more reconcile of uid that MX refused and returns how many in a row.
func (m *memo) refused(uid types.UID) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refusals[uid]++
	return m.refusals[uid]
}

// answered forgets the refusals of uid: MX answered it.
func (m *memo) answered(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.refusals, uid)
}

// hint records that MX reported a change of the object.
func (m *memo) hint(key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hints[key]++
}

// hinted returns how many changes MX reported for the object that no read has covered yet; 0
// means none. Pass the value to readDone after a successful read.
func (m *memo) hinted(key types.NamespacedName) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hints[key]
}

// readDone clears the hints a read covered: those counted (seen) before the read started.
// Hints that arrived during the read stay.
func (m *memo) readDone(key types.NamespacedName, seen uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if seen > 0 && m.hints[key] == seen {
		delete(m.hints, key)
	}
}
