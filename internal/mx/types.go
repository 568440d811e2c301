package mx

import (
	"encoding/json"
	"time"
)

// User is an MX user (USR-…), the owner of members.
type User struct {
	// GUID is MX's id, "USR-…".
	GUID string `json:"guid"`
	// ID is the partner's unique id for the user (may be empty).
	ID         string `json:"id"`
	Email      string `json:"email"`
	IsDisabled bool   `json:"is_disabled"`
	Metadata   string `json:"metadata"`
}

// Institution is a financial institution, identified by its code (e.g.
// "mxbank").
type Institution struct {
	Code                          string `json:"code"`
	Name                          string `json:"name"`
	URL                           string `json:"url"`
	ISOCountryCode                string `json:"iso_country_code"`
	SupportsOAuth                 bool   `json:"supports_oauth"`
	SupportsTransactionHistory    bool   `json:"supports_transaction_history"`
	SupportsAccountIdentification bool   `json:"supports_account_identification"`
	SupportsAccountStatement      bool   `json:"supports_account_statement"`
	SupportsAccountVerification   bool   `json:"supports_account_verification"`
	InstructionalText             string `json:"instructional_text"`
	ForgotPasswordURL             string `json:"forgot_password_url"`
	ForgotUsernameURL             string `json:"forgot_username_url"`
	TroubleSigningInURL           string `json:"trouble_signing_in_url"`
	SmallLogoURL                  string `json:"small_logo_url"`
	MediumLogoURL                 string `json:"medium_logo_url"`
}

// CredentialField is one credential an institution requires to create a
// member (e.g. username, password). Its GUID ("CRD-…") is what a
// [CredentialValue] refers to.
type CredentialField struct {
	GUID         string    `json:"guid"`
	FieldName    string    `json:"field_name"`
	Label        string    `json:"label"`
	Type         FieldType `json:"type"`
	DisplayOrder int       `json:"display_order"`
}

// Member is a user's connection to an institution (MBR-…), as returned by
// read, create, update, aggregate and resume.
type Member struct {
	GUID                            string           `json:"guid"`
	ID                              string           `json:"id"`
	UserGUID                        string           `json:"user_guid"`
	UserID                          string           `json:"user_id"`
	InstitutionCode                 string           `json:"institution_code"`
	InstitutionGUID                 string           `json:"institution_guid"`
	Name                            string           `json:"name"`
	Metadata                        string           `json:"metadata"`
	ConnectionStatus                ConnectionStatus `json:"connection_status"`
	ConnectionStatusMessage         string           `json:"connection_status_message"`
	IsBeingAggregated               bool             `json:"is_being_aggregated"`
	AggregatedAt                    *time.Time       `json:"aggregated_at"`
	SuccessfullyAggregatedAt        *time.Time       `json:"successfully_aggregated_at"`
	BackgroundAggregationIsDisabled bool             `json:"background_aggregation_is_disabled"`
	IsOAuth                         bool             `json:"is_oauth"`
	OAuthWindowURI                  string           `json:"oauth_window_uri"`
	IsManagedByUser                 bool             `json:"is_managed_by_user"`
	IsManual                        bool             `json:"is_manual"`
	NeedsUpdatedCredentials         bool             `json:"needs_updated_credentials"`
	// MostRecentJobGUID is "JOB-…", or "" when MX sent null or a boolean
	// (the spec types it as boolean; the real API sends a string).
	MostRecentJobGUID string   `json:"most_recent_job_guid"`
	UseCases          []string `json:"use_cases"`
}

