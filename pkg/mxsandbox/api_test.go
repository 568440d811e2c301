package mxsandbox_test

import (
	"net/http"
	"sync"
	"testing"

	. "github.com/onsi/gomega"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

func TestAuthenticationAndVersionHeader(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		reason     string
		mutate     func(*http.Request)
		wantStatus int
	}{
		{"the right pair and Accept version is served", func(*http.Request) {}, http.StatusOK},
		{"a wrong client_id is refused", func(r *http.Request) { r.SetBasicAuth("other", testAPIKey) }, http.StatusUnauthorized},
		{"a wrong api_key is refused", func(r *http.Request) { r.SetBasicAuth(testClientID, "wrong") }, http.StatusUnauthorized},
		{"no credentials are refused", func(r *http.Request) { r.Header.Del("Authorization") }, http.StatusUnauthorized},
		{"a missing Accept header is not acceptable", func(r *http.Request) { r.Header.Del("Accept") }, http.StatusNotAcceptable},
		{"plain JSON is not acceptable", func(r *http.Request) { r.Header.Set("Accept", "application/json") }, http.StatusNotAcceptable},
		{"another version is not acceptable", func(r *http.Request) { r.Header.Set("Accept", "application/vnd.mx.api.v2+json") }, http.StatusNotAcceptable},
		{"the version among other media ranges is accepted", func(r *http.Request) {
			r.Header.Set("Accept", "application/json, application/vnd.mx.api.v1+json;q=0.9")
		}, http.StatusOK},
		{"credentials are checked before the Accept header", func(r *http.Request) {
			r.SetBasicAuth("other", "wrong")
			r.Header.Del("Accept")
		}, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			req := e.newRequest("GET", "/users", nil)
			tc.mutate(req)
			r := e.send(req)
			g.Expect(r.status).To(Equal(tc.wantStatus))
			if tc.wantStatus != http.StatusOK {
				g.Expect(r.errorMessage(t)).NotTo(BeEmpty(), "errors carry {\"error\":{\"message\":...}}")
			}
		})
	}
}

func TestUsers(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)

	r := e.do("POST", "/users", map[string]any{"user": map[string]any{"id": "partner-1", "email": "a@example.com", "metadata": `{"tier":"gold"}`}})
	g.Expect(r.status).To(Equal(http.StatusOK), "create user answers 200, not 201")
	var created struct {
		User struct {
			GUID       string  `json:"guid"`
			ID         *string `json:"id"`
			Email      *string `json:"email"`
			IsDisabled bool    `json:"is_disabled"`
			Metadata   *string `json:"metadata"`
		} `json:"user"`
	}
	r.into(t, &created)
	g.Expect(created.User.GUID).To(Equal("USR-00000000-0000-0000-0000-000000000001"))
	g.Expect(*created.User.ID).To(Equal("partner-1"))
	g.Expect(*created.User.Metadata).To(Equal(`{"tier":"gold"}`))

	e.createUser("partner-2")

	var list struct {
		Users []struct {
			GUID string `json:"guid"`
			ID   string `json:"id"`
		} `json:"users"`
		Pagination pagination `json:"pagination"`
	}
	e.do("GET", "/users?id=partner-1", nil).into(t, &list)
	g.Expect(list.Users).To(HaveLen(1), "?id= filters by partner id")
	g.Expect(list.Users[0].GUID).To(Equal(created.User.GUID))
	g.Expect(list.Pagination).To(Equal(pagination{CurrentPage: 1, PerPage: 25, TotalEntries: 1, TotalPages: 1}))

	e.do("GET", "/users?id=nobody", nil).into(t, &list)
	g.Expect(list.Users).To(BeEmpty())
	g.Expect(list.Pagination.TotalEntries).To(Equal(0))

	e.do("GET", "/users", nil).into(t, &list)
	g.Expect(list.Users).To(HaveLen(2))

	path := "/users/" + created.User.GUID
	r = e.do("PUT", path, map[string]any{"user": map[string]any{"email": "b@example.com", "is_disabled": true}})
	g.Expect(r.status).To(Equal(http.StatusOK))
	r.into(t, &created)
	g.Expect(*created.User.Email).To(Equal("b@example.com"))
	g.Expect(created.User.IsDisabled).To(BeTrue())
	g.Expect(*created.User.ID).To(Equal("partner-1"), "fields left out of a PUT are kept")

	r = e.do("PUT", path, map[string]any{"user": map[string]any{"id": "partner-1-renamed"}})
	g.Expect(r.status).To(Equal(http.StatusOK))
	e.do("GET", "/users?id=partner-1-renamed", nil).into(t, &list)
	g.Expect(list.Users).To(HaveLen(1), "the new partner id finds the user")
	e.do("GET", "/users?id=partner-1", nil).into(t, &list)
	g.Expect(list.Users).To(BeEmpty(), "the old one no longer does")
	g.Expect(e.do("POST", "/users", map[string]any{"user": map[string]any{"id": "partner-1"}}).status).To(Equal(http.StatusOK), "and is free again")

	g.Expect(e.do("GET", path, nil).status).To(Equal(http.StatusOK))
	g.Expect(e.do("DELETE", path, nil).status).To(Equal(http.StatusNoContent))
	g.Expect(e.do("GET", path, nil).status).To(Equal(http.StatusNotFound))
	g.Expect(e.sb.UserCount()).To(Equal(2))
	g.Expect(e.do("POST", "/users", map[string]any{"user": map[string]any{"id": "partner-1-renamed"}}).status).To(Equal(http.StatusOK), "a deleted user's id is free")
}

