package mxsandbox

import (
	"net/http"
	"strconv"
)

func (s *Sandbox) userJSON(u *user) userJSON {
	return userJSON{GUID: u.guid, ID: strPtr(u.id), Email: strPtr(u.email), IsDisabled: u.isDisabled, Metadata: strPtr(u.metadata)}
}

func (s *Sandbox) userByID(id string) *user {
	if id == "" {
		return nil
	}
	return s.usersByID[id]
}

// setUserID changes a user's partner id, keeping the id index current.
func (s *Sandbox) setUserID(u *user, id string) {
	if u.id != "" && s.usersByID[u.id] == u {
		delete(s.usersByID, u.id)
	}
	u.id = id
	if id != "" {
		s.usersByID[id] = u
	}
}

// lookupUser finds the {user} of the path or answers 404.
func (s *Sandbox) lookupUser(req *request) (*user, *reply) {
	u, ok := s.users[req.PathValue("user")]
	if !ok {
		rep := errReply(http.StatusNotFound, "User not found.")
		return nil, &rep
	}
	return u, nil
}

func (s *Sandbox) createUser(req *request) reply {
	var body userRequest
	if !decodeBody(req.body, &body) || body.User.empty() {
		return errReply(http.StatusBadRequest, "A user object with at least one attribute is required.")
	}
	f := body.User
	if f.ID != nil && *f.ID != "" && s.userByID(*f.ID) != nil {
		return errReply(http.StatusConflict, "A user with id %q already exists.", *f.ID)
	}
	u := &user{guid: s.newGUID("USR")}
	s.applyUserFields(u, f)
	s.users[u.guid] = u
	s.userOrder = append(s.userOrder, u)
	return reply{status: http.StatusOK, body: userResponse{User: s.userJSON(u)}}
}

func (s *Sandbox) applyUserFields(u *user, f *userFields) {
	if f.ID != nil {
		s.setUserID(u, *f.ID)
	}
	if f.Email != nil {
		u.email = *f.Email
	}
	if f.Metadata != nil {
		u.metadata = *f.Metadata
	}
	if f.IsDisabled != nil {
		u.isDisabled = *f.IsDisabled
	}
}

func (s *Sandbox) listUsers(req *request) reply {
	q := req.URL.Query()
	candidates := s.userOrder
	if q.Has("id") {
		candidates = nil
		if u := s.userByID(q.Get("id")); u != nil {
			candidates = []*user{u}
		}
	}
	var matched []userJSON
	for _, u := range candidates {
		if q.Has("id") && u.id != q.Get("id") {
			continue
		}
		if q.Has("email") && u.email != q.Get("email") {
			continue
		}
		if q.Has("is_disabled") {
			want, err := strconv.ParseBool(q.Get("is_disabled"))
			if err == nil && u.isDisabled != want {
				continue
			}
		}
		matched = append(matched, s.userJSON(u))
	}
	start, end, p := paginate(q, len(matched), MaxPerPage)
	return reply{status: http.StatusOK, body: usersResponse{Users: nonNil(matched[start:end]), Pagination: p}}
}

func (s *Sandbox) readUser(req *request) reply {
	u, rep := s.lookupUser(req)
	if rep != nil {
		return *rep
	}
	return reply{status: http.StatusOK, body: userResponse{User: s.userJSON(u)}}
}

func (s *Sandbox) updateUser(req *request) reply {
	u, rep := s.lookupUser(req)
	if rep != nil {
		return *rep
	}
	var body userRequest
	if !decodeBody(req.body, &body) || body.User.empty() {
		return errReply(http.StatusBadRequest, "A user object with at least one attribute is required.")
	}
	f := body.User
	if f.ID != nil && *f.ID != "" && *f.ID != u.id && s.userByID(*f.ID) != nil {
		return errReply(http.StatusConflict, "A user with id %q already exists.", *f.ID)
	}
	s.applyUserFields(u, f)
	return reply{status: http.StatusOK, body: userResponse{User: s.userJSON(u)}}
}

func (s *Sandbox) deleteUser(req *request) reply {
	u, rep := s.lookupUser(req)
	if rep != nil {
		return *rep
	}
	for _, m := range append([]*member(nil), u.members...) {
		s.removeMember(m)
	}
	u.deleted = true
	s.setUserID(u, "")
	delete(s.users, u.guid)
	s.userOrder = removeFrom(s.userOrder, u)
	return reply{status: http.StatusNoContent}
}

// nonNil makes an empty page encode as [] rather than null.
func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

func removeFrom[T comparable](xs []T, x T) []T {
	for i, v := range xs {
		if v == x {
			return append(xs[:i:i], xs[i+1:]...)
		}
	}
	return xs
}
