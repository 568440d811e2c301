package main

import (
	"math/rand/v2"
	"testing"

	. "github.com/onsi/gomega"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
)

const (
	del    = mxv1alpha1.DeletionPolicyDelete
	orphan = mxv1alpha1.DeletionPolicyOrphan
)

// A small world: user-a (kept), user-b (Orphan, deleted) and members under user-a.
func user(name string, policy mxv1alpha1.DeletionPolicy, deleted bool, guid string) objectState {
	o := objectState{Name: name, PartnerID: partnerID(name), Policy: policy, Deleted: deleted}
	if !deleted {
		o.Exists, o.Ready, o.GUID = true, true, guid
	}
	return o
}

func member(name string, policy mxv1alpha1.DeletionPolicy, deleted bool, guid string) objectState {
	o := user(name, policy, deleted, guid)
	o.UserPartnerID = partnerID("user-a")
	return o
}

// hadMXObject marks a deleted object as deleted after its MX object was known to exist.
func hadMXObject(o objectState) objectState {
	o.HadMXObject = true
	return o
}

func mxMember(guid, name string) mxObject {
	return mxObject{GUID: guid, ID: partnerID(name), UserID: partnerID("user-a")}
}

func cleanSnapshot() snapshot {
	return snapshot{
		Users: []objectState{user("user-a", del, false, "USR-1"), hadMXObject(user("user-b", orphan, true, ""))},
		Members: []objectState{
			member("member-001", del, false, "MBR-1"),
			hadMXObject(member("member-002", del, true, "")),
			hadMXObject(member("member-003", orphan, true, "")),
		},
		MXUsers:   []mxObject{{GUID: "USR-1", ID: partnerID("user-a")}, {GUID: "USR-2", ID: partnerID("user-b")}},
		MXMembers: []mxObject{mxMember("MBR-1", "member-001"), mxMember("MBR-3", "member-003")},
	}
}

func TestCompute(t *testing.T) {
	cases := []struct {
		reason string
		change func(*snapshot)
		// Wanted lengths of Duplicates, Orphans, Missing, Stuck.
		want [4]int
	}{
		{reason: "what should exist exists once, the rest is gone", change: func(*snapshot) {}},
		{
			reason: "a second MX member with a kept member's partner id is a duplicate",
			change: func(s *snapshot) { s.MXMembers = append(s.MXMembers, mxMember("MBR-9", "member-001")) },
			want:   [4]int{1, 0, 0, 0},
		},
		{
			reason: "an Orphan-policy member left twice in MX is a duplicate",
			change: func(s *snapshot) { s.MXMembers = append(s.MXMembers, mxMember("MBR-9", "member-003")) },
			want:   [4]int{1, 0, 0, 0},
		},
		{
			reason: "the MX member of a member deleted with policy Delete is an orphan",
			change: func(s *snapshot) { s.MXMembers = append(s.MXMembers, mxMember("MBR-2", "member-002")) },
			want:   [4]int{0, 1, 0, 0},
		},
		{
			reason: "an MX member with no partner id, or one no object derives, is an orphan",
			change: func(s *snapshot) {
				s.MXMembers = append(s.MXMembers, mxObject{GUID: "MBR-8", UserID: partnerID("user-a")}, mxMember("MBR-9", "member-999"))
			},
			want: [4]int{0, 2, 0, 0},
		},
		{
			reason: "the MX user of a user deleted with policy Delete is an orphan",
			change: func(s *snapshot) {
				s.Users = append(s.Users, user("user-c", del, true, ""))
				s.MXUsers = append(s.MXUsers, mxObject{GUID: "USR-3", ID: partnerID("user-c")})
			},
			want: [4]int{0, 1, 0, 0},
		},
		{
			reason: "two MX users with one partner id are a duplicate",
			change: func(s *snapshot) { s.MXUsers = append(s.MXUsers, mxObject{GUID: "USR-9", ID: partnerID("user-a")}) },
			want:   [4]int{1, 0, 0, 0},
		},
		{
			reason: "an Orphan-policy member whose MX member vanished is missing",
			change: func(s *snapshot) { s.MXMembers = s.MXMembers[:1] },
			want:   [4]int{0, 0, 1, 0},
		},
		{
			reason: "an Orphan-policy member deleted before its MX member was known may leave none",
			change: func(s *snapshot) { s.Members[2].HadMXObject = false; s.MXMembers = s.MXMembers[:1] },
		},
		{
			reason: "an Orphan-policy member deleted before its MX member was known may leave one",
			change: func(s *snapshot) { s.Members[2].HadMXObject = false },
		},
		{
			reason: "an Orphan-policy member deleted before its MX member was known must not leave two",
			change: func(s *snapshot) {
				s.Members[2].HadMXObject = false
				s.MXMembers = append(s.MXMembers, mxMember("MBR-9", "member-003"))
			},
			want: [4]int{1, 0, 0, 0},
		},
		{
			reason: "an Orphan-policy user whose MX user vanished is missing",
			change: func(s *snapshot) { s.MXUsers = s.MXUsers[:1] },
			want:   [4]int{0, 0, 1, 0},
		},
		{
			reason: "a kept member whose status.guid is not the MX member holding its partner id is missing",
			change: func(s *snapshot) { s.Members[0].GUID = "MBR-7" },
			want:   [4]int{0, 0, 1, 0},
		},
		{
			reason: "an MX member under another user is an orphan, and its member is missing",
			change: func(s *snapshot) { s.MXMembers[0].UserID = partnerID("user-b") },
			want:   [4]int{0, 1, 1, 0},
		},
		{
			reason: "a kept object not Ready is stuck",
			change: func(s *snapshot) { s.Members[0].Ready = false },
			want:   [4]int{0, 0, 0, 1},
		},
		{
			reason: "a deleted object still present is stuck, however MX looks",
			change: func(s *snapshot) { s.Members[1].Exists = true; s.Users[1].Exists = true },
			want:   [4]int{0, 0, 0, 2},
		},
		{
			reason: "a kept object that disappeared from the API server is stuck",
			change: func(s *snapshot) { s.Members[0].Exists = false },
			want:   [4]int{0, 0, 0, 1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			s := cleanSnapshot()
			tc.change(&s)
			f := compute(s)
			got := [4]int{len(f.Duplicates), len(f.Orphans), len(f.Missing), len(f.Stuck)}
			g.Expect(got).To(Equal(tc.want), "duplicates %q, orphans %q, missing %q, stuck %q", f.Duplicates, f.Orphans, f.Missing, f.Stuck)
			g.Expect(f.clean()).To(Equal(tc.want == [4]int{}))
			g.Expect(f.MXUsers).To(Equal(len(s.MXUsers)))
			g.Expect(f.MXMembers).To(Equal(len(s.MXMembers)))
		})
	}
}

