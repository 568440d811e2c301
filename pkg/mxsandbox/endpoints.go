package mxsandbox

// Endpoint names: the Go 1.22 ServeMux pattern of each MX route the sandbox
// serves. They key the call counters (Calls, CallCount) and the faults
// (SetFault, PUT /_sandbox/faults).
const (
	EndpointCreateUser              = "POST /users"
	EndpointListUsers               = "GET /users"
	EndpointReadUser                = "GET /users/{user}"
	EndpointUpdateUser              = "PUT /users/{user}"
	EndpointDeleteUser              = "DELETE /users/{user}"
	EndpointListInstitutions        = "GET /institutions"
	EndpointReadInstitution         = "GET /institutions/{code}"
	EndpointListCredentials         = "GET /institutions/{code}/credentials"
	EndpointCreateMember            = "POST /users/{user}/members"
	EndpointListMembers             = "GET /users/{user}/members"
	EndpointReadMember              = "GET /users/{user}/members/{member}"
	EndpointUpdateMember            = "PUT /users/{user}/members/{member}"
	EndpointDeleteMember            = "DELETE /users/{user}/members/{member}"
	EndpointReadMemberStatus        = "GET /users/{user}/members/{member}/status"
	EndpointAggregateMember         = "POST /users/{user}/members/{member}/aggregate"
	EndpointListChallenges          = "GET /users/{user}/members/{member}/challenges"
	EndpointResumeMember            = "PUT /users/{user}/members/{member}/resume"
	EndpointReadOAuthWindowURI      = "GET /users/{user}/members/{member}/oauth_window_uri"
	EndpointListMemberAccounts      = "GET /users/{user}/members/{member}/accounts"
	EndpointListMemberTransactions  = "GET /users/{user}/members/{member}/transactions"
	EndpointListAccountTransactions = "GET /users/{user}/accounts/{account}/transactions"
	EndpointListUserTransactions    = "GET /users/{user}/transactions"
	EndpointCreateWidgetURL         = "POST /users/{user}/widget_urls"
)

// Endpoints returns every endpoint name the sandbox serves.
func Endpoints() []string {
	return []string{
		EndpointCreateUser, EndpointListUsers, EndpointReadUser, EndpointUpdateUser, EndpointDeleteUser,
		EndpointListInstitutions, EndpointReadInstitution, EndpointListCredentials,
		EndpointCreateMember, EndpointListMembers, EndpointReadMember, EndpointUpdateMember, EndpointDeleteMember,
		EndpointReadMemberStatus, EndpointAggregateMember, EndpointListChallenges, EndpointResumeMember,
		EndpointReadOAuthWindowURI, EndpointListMemberAccounts, EndpointListMemberTransactions,
		EndpointListAccountTransactions, EndpointListUserTransactions, EndpointCreateWidgetURL,
	}
}

func knownEndpoint(name string) bool {
	for _, e := range Endpoints() {
		if e == name {
			return true
		}
	}
	return false
}