func TestRequestValidation(t *testing.T) {
	e := newEnv(t)
	m := e.connectedMember("u1", "mxuser")
	userPath := "/users/" + m.UserGUID
	cases := []struct {
		reason     string
		method     string
		path       string
		body       any
		wantStatus int
	}{
		{"create user with an empty body", "POST", "/users", "", http.StatusBadRequest},
		{"create user with an empty user object", "POST", "/users", `{"user":{}}`, http.StatusBadRequest},
		{"create user without the wrapper", "POST", "/users", `{"id":"x"}`, http.StatusBadRequest},
		{"create user with invalid JSON", "POST", "/users", `{"user":`, http.StatusBadRequest},
		{"update user with an empty body", "PUT", userPath, "", http.StatusBadRequest},
		{"update user with an empty object", "PUT", userPath, `{}`, http.StatusBadRequest},
		{"update member with an empty body", "PUT", e.memberPath(m), "", http.StatusBadRequest},
		{"update member with an empty member", "PUT", e.memberPath(m), `{"member":{}}`, http.StatusBadRequest},
		{"resume with an empty body", "PUT", e.memberPath(m) + "/resume", "", http.StatusBadRequest},
		{"create member without institution_code", "POST", userPath + "/members", `{"member":{"credentials":[]}}`, http.StatusBadRequest},
		{"create member without credentials", "POST", userPath + "/members", `{"member":{"institution_code":"mxbank"}}`, http.StatusBadRequest},
		{"create member with a foreign credential guid", "POST", userPath + "/members",
			map[string]any{"member": map[string]any{"institution_code": "mxbank", "credentials": []map[string]string{{"guid": "CRD-nope", "value": "x"}}}}, http.StatusBadRequest},
		{"create a non-OAuth member at the OAuth-only bank", "POST", userPath + "/members", `{"member":{"institution_code":"mx_bank_oauth"}}`, http.StatusBadRequest},
		{"transactions with a malformed date", "GET", userPath + "/transactions?from_date=03/01/2024", nil, http.StatusBadRequest},
		{"unknown user", "GET", "/users/USR-unknown", nil, http.StatusNotFound},
		{"members of an unknown user", "GET", "/users/USR-unknown/members", nil, http.StatusNotFound},
		{"unknown member", "GET", userPath + "/members/MBR-unknown", nil, http.StatusNotFound},
		{"unknown member status", "GET", userPath + "/members/MBR-unknown/status", nil, http.StatusNotFound},
		{"delete an unknown member", "DELETE", userPath + "/members/MBR-unknown", nil, http.StatusNotFound},
		{"unknown institution", "GET", "/institutions/nobank", nil, http.StatusNotFound},
		{"credentials of an unknown institution", "GET", "/institutions/nobank/credentials", nil, http.StatusNotFound},
		{"member at an unknown institution", "POST", userPath + "/members", `{"member":{"institution_code":"nobank","credentials":[]}}`, http.StatusNotFound},
		{"unknown account", "GET", userPath + "/accounts/ACT-unknown/transactions", nil, http.StatusNotFound},
		{"unknown route", "GET", "/nothing/here", nil, http.StatusNotFound},
		{"unsupported method on a known path", "PATCH", "/users", nil, http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			r := e.do(tc.method, tc.path, tc.body)
			g.Expect(r.status).To(Equal(tc.wantStatus), string(r.body))
			g.Expect(r.errorMessage(t)).NotTo(BeEmpty())
		})
	}
}

func TestMemberOfAnotherUserIsNotFound(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.connectedMember("owner", "mxuser")
	other := e.createUser("other")
	accts, _ := e.accounts(m, "")
	g.Expect(e.do("GET", "/users/"+other+"/members/"+m.GUID, nil).status).To(Equal(http.StatusNotFound))
	g.Expect(e.do("GET", "/users/"+other+"/accounts/"+accts[0].GUID+"/transactions", nil).status).To(Equal(http.StatusNotFound))
}

