package controller

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Identity: how an object finds its MX object, and who owns it.
//
// A partner id maps exactly one object to one id. spec.id wins; otherwise the id recorded in
// status.id (so objects keep the id they were created with across upgrades); otherwise the
// derived id <prefix>:<namespace>/<name>. Namespaces and names never contain ':' or '/', and a
// prefix never contains ':', so the derivation is injective across namespaces, names and
// clusters with different prefixes. A derived id longer than MX accepts is
// <prefix>:sha256:<hex of the whole id>, which contains no '/' and so never equals a short one.
//
// Ownership is decided from the cluster alone, the same way in every reconcile and in every
// process, so no two objects act on one MX object: among the objects of a kind that claim a
// partner id (or a guid), the owner is the one that has it recorded with a guid in status, else
// the oldest (creationTimestamp, then namespace/name). The informer delivers objects in the
// order the API server stored them, so an object that sees itself also sees every older
// claimant. Everyone else is Stalled (AlreadyManaged), makes no MX write, and is deleted without
// touching MX.

// DefaultPartnerIDPrefix is the prefix of derived partner ids when none is configured.
const DefaultPartnerIDPrefix = "mxop"

// maxPartnerIDLen is the longest partner id the API accepts (spec.id's MaxLength).
const maxPartnerIDLen = 255

// Field indexes for identity, on MXUser and MXMember alike.
const (
	// indexPartnerID maps an object to the partner id it claims (effectivePartnerID).
	indexPartnerID = "mx.mxoperator.dev/partner-id"
	// indexGUID maps an object to the MX guid recorded in its status.
	indexGUID = "status.guid"
)

// derivedPartnerID returns <prefix>:<namespace>/<name>, or its hashed form when that is longer
// than MX accepts.
func derivedPartnerID(prefix, namespace, name string) string {
	if prefix == "" {
		prefix = DefaultPartnerIDPrefix
	}
	id := prefix + ":" + namespace + "/" + name
	if len(id) <= maxPartnerIDLen {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return prefix + ":sha256:" + hex.EncodeToString(sum[:])
}

// effectivePartnerID is the partner id an object claims: spec.id, else the recorded status.id,
// else the derived one.
func effectivePartnerID(specID, statusID, prefix, namespace, name string) string {
	switch {
	case specID != "":
		return specID
	case statusID != "":
		return statusID
	}
	return derivedPartnerID(prefix, namespace, name)
}

// identityOf returns the partner id and guid an object of kind O has recorded in status.
type identityOf[O client.Object] func(O) (id, guid string)

// owner returns the owner among the objects that claim the MX object with partnerID (and
// guid, when known): see the comment on identity above. It returns the zero O when claims is
// empty.
func owner[O client.Object](claims []O, ident identityOf[O], partnerID, guid string) O {
	var zero O
	if len(claims) == 0 {
		return zero
	}
	established := func(o O) bool {
		id, g := ident(o)
		return g != "" && ((guid != "" && g == guid) || (guid == "" && id == partnerID))
	}
	claims = slices.Clone(claims)
	slices.SortFunc(claims, func(a, b O) int {
		if ea, eb := established(a), established(b); ea != eb {
			if ea {
				return -1
			}
			return 1
		}
		if c := a.GetCreationTimestamp().Compare(b.GetCreationTimestamp().Time); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
	return claims[0]
}

// claims lists, from the cache's identity indexes, the objects of one kind that claim the MX
// object with partnerID or guid (either may be empty), self included.
type claims[O client.Object, L client.ObjectList] struct {
	list  func() L
	items func(L) []O
	ident identityOf[O]
}

// otherOwner returns "namespace/name" of the object that owns the MX object with partnerID
// (and guid, when known) instead of self, or "" when self owns it.
func (k claims[O, L]) otherOwner(ctx context.Context, c client.Reader, self O, partnerID, guid string) (string, error) {
	var all []O
	seen := map[client.ObjectKey]bool{}
	for _, q := range [][2]string{{indexPartnerID, partnerID}, {indexGUID, guid}} {
		if q[1] == "" {
			continue
		}
		l := k.list()
		if err := c.List(ctx, l, client.MatchingFields{q[0]: q[1]}); err != nil {
			return "", fmt.Errorf("listing the objects that claim %q: %w", q[1], err)
		}
		for _, o := range k.items(l) {
			if key := client.ObjectKeyFromObject(o); !seen[key] && key != client.ObjectKeyFromObject(self) {
				seen[key] = true
				all = append(all, o)
			}
		}
	}
	// self as this reconcile sees it, which may be newer than the cache's copy.
	all = append(all, self)
	o := owner(all, k.ident, partnerID, guid)
	if client.ObjectKeyFromObject(o) == client.ObjectKeyFromObject(self) {
		return "", nil
	}
	return o.GetNamespace() + "/" + o.GetName(), nil
}
