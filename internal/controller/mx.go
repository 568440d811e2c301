package controller

import (
	"context"

	"github.com/mxoperator/mx-operator/internal/mx"
)

// UserAPI is the part of the MX Platform API the MXUser controller uses. *mx.Client implements
// it; unit tests use a fake built from function fields.
//
// Every error is classified once, with mx.Classify: "not found" is mx.IsNotFound (a 404, or
// mx.ErrNotFound from FindUserByID), a duplicate is mx.IsConflict, and the rest decides between
// retrying with backoff, waiting for a rate limit, or stalling until a person acts.
type UserAPI interface {
	// FindUserByID returns the user whose partner id is exactly id, or an error for which
	// mx.IsNotFound is true when there is none. It resolves a create whose outcome is unknown.
	FindUserByID(ctx context.Context, id string) (*mx.User, error)
	// CreateUser creates a user. It is not idempotent: after an mx.IsRetryable error (including
	// an answer that could not be decoded) the user may exist, so the caller looks it up with
	// FindUserByID before creating again. A user with the same partner id is mx.IsConflict.
	CreateUser(ctx context.Context, req mx.CreateUserRequest) (*mx.User, error)
	// GetUser reads a user by guid; a user that is gone is mx.IsNotFound.
	GetUser(ctx context.Context, userGUID string) (*mx.User, error)
	// UpdateUser changes the fields set in req and returns the user; a user that is gone is
	// mx.IsNotFound.
	UpdateUser(ctx context.Context, userGUID string, req mx.UpdateUserRequest) (*mx.User, error)
	// ListMembers returns every member of the user (all pages); a user that is gone is
	// mx.IsNotFound. Deleting a user looks for members no MXMember manages.
	ListMembers(ctx context.Context, userGUID string) ([]mx.Member, error)
	// DeleteUser deletes a user and all its members; a user that is already gone is
	// mx.IsNotFound, which deleting callers treat as done.
	DeleteUser(ctx context.Context, userGUID string) error
}

// MemberAPI is the part of the MX Platform API the MXMember controller uses. *mx.Client
// implements it; unit tests use a fake built from function fields. Errors are classified as for
// UserAPI.
type MemberAPI interface {
	// ListInstitutionCredentials returns the credential fields of an institution; an unknown
	// institution code is mx.IsNotFound. The controller caches the answer per institution.
	ListInstitutionCredentials(ctx context.Context, code string) ([]mx.CredentialField, error)
	// CreateMember creates a member. It is not idempotent: after an mx.IsRetryable error the
	// member may exist. MX answers 409 (mx.IsConflict) for a duplicate partner id and for a
	// duplicate of the same user, institution and credentials; the caller then looks the member
	// up with FindMemberByID.
	CreateMember(ctx context.Context, userGUID string, req mx.CreateMemberRequest) (*mx.Member, bool, error)
	// ListMembers returns every member of the user (all pages); a user that is gone is
	// mx.IsNotFound. It resolves a 409 on create.
	ListMembers(ctx context.Context, userGUID string) ([]mx.Member, error)
	// FindMemberByID returns the user's member whose partner id is exactly id, or an error for
	// which mx.IsNotFound is true when there is none. It lists the user's members.
	FindMemberByID(ctx context.Context, userGUID, id string) (*mx.Member, error)
	// GetMember reads a member, including its connection_status_message; a member (or user) that
	// is gone is mx.IsNotFound.
	GetMember(ctx context.Context, userGUID, memberGUID string) (*mx.Member, error)
	// GetMemberStatus reads the member's aggregation status and pending challenges; a member that
	// is gone is mx.IsNotFound. MX asks for no more than one call every 3 seconds per member.
	GetMemberStatus(ctx context.Context, userGUID, memberGUID string) (*mx.MemberStatus, error)
	// UpdateMember changes the fields set in req; new credentials start an aggregation. A member
	// that is gone is mx.IsNotFound.
	UpdateMember(ctx context.Context, userGUID, memberGUID string, req mx.UpdateMemberRequest) (*mx.Member, error)
	// DeleteMember deletes a member; one that is already gone is mx.IsNotFound, which deleting
	// callers treat as done.
	DeleteMember(ctx context.Context, userGUID, memberGUID string) error
	// AggregateMember asks MX for a foreground aggregation. MX answers success without starting
	// anything when a job of the same kind runs or inside its throttle window; a job of another
	// kind running is mx.IsConflict.
	AggregateMember(ctx context.Context, userGUID, memberGUID string) (*mx.Member, error)
	// ListChallenges returns the pending MFA challenges (none when the member is not CHALLENGED).
	ListChallenges(ctx context.Context, userGUID, memberGUID string) ([]mx.Challenge, error)
	// ResumeMember answers the member's challenges. It is not idempotent: a member that is no
	// longer CHALLENGED answers 405 (mx.IsTerminal).
	ResumeMember(ctx context.Context, userGUID, memberGUID string, answers []mx.ChallengeAnswer) (*mx.Member, error)
	// OAuthWindowURI returns the URI where the end user authorises a PENDING OAuth member.
	OAuthWindowURI(ctx context.Context, userGUID, memberGUID string, opts mx.OAuthWindowOptions) (string, error)
	// CreateConnectWidgetURL asks MX for a Connect widget URL for the user (on an institution to
	// connect a member, or on a member to repair it). The URL is a bearer link, single use,
	// valid ten minutes; it never appears in errors or logs. A user or member that is gone is
	// mx.IsNotFound. Minting is not idempotent, but a second URL is harmless.
	CreateConnectWidgetURL(ctx context.Context, userGUID string, opts mx.ConnectWidgetOptions) (*mx.WidgetURL, error)
	// ListMemberAccounts returns every account of the member (all pages).
	ListMemberAccounts(ctx context.Context, userGUID, memberGUID string) ([]mx.Account, error)
}

var (
	_ UserAPI   = (*mx.Client)(nil)
	_ MemberAPI = (*mx.Client)(nil)
)
