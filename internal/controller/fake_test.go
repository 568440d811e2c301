package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
	"github.com/mxoperator/mx-operator/internal/testenv"
)

// errUnexpectedCall is what fakeMX returns for a call the test did not expect.
var errUnexpectedCall = errors.New("fakeMX: unexpected call")

// fakeMX is an MX API built from function fields. Every call is recorded by name, in order; a
// call whose function is nil returns errUnexpectedCall (and shows up in calls, which the tests
// assert exactly).
type fakeMX struct {
	mu    sync.Mutex
	calls []string

	findUserByID               func(id string) (*mx.User, error)
	createUser                 func(req mx.CreateUserRequest) (*mx.User, error)
	getUser                    func(guid string) (*mx.User, error)
	updateUser                 func(guid string, req mx.UpdateUserRequest) (*mx.User, error)
	deleteUser                 func(guid string) error
	listInstitutionCredentials func(code string) ([]mx.CredentialField, error)
	createMember               func(userGUID string, req mx.CreateMemberRequest) (*mx.Member, bool, error)
	findMemberByID             func(userGUID, id string) (*mx.Member, error)
	listMembers                func(userGUID string) ([]mx.Member, error)
	getMember                  func(userGUID, guid string) (*mx.Member, error)
	getMemberStatus            func(userGUID, guid string) (*mx.MemberStatus, error)
	updateMember               func(userGUID, guid string, req mx.UpdateMemberRequest) (*mx.Member, error)
	deleteMember               func(userGUID, guid string) error
	aggregateMember            func(userGUID, guid string) (*mx.Member, error)
	listChallenges             func(userGUID, guid string) ([]mx.Challenge, error)
	resumeMember               func(userGUID, guid string, answers []mx.ChallengeAnswer) (*mx.Member, error)
	oauthWindowURI             func(userGUID, guid string) (string, error)
	createConnectWidgetURL     func(userGUID string, opts mx.ConnectWidgetOptions) (*mx.WidgetURL, error)
	listMemberAccounts         func(userGUID, guid string) ([]mx.Account, error)
}

var (
	_ UserAPI   = (*fakeMX)(nil)
	_ MemberAPI = (*fakeMX)(nil)
)

func (f *fakeMX) record(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
}

// Calls returns the recorded call names.
func (f *fakeMX) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{}, f.calls...)
}

func (f *fakeMX) FindUserByID(_ context.Context, id string) (*mx.User, error) {
	f.record("FindUserByID")
	if f.findUserByID == nil {
		return nil, errUnexpectedCall
	}
	return f.findUserByID(id)
}

func (f *fakeMX) CreateUser(_ context.Context, req mx.CreateUserRequest) (*mx.User, error) {
	f.record("CreateUser")
	if f.createUser == nil {
		return nil, errUnexpectedCall
	}
	return f.createUser(req)
}

func (f *fakeMX) GetUser(_ context.Context, guid string) (*mx.User, error) {
	f.record("GetUser")
	if f.getUser == nil {
		return nil, errUnexpectedCall
	}
	return f.getUser(guid)
}

func (f *fakeMX) UpdateUser(_ context.Context, guid string, req mx.UpdateUserRequest) (*mx.User, error) {
	f.record("UpdateUser")
	if f.updateUser == nil {
		return nil, errUnexpectedCall
	}
	return f.updateUser(guid, req)
}

func (f *fakeMX) DeleteUser(_ context.Context, guid string) error {
	f.record("DeleteUser")
	if f.deleteUser == nil {
		return errUnexpectedCall
	}
	return f.deleteUser(guid)
}

func (f *fakeMX) ListInstitutionCredentials(_ context.Context, code string) ([]mx.CredentialField, error) {
	f.record("ListInstitutionCredentials")
	if f.listInstitutionCredentials == nil {
		return nil, errUnexpectedCall
	}
	return f.listInstitutionCredentials(code)
}

func (f *fakeMX) CreateMember(_ context.Context, userGUID string, req mx.CreateMemberRequest) (*mx.Member, bool, error) {
	f.record("CreateMember")
	if f.createMember == nil {
		return nil, false, errUnexpectedCall
	}
	return f.createMember(userGUID, req)
}

