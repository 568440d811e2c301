package main

import (
	"fmt"
	"sort"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
)

// objectState is what the harness knows of one MXUser or MXMember it created, read at the end.
type objectState struct {
	// Name is the object's name in the chaos namespace.
	Name string
	// PartnerID is the partner id the operator derives for it (<prefix>:<namespace>/<name>).
	PartnerID string
	// UserPartnerID is, for a member, the partner id of its MXUser; empty for a user.
	UserPartnerID string
	// Policy is its spec.deletionPolicy.
	Policy mxv1alpha1.DeletionPolicy
	// Deleted says that the harness deleted it.
	Deleted bool
	// HadMXObject says that, when the harness deleted it, its status.guid showed that its MX
	// object existed.
	HadMXObject bool
	// Exists says that it is still in the API server (possibly being deleted).
	Exists bool
	// Ready says Ready=True for the current generation.
	Ready bool
	// GUID is its status.guid.
	GUID string
	// State describes its conditions for a person (used in the stuck list).
	State string
}

// mayRemainInMX reports whether the object's MX object may exist at the end (at most once): it
// was not deleted, or it was deleted with deletionPolicy Orphan.
func (o objectState) mayRemainInMX() bool {
	return !o.Deleted || o.Policy == mxv1alpha1.DeletionPolicyOrphan
}

// mustRemainInMX reports whether the object's MX object must exist exactly once at the end: it
// was not deleted, or it was deleted with deletionPolicy Orphan after its MX object existed. (An
// Orphan deletion that came before the operator created the MX object may leave none.)
func (o objectState) mustRemainInMX() bool {
	return !o.Deleted || (o.Policy == mxv1alpha1.DeletionPolicyOrphan && o.HadMXObject)
}

// mxObject is one user or member in the sandbox.
type mxObject struct {
	GUID string
	// ID is its partner id.
	ID string
	// UserID is, for a member, the partner id of the MX user holding it.
	UserID string
}

// snapshot is the end state: the harness's objects and what the sandbox holds.
type snapshot struct {
	Users, Members     []objectState
	MXUsers, MXMembers []mxObject
}

// figures are the verdict of a run; each list names the offending objects.
type figures struct {
	MXUsers, MXMembers int
	// ExpectedMXUsers and ExpectedMXMembers count the MX objects that must remain; up to
	// MayRemainMXUsers and MayRemainMXMembers more may (Orphan deletions that came before the
	// MX object was known to exist).
	ExpectedMXUsers, ExpectedMXMembers   int
	MayRemainMXUsers, MayRemainMXMembers int
	// Duplicates: MX objects beyond the first with the partner id of an object that should
	// have exactly one.
	Duplicates []string
	// Orphans: MX objects no remaining object owns and no Orphan-policy deletion left behind
	// (including objects with an unknown or no partner id, and members under the wrong user).
	Orphans []string
	// Missing: objects whose MX object should exist but does not, or whose status.guid names
	// another MX object than the one holding its partner id.
	Missing []string
	// Stuck: objects not deleted that are not Ready, and deleted objects still present.
	Stuck []string
}

// clean reports whether the run found nothing wrong.
func (f figures) clean() bool {
	return len(f.Duplicates)+len(f.Orphans)+len(f.Missing)+len(f.Stuck) == 0
}

// compute turns a snapshot into figures. It is a pure function so that a broken counter fails
// a unit test.
func compute(s snapshot) figures {
	f := figures{MXUsers: len(s.MXUsers), MXMembers: len(s.MXMembers)}
	f.ExpectedMXUsers, f.MayRemainMXUsers = check(&f, "user", s.Users, s.MXUsers)
	f.ExpectedMXMembers, f.MayRemainMXMembers = check(&f, "member", s.Members, s.MXMembers)
	for _, list := range []*[]string{&f.Duplicates, &f.Orphans, &f.Missing, &f.Stuck} {
		sort.Strings(*list)
	}
	return f
}

// check adds the problems of one kind to f and returns how many MX objects of that kind must
// remain and how many more may.
func check(f *figures, kind string, objs []objectState, inMX []mxObject) (must, may int) {
	byID := map[string][]mxObject{}
	for _, o := range inMX {
		byID[o.ID] = append(byID[o.ID], o)
	}
	owners := map[string]objectState{}
	for _, o := range objs {
		if o.mayRemainInMX() {
			owners[o.PartnerID] = o
		}
	}

	for id, found := range byID {
		owner, ok := owners[id]
		if !ok {
			for _, o := range found {
				f.Orphans = append(f.Orphans, fmt.Sprintf("MX %s %s (partner id %q): no object owns it", kind, o.GUID, o.ID))
			}
			continue
		}
		var placed []mxObject
		for _, o := range found {
			if kind == "member" && o.UserID != owner.UserPartnerID {
				f.Orphans = append(f.Orphans, fmt.Sprintf("MX member %s (partner id %q) is under MX user %q, not %q",
					o.GUID, o.ID, o.UserID, owner.UserPartnerID))
				continue
			}
			placed = append(placed, o)
		}
		for _, o := range placed[min(1, len(placed)):] {
			f.Duplicates = append(f.Duplicates, fmt.Sprintf("MX %s %s duplicates %s (partner id %q, %s %s)",
				kind, o.GUID, placed[0].GUID, id, kind, owner.Name))
		}
	}

	for _, o := range objs {
		switch {
		case o.mustRemainInMX():
			must++
			f.Missing = append(f.Missing, missing(kind, o, byID[o.PartnerID])...)
		case o.mayRemainInMX():
			may++
		}
		switch {
		case o.Deleted && o.Exists:
			f.Stuck = append(f.Stuck, fmt.Sprintf("%s %s: deleted but still present (%s)", kind, o.Name, o.State))
		case !o.Deleted && !o.Exists:
			f.Stuck = append(f.Stuck, fmt.Sprintf("%s %s: gone from the API server though never deleted", kind, o.Name))
		case !o.Deleted && !o.Ready:
			f.Stuck = append(f.Stuck, fmt.Sprintf("%s %s: not Ready (%s)", kind, o.Name, o.State))
		}
	}
	return must, may
}

// missing describes what is wrong with the MX side of an object that must have exactly one MX
// object: none at all (under its user, for a member), or a status.guid naming another one.
func missing(kind string, o objectState, found []mxObject) []string {
	var placed []mxObject
	for _, m := range found {
		if kind != "member" || m.UserID == o.UserPartnerID {
			placed = append(placed, m)
		}
	}
	if len(placed) == 0 {
		return []string{fmt.Sprintf("%s %s: no MX %s with partner id %q", kind, o.Name, kind, o.PartnerID)}
	}
	if !o.Exists || o.GUID == "" {
		return nil
	}
	for _, m := range placed {
		if m.GUID == o.GUID {
			return nil
		}
	}
	return []string{fmt.Sprintf("%s %s: status.guid %s, but MX holds partner id %q as %s", kind, o.Name, o.GUID, o.PartnerID, placed[0].GUID)}
}