// UnmarshalJSON decodes a member tolerantly: null or odd timestamps, and a
// most_recent_job_guid that is a string, a boolean or null.
func (m *Member) UnmarshalJSON(b []byte) error {
	type plain Member
	var w struct {
		plain
		AggregatedAt             timestamp `json:"aggregated_at"`
		SuccessfullyAggregatedAt timestamp `json:"successfully_aggregated_at"`
		MostRecentJobGUID        flexGUID  `json:"most_recent_job_guid"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = Member(w.plain)
	m.AggregatedAt = w.AggregatedAt.t
	m.SuccessfullyAggregatedAt = w.SuccessfullyAggregatedAt.t
	m.MostRecentJobGUID = string(w.MostRecentJobGUID)
	return nil
}

// MemberStatus is the member's latest aggregation state, from
// GET /users/{user}/members/{member}/status.
type MemberStatus struct {
	GUID                       string           `json:"guid"`
	ConnectionStatus           ConnectionStatus `json:"connection_status"`
	ConnectionStatusMessage    string           `json:"connection_status_message"`
	IsAuthenticated            bool             `json:"is_authenticated"`
	IsBeingAggregated          bool             `json:"is_being_aggregated"`
	AggregatedAt               *time.Time       `json:"aggregated_at"`
	SuccessfullyAggregatedAt   *time.Time       `json:"successfully_aggregated_at"`
	HasProcessedAccounts       bool             `json:"has_processed_accounts"`
	HasProcessedAccountNumbers bool             `json:"has_processed_account_numbers"`
	HasProcessedTransactions   bool             `json:"has_processed_transactions"`
	// Challenges are the pending MFA challenges when ConnectionStatus is
	// CHALLENGED.
	Challenges []Challenge `json:"challenges"`
}

// AggregationComplete reports whether the member is CONNECTED and no longer
// being aggregated (MX-API.md §5).
func (s *MemberStatus) AggregationComplete() bool {
	return s.ConnectionStatus == StatusConnected && !s.IsBeingAggregated
}

// UnmarshalJSON decodes a member status tolerantly (null timestamps).
func (s *MemberStatus) UnmarshalJSON(b []byte) error {
	type plain MemberStatus
	var w struct {
		plain
		AggregatedAt             timestamp `json:"aggregated_at"`
		SuccessfullyAggregatedAt timestamp `json:"successfully_aggregated_at"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*s = MemberStatus(w.plain)
	s.AggregatedAt = w.AggregatedAt.t
	s.SuccessfullyAggregatedAt = w.SuccessfullyAggregatedAt.t
	return nil
}

// Challenge is one MFA question. Answer it with a [ChallengeAnswer] carrying
// the challenge's GUID.
type Challenge struct {
	GUID      string `json:"guid"`
	Label     string `json:"label"`
	FieldName string `json:"field_name"`
	// Type is TEXT, OPTIONS, TOKEN, IMAGE_DATA or IMAGE_OPTIONS, decoded
	// from a name or an integer code.
	Type FieldType `json:"type"`
	// Options are the choices of an OPTIONS challenge; the answer is the
	// chosen option's Value.
	Options []ChallengeOption `json:"options"`
	// ImageData is a data: URI of the image of an IMAGE_DATA challenge. It
	// can be large: callers must not copy it into a Kubernetes status.
	ImageData string `json:"image_data"`
	// ImageOptions are the choices of an IMAGE_OPTIONS challenge. Their
	// DataURI has the same caveat as ImageData.
	ImageOptions []ImageOption `json:"image_options"`
}

// ChallengeOption is one choice of an OPTIONS challenge.
type ChallengeOption struct {
	GUID  string `json:"guid"`
	Label string `json:"label"`
	Value string `json:"value"`
}

// ImageOption is one choice of an IMAGE_OPTIONS challenge.
type ImageOption struct {
	GUID    string `json:"guid"`
	Label   string `json:"label"`
	Value   string `json:"value"`
	DataURI string `json:"data_uri"`
}

// Account is an account aggregated from a member (ACT-…). Money fields are
// exact [Decimal] text; an empty Decimal means MX sent null.
type Account struct {
	GUID            string `json:"guid"`
	ID              string `json:"id"`
	MemberGUID      string `json:"member_guid"`
	UserGUID        string `json:"user_guid"`
	InstitutionCode string `json:"institution_code"`
	Name            string `json:"name"`
	Nickname        string `json:"nickname"`
	// Type is CHECKING, SAVINGS, LOAN, CREDIT_CARD, INVESTMENT, … (MX-API.md §7).
	Type    string `json:"type"`
	Subtype string `json:"subtype"`
	// AccountNumber holds the last digits only.
	AccountNumber    string     `json:"account_number"`
	Balance          Decimal    `json:"balance"`
	AvailableBalance Decimal    `json:"available_balance"`
	AvailableCredit  Decimal    `json:"available_credit"`
	CreditLimit      Decimal    `json:"credit_limit"`
	StatementBalance Decimal    `json:"statement_balance"`
	MinimumPayment   Decimal    `json:"minimum_payment"`
	APR              Decimal    `json:"apr"`
	APY              Decimal    `json:"apy"`
	InterestRate     Decimal    `json:"interest_rate"`
	CurrencyCode     string     `json:"currency_code"`
	IsClosed         bool       `json:"is_closed"`
	IsHidden         bool       `json:"is_hidden"`
	IsManual         bool       `json:"is_manual"`
	PaymentDueAt     *time.Time `json:"payment_due_at"`
	CreatedAt        *time.Time `json:"created_at"`
	UpdatedAt        *time.Time `json:"updated_at"`
}

// UnmarshalJSON decodes an account tolerantly (null timestamps; money as
// number or string).
func (a *Account) UnmarshalJSON(b []byte) error {
	type plain Account
	var w struct {
		plain
		PaymentDueAt timestamp `json:"payment_due_at"`
		CreatedAt    timestamp `json:"created_at"`
		UpdatedAt    timestamp `json:"updated_at"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*a = Account(w.plain)
	a.PaymentDueAt = w.PaymentDueAt.t
	a.CreatedAt = w.CreatedAt.t
	a.UpdatedAt = w.UpdatedAt.t
	return nil
}

// Transaction is one transaction (TRN-…). Amount is positive; the direction
// is Type (CREDIT or DEBIT).
type Transaction struct {
	GUID        string  `json:"guid"`
	ID          string  `json:"id"`
	AccountGUID string  `json:"account_guid"`
	MemberGUID  string  `json:"member_guid"`
	UserGUID    string  `json:"user_guid"`
	Amount      Decimal `json:"amount"`
	// Type is CREDIT or DEBIT.
	Type string `json:"type"`
	// Status is POSTED or PENDING.
	Status string `json:"status"`
	// Date is the calendar date, "YYYY-MM-DD".
	Date                string     `json:"date"`
	PostedAt            *time.Time `json:"posted_at"`
	TransactedAt        *time.Time `json:"transacted_at"`
	Description         string     `json:"description"`
	OriginalDescription string     `json:"original_description"`
	Category            string     `json:"category"`
	TopLevelCategory    string     `json:"top_level_category"`
	MerchantGUID        string     `json:"merchant_guid"`
	IsBillPay           bool       `json:"is_bill_pay"`
	IsDirectDeposit     bool       `json:"is_direct_deposit"`
	IsExpense           bool       `json:"is_expense"`
	IsFee               bool       `json:"is_fee"`
	IsIncome            bool       `json:"is_income"`
	IsRecurring         bool       `json:"is_recurring"`
	IsSubscription      bool       `json:"is_subscription"`
	CurrencyCode        string     `json:"currency_code"`
	CreatedAt           *time.Time `json:"created_at"`
	UpdatedAt           *time.Time `json:"updated_at"`
}

// UnmarshalJSON decodes a transaction tolerantly (null timestamps; amount as
// number or string).
func (t *Transaction) UnmarshalJSON(b []byte) error {
	type plain Transaction
	var w struct {
		plain
		PostedAt     timestamp `json:"posted_at"`
		TransactedAt timestamp `json:"transacted_at"`
		CreatedAt    timestamp `json:"created_at"`
		UpdatedAt    timestamp `json:"updated_at"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*t = Transaction(w.plain)
	t.PostedAt = w.PostedAt.t
	t.TransactedAt = w.TransactedAt.t
	t.CreatedAt = w.CreatedAt.t
	t.UpdatedAt = w.UpdatedAt.t
	return nil
}