func (f *fakeMX) FindMemberByID(_ context.Context, userGUID, id string) (*mx.Member, error) {
	f.record("FindMemberByID")
	if f.findMemberByID == nil {
		return nil, errUnexpectedCall
	}
	return f.findMemberByID(userGUID, id)
}

func (f *fakeMX) ListMembers(_ context.Context, userGUID string) ([]mx.Member, error) {
	f.record("ListMembers")
	if f.listMembers == nil {
		return nil, errUnexpectedCall
	}
	return f.listMembers(userGUID)
}

func (f *fakeMX) GetMember(_ context.Context, userGUID, guid string) (*mx.Member, error) {
	f.record("GetMember")
	if f.getMember == nil {
		return nil, errUnexpectedCall
	}
	return f.getMember(userGUID, guid)
}

func (f *fakeMX) GetMemberStatus(_ context.Context, userGUID, guid string) (*mx.MemberStatus, error) {
	f.record("GetMemberStatus")
	if f.getMemberStatus == nil {
		return nil, errUnexpectedCall
	}
	return f.getMemberStatus(userGUID, guid)
}

func (f *fakeMX) UpdateMember(_ context.Context, userGUID, guid string, req mx.UpdateMemberRequest) (*mx.Member, error) {
	f.record("UpdateMember")
	if f.updateMember == nil {
		return nil, errUnexpectedCall
	}
	return f.updateMember(userGUID, guid, req)
}

func (f *fakeMX) DeleteMember(_ context.Context, userGUID, guid string) error {
	f.record("DeleteMember")
	if f.deleteMember == nil {
		return errUnexpectedCall
	}
	return f.deleteMember(userGUID, guid)
}

func (f *fakeMX) AggregateMember(_ context.Context, userGUID, guid string) (*mx.Member, error) {
	f.record("AggregateMember")
	if f.aggregateMember == nil {
		return nil, errUnexpectedCall
	}
	return f.aggregateMember(userGUID, guid)
}

func (f *fakeMX) ListChallenges(_ context.Context, userGUID, guid string) ([]mx.Challenge, error) {
	f.record("ListChallenges")
	if f.listChallenges == nil {
		return nil, errUnexpectedCall
	}
	return f.listChallenges(userGUID, guid)
}

func (f *fakeMX) ResumeMember(_ context.Context, userGUID, guid string, answers []mx.ChallengeAnswer) (*mx.Member, error) {
	f.record("ResumeMember")
	if f.resumeMember == nil {
		return nil, errUnexpectedCall
	}
	return f.resumeMember(userGUID, guid, answers)
}

func (f *fakeMX) OAuthWindowURI(_ context.Context, userGUID, guid string, _ mx.OAuthWindowOptions) (string, error) {
	f.record("OAuthWindowURI")
	if f.oauthWindowURI == nil {
		return "", errUnexpectedCall
	}
	return f.oauthWindowURI(userGUID, guid)
}

func (f *fakeMX) CreateConnectWidgetURL(_ context.Context, userGUID string, opts mx.ConnectWidgetOptions) (*mx.WidgetURL, error) {
	f.record("CreateConnectWidgetURL")
	if f.createConnectWidgetURL == nil {
		return nil, errUnexpectedCall
	}
	return f.createConnectWidgetURL(userGUID, opts)
}

func (f *fakeMX) ListMemberAccounts(_ context.Context, userGUID, guid string) ([]mx.Account, error) {
	f.record("ListMemberAccounts")
	if f.listMemberAccounts == nil {
		return nil, errUnexpectedCall
	}
	return f.listMemberAccounts(userGUID, guid)
}

// apiError returns the error the MX client returns for an HTTP status.
func apiError(code int, msg string) error {
	return &mx.APIError{StatusCode: code, Endpoint: "TEST /endpoint", Message: msg}
}

// networkError returns the error the MX client returns when no response arrived.
func networkError() error {
	return &mx.NetworkError{Endpoint: "TEST /endpoint", Err: errors.New("connection reset by peer")}
}