func TestDuplicatesConflict(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("dup-user")
	other := e.createUser("other-user")
	first := e.createMember(u, sandbox.InstitutionMXBank, "alice", "password", map[string]any{"id": "member-1"})
	second := e.createMember(u, sandbox.InstitutionMXBank, "bob", "password", map[string]any{"id": "member-2"})

	cases := []struct {
		reason     string
		do         func() resp
		wantStatus int
	}{
		{"a second user with the same partner id", func() resp {
			return e.do("POST", "/users", map[string]any{"user": map[string]any{"id": "dup-user"}})
		}, http.StatusConflict},
		{"renaming a user to a taken partner id", func() resp {
			return e.do("PUT", "/users/"+other, map[string]any{"user": map[string]any{"id": "dup-user"}})
		}, http.StatusConflict},
		{"a second member of the user with the same id", func() resp {
			return e.postMember(u, sandbox.InstitutionMXBank, "carol", "password", map[string]any{"id": "member-1"})
		}, http.StatusConflict},
		{"a second member of the user with the same institution and credentials", func() resp {
			return e.postMember(u, sandbox.InstitutionMXBank, "alice", "password", map[string]any{"id": "member-3"})
		}, http.StatusConflict},
		{"renaming a member to a taken id", func() resp {
			return e.do("PUT", e.memberPath(second), map[string]any{"member": map[string]any{"id": "member-1"}})
		}, http.StatusConflict},
		{"the same credentials at another institution are not a duplicate", func() resp {
			return e.postMember(u, sandbox.InstitutionMXBankSlow, "alice", "password", nil)
		}, http.StatusAccepted},
		{"the same credentials for another user are not a duplicate", func() resp {
			return e.postMember(other, sandbox.InstitutionMXBank, "alice", "password", map[string]any{"id": "member-of-other"})
		}, http.StatusAccepted},
		{"the same username with another password is not a duplicate", func() resp {
			return e.postMember(u, sandbox.InstitutionMXBank, "alice", "other-password", nil)
		}, http.StatusAccepted},
		{"keeping a member's own id is not a conflict", func() resp {
			return e.do("PUT", e.memberPath(first), map[string]any{"member": map[string]any{"id": "member-1"}})
		}, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			r := tc.do()
			g.Expect(r.status).To(Equal(tc.wantStatus), string(r.body))
		})
	}
	NewWithT(t).Expect(e.sb.UserCount()).To(Equal(2))
}

// TestMemberIDsAreUniqueAcrossUsers follows MX-API.md §11 ("Partner ids"): a
// member's id must be unique across all members of all users of the client,
// so create and update member with an id another user's member has are 409.
func TestMemberIDsAreUniqueAcrossUsers(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	alice := e.createUser("alice")
	bob := e.createUser("bob")
	e.createMember(alice, sandbox.InstitutionMXBank, "alice", "password", map[string]any{"id": "shared-id"})
	bobs := e.createMember(bob, sandbox.InstitutionMXBank, "bob", "password", map[string]any{"id": "bob-1"})

	r := e.postMember(bob, sandbox.InstitutionMXBank, "bob2", "password", map[string]any{"id": "shared-id"})
	g.Expect(r.status).To(Equal(http.StatusConflict), "create with another user's member id")
	g.Expect(r.errorMessage(t)).To(ContainSubstring("shared-id"), "the usual error wrapper")

	r = e.do("PUT", e.memberPath(bobs), map[string]any{"member": map[string]any{"id": "shared-id"}})
	g.Expect(r.status).To(Equal(http.StatusConflict), "update to another user's member id")
	g.Expect(r.errorMessage(t)).NotTo(BeEmpty())
	g.Expect(*e.read(bobs).ID).To(Equal("bob-1"), "the refused update changed nothing")
	g.Expect(e.sb.MemberCount()).To(Equal(2))

	// Deleting the holder frees the id for every user.
	holder := e.sb.Members()[0]
	g.Expect(e.do("DELETE", "/users/"+holder.UserGUID+"/members/"+holder.GUID, nil).status).To(Equal(http.StatusNoContent))
	r = e.do("PUT", e.memberPath(bobs), map[string]any{"member": map[string]any{"id": "shared-id"}})
	g.Expect(r.status).To(Equal(http.StatusOK))
	r = e.postMember(alice, sandbox.InstitutionMXBank, "alice", "password", map[string]any{"id": "bob-1"})
	g.Expect(r.status).To(Equal(http.StatusAccepted), "bob's old id is free again")
}

