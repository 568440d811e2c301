package main

import (
	"fmt"
	"math/rand/v2"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
)

// userPlan is one MXUser of the run.
type userPlan struct {
	name    string
	policy  mxv1alpha1.DeletionPolicy
	deleted bool
}

// memberPlan is one MXMember of the run.
type memberPlan struct {
	name, user string
	policy     mxv1alpha1.DeletionPolicy
	deleted    bool
}

// plan is every object the run creates and which of them it deletes.
type plan struct {
	users   []userPlan
	members []memberPlan
}

// newPlan returns the objects for n members: max(5, ⌈n/10⌉) users, member i belonging to user
// i mod users. Every fourth user (1, 5, 9…) has deletionPolicy Orphan. Users 0 and 1 (one of
// each policy) and every fifth user after them are deleted, with all their members; other members
// are deleted at random (rng) until about half of all members are. One member in ten has
// deletionPolicy Orphan, except under a deleted Delete-policy user: MX would delete it with its
// user, which the operator refuses to do without a person's confirmation.
func newPlan(n int, rng *rand.Rand) plan {
	var p plan
	users := max(5, (n+9)/10)
	for i := range users {
		u := userPlan{name: fmt.Sprintf("user-%02d", i), policy: mxv1alpha1.DeletionPolicyDelete}
		if i%4 == 1 {
			u.policy = mxv1alpha1.DeletionPolicyOrphan
		}
		u.deleted = i < 2 || i%5 == 0
		p.users = append(p.users, u)
	}
	deleted := 0
	var others []int
	for i := range n {
		u := p.users[i%users]
		m := memberPlan{name: fmt.Sprintf("member-%03d", i), user: u.name, policy: mxv1alpha1.DeletionPolicyDelete}
		if i%10 == 3 && !(u.deleted && u.policy == mxv1alpha1.DeletionPolicyDelete) {
			m.policy = mxv1alpha1.DeletionPolicyOrphan
		}
		m.deleted = u.deleted
		if m.deleted {
			deleted++
		} else {
			others = append(others, i)
		}
		p.members = append(p.members, m)
	}
	rng.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	for _, i := range others[:max(0, min(len(others), n/2-deleted))] {
		p.members[i].deleted = true
	}
	return p
}

// userOf returns the plan of the user named name.
func (p plan) userOf(name string) userPlan {
	for _, u := range p.users {
		if u.name == name {
			return u
		}
	}
	return userPlan{}
}