// notFound is mx.ErrNotFound as the Find lookups wrap it.
func notFound() error { return fmt.Errorf("mx: lookup: %w", mx.ErrNotFound) }

// Fixtures shared by the unit tests.
const (
	testNS         = "team-a"
	testUserGUID   = "USR-1"
	testMemberGUID = "MBR-1"
	// testSecretRV is the resourceVersion of the test Secrets.
	testSecretRV = "42"
)

// testNow is the fixed time of every unit test.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// mxbankFields are the credential fields of the test bank.
var mxbankFields = []mx.CredentialField{
	{GUID: "CRD-user", FieldName: "username", Label: "Username", Type: "TEXT", DisplayOrder: 1},
	{GUID: "CRD-pass", FieldName: "password", Label: "Password", Type: "PASSWORD", DisplayOrder: 2},
}

func testScheme() *runtime.Scheme {
	s, err := testenv.Scheme()
	if err != nil {
		panic(err)
	}
	return s
}

// newFakeClient returns a controller-runtime fake client holding objs, with the status
// subresources and the field indexes of the real manager.
func newFakeClient(objs ...client.Object) client.Client {
	return fake.NewClientBuilder().
		WithScheme(testScheme()).
		WithObjects(objs...).
		WithStatusSubresource(&mxv1alpha1.MXUser{}, &mxv1alpha1.MXMember{}).
		WithIndex(&mxv1alpha1.MXMember{}, indexMemberUser, memberUserIndex).
		WithIndex(&mxv1alpha1.MXMember{}, indexMemberSecrets, memberSecretsIndex).
		WithIndex(&mxv1alpha1.MXMember{}, indexGUID, func(o client.Object) []string { return nonEmpty(o.(*mxv1alpha1.MXMember).Status.GUID) }).
		WithIndex(&mxv1alpha1.MXMember{}, indexPartnerID, func(o client.Object) []string {
			m := o.(*mxv1alpha1.MXMember)
			return []string{effectivePartnerID(m.Spec.ID, m.Status.ID, "", m.Namespace, m.Name)}
		}).
		WithIndex(&mxv1alpha1.MXUser{}, indexGUID, func(o client.Object) []string { return nonEmpty(o.(*mxv1alpha1.MXUser).Status.GUID) }).
		WithIndex(&mxv1alpha1.MXUser{}, indexPartnerID, func(o client.Object) []string {
			u := o.(*mxv1alpha1.MXUser)
			return []string{effectivePartnerID(u.Spec.ID, u.Status.ID, "", u.Namespace, u.Name)}
		}).
		Build()
}

// readyUser is an MXUser that exists in MX and is Ready.
func readyUser() *mxv1alpha1.MXUser {
	u := &mxv1alpha1.MXUser{
		ObjectMeta: metav1.ObjectMeta{Name: "alice", Namespace: testNS, UID: "uid-alice", Generation: 1, Finalizers: []string{mxv1alpha1.Finalizer}},
		Spec:       mxv1alpha1.MXUserSpec{Email: "alice@example.com"},
	}
	u.Status.GUID = testUserGUID
	u.Status.ID = "mxop:team-a/alice"
	u.Status.ObservedGeneration = 1
	u.Status.AppliedSettings = settingsHash(desiredUserSettings(u.Spec, u.Status.ID))
	u.Status.LastReadAt = statusTime(testNow.Add(-time.Hour))
	setReady(&u.Status.Conditions, 1, testNow.Add(-time.Hour), mxv1alpha1.ReasonSucceeded, "ok")
	return u
}

// credentialsSecret is the credentials Secret of the test member.
func credentialsSecret(data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: testNS, ResourceVersion: testSecretRV}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// answersSecret is the MFA answers Secret of the test member.
func answersSecret(data map[string]string) *corev1.Secret {
	s := credentialsSecret(data)
	s.Name = "answers"
	return s
}