func TestConcurrentCreatesMakeExactlyOneObject(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	u := e.createUser("racer")
	const n = 16
	var wg sync.WaitGroup
	userStatuses := make(chan int, n)
	memberStatuses := make(chan int, n)
	for range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			userStatuses <- e.do("POST", "/users", map[string]any{"user": map[string]any{"id": "same-id"}}).status
		}()
		go func() {
			defer wg.Done()
			memberStatuses <- e.postMember(u, sandbox.InstitutionMXBank, "mxuser", "password", map[string]any{"id": "same-member"}).status
		}()
	}
	wg.Wait()
	close(userStatuses)
	close(memberStatuses)
	count := func(ch chan int) map[int]int {
		out := map[int]int{}
		for s := range ch {
			out[s]++
		}
		return out
	}
	g.Expect(count(userStatuses)).To(Equal(map[int]int{http.StatusOK: 1, http.StatusConflict: n - 1}))
	g.Expect(count(memberStatuses)).To(Equal(map[int]int{http.StatusAccepted: 1, http.StatusConflict: n - 1}))
	g.Expect(e.sb.UserCount()).To(Equal(2))
	g.Expect(e.sb.MemberCount()).To(Equal(1))
}

func TestDeletingAUserDeletesItsMembers(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.connectedMember("u", "mxuser")
	g.Expect(e.sb.MemberCount()).To(Equal(1))
	g.Expect(e.do("DELETE", "/users/"+m.UserGUID, nil).status).To(Equal(http.StatusNoContent))
	g.Expect(e.sb.MemberCount()).To(Equal(0))
	g.Expect(e.do("GET", e.memberPath(m), nil).status).To(Equal(http.StatusNotFound))
	g.Expect(e.do("DELETE", "/users/"+m.UserGUID, nil).status).To(Equal(http.StatusNotFound))
}

func TestDeleteMember(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.connectedMember("u", "mxuser")
	r := e.do("DELETE", e.memberPath(m), nil)
	g.Expect(r.status).To(Equal(http.StatusNoContent))
	g.Expect(r.body).To(BeEmpty())
	g.Expect(e.do("GET", e.memberPath(m)+"/status", nil).status).To(Equal(http.StatusNotFound))
	g.Expect(e.sb.Members()).To(BeEmpty())
}

func TestInstitutions(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)

	var list struct {
		Institutions []struct {
			Code          string `json:"code"`
			Name          string `json:"name"`
			SupportsOAuth bool   `json:"supports_oauth"`
		} `json:"institutions"`
		Pagination pagination `json:"pagination"`
	}
	e.do("GET", "/institutions", nil).into(t, &list)
	codes := []string{}
	for _, i := range list.Institutions {
		codes = append(codes, i.Code)
	}
	g.Expect(codes).To(Equal([]string{"mxbank", "mx_bank_oauth", "mxbank_throttled", "mxbank_degraded", "mxbank_slow"}))

	e.do("GET", "/institutions?name=oauth", nil).into(t, &list)
	g.Expect(list.Institutions).To(HaveLen(1))
	g.Expect(list.Institutions[0].SupportsOAuth).To(BeTrue())

	var inst struct {
		Institution struct {
			Code          string `json:"code"`
			Name          string `json:"name"`
			SupportsOAuth bool   `json:"supports_oauth"`
		} `json:"institution"`
	}
	e.do("GET", "/institutions/mxbank", nil).into(t, &inst)
	g.Expect(inst.Institution.Name).To(Equal("MX Bank"))
	g.Expect(inst.Institution.SupportsOAuth).To(BeFalse())

	var creds struct {
		Credentials []struct {
			GUID         string `json:"guid"`
			FieldName    string `json:"field_name"`
			Type         string `json:"type"`
			DisplayOrder int    `json:"display_order"`
		} `json:"credentials"`
	}
	e.do("GET", "/institutions/mxbank/credentials", nil).into(t, &creds)
	g.Expect(creds.Credentials).To(HaveLen(2))
	g.Expect(creds.Credentials[0].FieldName).To(Equal("username"))
	g.Expect(creds.Credentials[1].FieldName).To(Equal("password"))
	g.Expect(creds.Credentials[0].GUID).To(HavePrefix("CRD-"))
	g.Expect(creds.Credentials[0].GUID).To(Equal(usernameGUID))

	// The guids are the same in every sandbox, so docs and tests can use them.
	other := newEnv(t)
	var again struct {
		Credentials []struct {
			GUID string `json:"guid"`
		} `json:"credentials"`
	}
	other.do("GET", "/institutions/mxbank/credentials", nil).into(t, &again)
	g.Expect(again.Credentials[1].GUID).To(Equal(creds.Credentials[1].GUID))
	g.Expect(creds.Credentials[1].GUID).To(Equal("CRD-61651a0e-f216-7937-d56f-f1d8a8d3ca46"))
}