func TestComputeExpectedCounts(t *testing.T) {
	g := NewWithT(t)
	s := cleanSnapshot()
	f := compute(s)
	g.Expect(f.ExpectedMXUsers).To(Equal(2), "user-a kept, user-b orphaned")
	g.Expect(f.ExpectedMXMembers).To(Equal(2), "member-001 kept, member-003 orphaned")
	g.Expect(f.MayRemainMXUsers + f.MayRemainMXMembers).To(BeZero())

	s.Members[2].HadMXObject = false
	f = compute(s)
	g.Expect(f.ExpectedMXMembers).To(Equal(1), "member-001 kept")
	g.Expect(f.MayRemainMXMembers).To(Equal(1), "member-003 orphaned before MX knew it")
}

func TestPlan(t *testing.T) {
	for _, n := range []int{1, 20, 100, 257} {
		g := NewWithT(t)
		p := newPlan(n, rand.New(rand.NewPCG(7, 7)))
		g.Expect(p.members).To(HaveLen(n))
		g.Expect(len(p.users)).To(Equal(max(5, (n+9)/10)))

		var deletedUsers [2]int // Delete, Orphan
		for _, u := range p.users {
			if u.deleted && u.policy == del {
				deletedUsers[0]++
			}
			if u.deleted && u.policy == orphan {
				deletedUsers[1]++
			}
		}
		g.Expect(deletedUsers[0]).To(BeNumerically(">=", 1), "a Delete-policy user is deleted")
		g.Expect(deletedUsers[1]).To(BeNumerically(">=", 1), "an Orphan-policy user is deleted")

		deleted := 0
		for _, m := range p.members {
			u := p.userOf(m.user)
			g.Expect(u.name).NotTo(BeEmpty())
			if u.deleted {
				g.Expect(m.deleted).To(BeTrue(), "%s: a deleted user's members are deleted first", m.name)
			}
			if u.deleted && u.policy == del {
				g.Expect(m.policy).To(Equal(del), "%s: MX would delete an orphaned member with its user", m.name)
			}
			if m.deleted {
				deleted++
			}
		}
		if n >= 20 {
			g.Expect(deleted).To(BeNumerically("~", n/2, n/10), "about half the members are deleted")
		}
	}
}