// newMember is an MXMember of alice at mxbank that the operator has not created yet.
func newMember() *mxv1alpha1.MXMember {
	return &mxv1alpha1.MXMember{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-bank", Namespace: testNS, UID: "uid-member", Generation: 1, Finalizers: []string{mxv1alpha1.Finalizer}},
		Spec: mxv1alpha1.MXMemberSpec{
			UserRef:              mxv1alpha1.LocalObjectReference{Name: "alice"},
			InstitutionCode:      "mxbank",
			CredentialsSecretRef: &mxv1alpha1.LocalObjectReference{Name: "creds"},
			MFA:                  &mxv1alpha1.MFASpec{AnswersSecretRef: &mxv1alpha1.LocalObjectReference{Name: "answers"}},
			DeletionPolicy:       mxv1alpha1.DeletionPolicyDelete,
		},
	}
}

// existingMember is the test member as it is in MX with the given connection status, read an
// hour ago, with credentials Secret revision rev.
func existingMember(status mx.ConnectionStatus, rev string) *mxv1alpha1.MXMember {
	m := newMember()
	st := &m.Status
	st.GUID, st.ID, st.UserGUID = testMemberGUID, "mxop:team-a/alice-bank", testUserGUID
	st.ObservedGeneration = 1
	st.AppliedSettings = settingsHash(desiredMemberSettings(m.Spec, st.ID))
	st.AppliedCredentials = credentialsFingerprint(testFingerprintKey, []mx.CredentialValue{{GUID: "CRD-user", Value: "mxuser"}, {GUID: "CRD-pass", Value: "pw"}})
	st.ConnectionStatus = string(status)
	st.CredentialsRevision = rev
	st.LastReadAt = statusTime(testNow.Add(-time.Hour))
	st.AggregatedAt = statusTime(testNow.Add(-2 * time.Hour))
	return m
}

// connectedMember is a member in sync: CONNECTED, accounts listed after its last success.
func connectedMember(rev string) *mxv1alpha1.MXMember {
	m := existingMember(mx.StatusConnected, rev)
	st := &m.Status
	st.SuccessfullyAggregatedAt = statusTime(testNow.Add(-2 * time.Hour))
	st.AccountsAsOf = st.SuccessfullyAggregatedAt.DeepCopy()
	st.AccountCount = 1
	st.ConnectionStatusMessage = "Connected to MX Bank."
	setReady(&st.Conditions, 1, testNow.Add(-2*time.Hour), mxv1alpha1.ReasonSucceeded, "Connected with 1 account(s).")
	return m
}

// mxMember is an MX member response.
func mxMember(status mx.ConnectionStatus, aggregating bool) *mx.Member {
	agg := testNow
	return &mx.Member{
		GUID: testMemberGUID, ID: "mxop:team-a/alice-bank", UserGUID: testUserGUID, InstitutionCode: "mxbank",
		ConnectionStatus: status, ConnectionStatusMessage: "MX says " + string(status) + ".",
		IsBeingAggregated: aggregating, AggregatedAt: &agg,
	}
}

// testFingerprintKey keys the credentials fingerprints in unit tests.
var testFingerprintKey = []byte("unit-test-fingerprint-key")

// newMemberReconciler returns a member reconciler on c and f at testNow with unit-test timing.
func newMemberReconciler(c client.Client, f *fakeMX) (*MXMemberReconciler, *events.FakeRecorder) {
	rec := events.NewFakeRecorder(100)
	r := &MXMemberReconciler{
		Client:         c,
		APIReader:      c,
		MX:             f,
		Recorder:       rec,
		FingerprintKey: testFingerprintKey,
		Now:            func() time.Time { return testNow },
	}
	r.setDefaults()
	return r, rec
}

// newUserReconciler returns a user reconciler on c and f at testNow.
func newUserReconciler(c client.Client, f *fakeMX) (*MXUserReconciler, *events.FakeRecorder) {
	rec := events.NewFakeRecorder(100)
	r := &MXUserReconciler{Client: c, MX: f, Recorder: rec, Now: func() time.Time { return testNow }}
	r.setDefaults()
	return r, rec
}

// drain returns the events recorded so far.
func drain(rec *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// key returns the name of obj.
func key(obj client.Object) types.NamespacedName { return client.ObjectKeyFromObject(obj) }

// statusCodeText is http.StatusText, for messages in assertions.
func statusCodeText(code int) string { return fmt.Sprintf("%d %s", code, http.StatusText(code)) }
