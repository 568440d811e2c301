package mxsandbox

import (
	"encoding/json"
	"strconv"
	"time"
)

// This file holds the JSON shapes the sandbox reads and writes. They are
// private on purpose: the sandbox must not share types with the client it tests.

type errorBody struct {
	Error errorMessage `json:"error"`
}

type errorMessage struct {
	Message string `json:"message"`
}

type paginationJSON struct {
	CurrentPage  int `json:"current_page"`
	PerPage      int `json:"per_page"`
	TotalEntries int `json:"total_entries"`
	TotalPages   int `json:"total_pages"`
}

// cents is an amount of money in hundredths, written as a JSON number with
// exactly two decimals (1234.50).
type cents int64

func (c cents) MarshalJSON() ([]byte, error) {
	v := int64(c)
	sign := ""
	if v < 0 {
		sign = "-"
		v = -v
	}
	frac := strconv.FormatInt(v%100, 10)
	if len(frac) == 1 {
		frac = "0" + frac
	}
	return []byte(sign + strconv.FormatInt(v/100, 10) + "." + frac), nil
}

// timestamp renders t as MX does (ISO 8601, UTC, whole seconds), or null.
func timestamp(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Users.

type userJSON struct {
	GUID       string  `json:"guid"`
	ID         *string `json:"id"`
	Email      *string `json:"email"`
	IsDisabled bool    `json:"is_disabled"`
	Metadata   *string `json:"metadata"`
}

type userFields struct {
	ID         *string `json:"id"`
	Email      *string `json:"email"`
	IsDisabled *bool   `json:"is_disabled"`
	Metadata   *string `json:"metadata"`
}

func (f *userFields) empty() bool {
	return f == nil || (f.ID == nil && f.Email == nil && f.IsDisabled == nil && f.Metadata == nil)
}

type userRequest struct {
	User *userFields `json:"user"`
}

type userResponse struct {
	User userJSON `json:"user"`
}

type usersResponse struct {
	Users      []userJSON     `json:"users"`
	Pagination paginationJSON `json:"pagination"`
}

// Institutions.

type institutionJSON struct {
	Code                          string  `json:"code"`
	GUID                          string  `json:"guid"`
	Name                          string  `json:"name"`
	URL                           string  `json:"url"`
	ISOCountryCode                string  `json:"iso_country_code"`
	SmallLogoURL                  *string `json:"small_logo_url"`
	MediumLogoURL                 *string `json:"medium_logo_url"`
	InstructionalText             *string `json:"instructional_text"`
	ForgotPasswordURL             *string `json:"forgot_password_url"`
	ForgotUsernameURL             *string `json:"forgot_username_url"`
	TroubleSigningInURL           *string `json:"trouble_signing_in_url"`
	IsDisabledByClient            bool    `json:"is_disabled_by_client"`
	SupportsAccountIdentification bool    `json:"supports_account_identification"`
	SupportsAccountStatement      bool    `json:"supports_account_statement"`
	SupportsAccountVerification   bool    `json:"supports_account_verification"`
	SupportsOAuth                 bool    `json:"supports_oauth"`
	SupportsTaxDocument           bool    `json:"supports_tax_document"`
	SupportsTransactionHistory    bool    `json:"supports_transaction_history"`
}

type institutionResponse struct {
	Institution institutionJSON `json:"institution"`
}

type institutionsResponse struct {
	Institutions []institutionJSON `json:"institutions"`
	Pagination   paginationJSON    `json:"pagination"`
}

type credentialJSON struct {
	GUID         string `json:"guid"`
	FieldName    string `json:"field_name"`
	FieldType    string `json:"field_type"`
	Label        string `json:"label"`
	Type         string `json:"type"`
	DisplayOrder int    `json:"display_order"`
}

type credentialsResponse struct {
	Credentials []credentialJSON `json:"credentials"`
	Pagination  paginationJSON   `json:"pagination"`
}

// Members.

type credentialValue struct {
	GUID  string `json:"guid"`
	Value string `json:"value"`
}

type memberCreateFields struct {
	InstitutionCode                 string            `json:"institution_code"`
	Credentials                     []credentialValue `json:"credentials"`
	ID                              *string           `json:"id"`
	Metadata                        *string           `json:"metadata"`
	SkipAggregation                 bool              `json:"skip_aggregation"`
	BackgroundAggregationIsDisabled bool              `json:"background_aggregation_is_disabled"`
	IsOAuth                         bool              `json:"is_oauth"`
	UseCases                        []string          `json:"use_cases"`
}

type memberCreateRequest struct {
	Member            *memberCreateFields `json:"member"`
	ReferralSource    string              `json:"referral_source"`
	ClientRedirectURL string              `json:"client_redirect_url"`
}

type memberUpdateFields struct {
	Credentials                     []credentialValue `json:"credentials"`
	ID                              *string           `json:"id"`
	Metadata                        *string           `json:"metadata"`
	SkipAggregation                 *bool             `json:"skip_aggregation"`
	BackgroundAggregationIsDisabled *bool             `json:"background_aggregation_is_disabled"`
	UseCases                        []string          `json:"use_cases"`
}

func (f *memberUpdateFields) empty() bool {
	return f == nil || (f.Credentials == nil && f.ID == nil && f.Metadata == nil &&
		f.SkipAggregation == nil && f.BackgroundAggregationIsDisabled == nil && f.UseCases == nil)
}

type memberUpdateRequest struct {
	Member *memberUpdateFields `json:"member"`
}

type resumeRequest struct {
	Member *struct {
		Challenges []credentialValue `json:"challenges"`
	} `json:"member"`
}

type memberJSON struct {
	AggregatedAt                    *string  `json:"aggregated_at"`
	BackgroundAggregationIsDisabled bool     `json:"background_aggregation_is_disabled"`
	ConnectionStatus                *string  `json:"connection_status"`
	ConnectionStatusMessage         *string  `json:"connection_status_message"`
	GUID                            string   `json:"guid"`
	ID                              *string  `json:"id"`
	InstitutionCode                 string   `json:"institution_code"`
	InstitutionGUID                 string   `json:"institution_guid"`
	IsBeingAggregated               bool     `json:"is_being_aggregated"`
	IsManagedByUser                 bool     `json:"is_managed_by_user"`
	IsManual                        bool     `json:"is_manual"`
	IsOAuth                         bool     `json:"is_oauth"`
	Metadata                        *string  `json:"metadata"`
	MostRecentJobDetailCode         *int     `json:"most_recent_job_detail_code"`
	MostRecentJobDetailText         *string  `json:"most_recent_job_detail_text"`
	MostRecentJobGUID               *string  `json:"most_recent_job_guid"`
	Name                            string   `json:"name"`
	NeedsUpdatedCredentials         bool     `json:"needs_updated_credentials"`
	OAuthWindowURI                  *string  `json:"oauth_window_uri"`
	SuccessfullyAggregatedAt        *string  `json:"successfully_aggregated_at"`
	UseCases                        []string `json:"use_cases"`
	UserGUID                        string   `json:"user_guid"`
	UserID                          *string  `json:"user_id"`
}

type memberResponse struct {
	Member memberJSON `json:"member"`
}

type membersResponse struct {
	Members    []memberJSON   `json:"members"`
	Pagination paginationJSON `json:"pagination"`
}

type optionJSON struct {
	GUID  string `json:"guid"`
	Label string `json:"label"`
	Value string `json:"value"`
}

type imageOptionJSON struct {
	GUID    string `json:"guid"`
	Label   string `json:"label"`
	Value   string `json:"value"`
	DataURI string `json:"data_uri"`
}

type challengeJSON struct {
	GUID         string            `json:"guid"`
	Label        string            `json:"label"`
	FieldName    string            `json:"field_name"`
	Type         any               `json:"type"`
	Options      []optionJSON      `json:"options,omitempty"`
	ImageData    *string           `json:"image_data,omitempty"`
	ImageOptions []imageOptionJSON `json:"image_options,omitempty"`
}

type challengesResponse struct {
	Challenges []challengeJSON `json:"challenges"`
	Pagination paginationJSON  `json:"pagination"`
}

type memberStatusJSON struct {
	AggregatedAt               *string         `json:"aggregated_at"`
	Challenges                 []challengeJSON `json:"challenges,omitempty"`
	ConnectionStatus           *string         `json:"connection_status"`
	GUID                       string          `json:"guid"`
	HasProcessedAccountNumbers bool            `json:"has_processed_account_numbers"`
	HasProcessedAccounts       bool            `json:"has_processed_accounts"`
	HasProcessedTransactions   bool            `json:"has_processed_transactions"`
	IsAuthenticated            bool            `json:"is_authenticated"`
	IsBeingAggregated          bool            `json:"is_being_aggregated"`
	SuccessfullyAggregatedAt   *string         `json:"successfully_aggregated_at"`
}

type memberStatusResponse struct {
	Member memberStatusJSON `json:"member"`
}

type oauthWindowJSON struct {
	GUID           string  `json:"guid"`
	OAuthWindowURI *string `json:"oauth_window_uri"`
}

type oauthWindowResponse struct {
	Member oauthWindowJSON `json:"member"`
}

// Accounts and transactions.

type accountJSON struct {
	AccountNumber    string  `json:"account_number"`
	APR              *cents  `json:"apr"`
	APY              *cents  `json:"apy"`
	AvailableBalance *cents  `json:"available_balance"`
	AvailableCredit  *cents  `json:"available_credit"`
	Balance          cents   `json:"balance"`
	CreatedAt        *string `json:"created_at"`
	CreditLimit      *cents  `json:"credit_limit"`
	CurrencyCode     string  `json:"currency_code"`
	DayPaymentIsDue  *int    `json:"day_payment_is_due"`
	GUID             string  `json:"guid"`
	ID               string  `json:"id"`
	InstitutionCode  string  `json:"institution_code"`
	InstitutionGUID  string  `json:"institution_guid"`
	InterestRate     *cents  `json:"interest_rate"`
	IsClosed         bool    `json:"is_closed"`
	IsHidden         bool    `json:"is_hidden"`
	IsManual         bool    `json:"is_manual"`
	MemberGUID       string  `json:"member_guid"`
	MemberID         *string `json:"member_id"`
	MinimumPayment   *cents  `json:"minimum_payment"`
	Name             string  `json:"name"`
	Nickname         *string `json:"nickname"`
	OriginalBalance  *cents  `json:"original_balance"`
	PaymentDueAt     *string `json:"payment_due_at"`
	RoutingNumber    *string `json:"routing_number"`
	Subtype          string  `json:"subtype"`
	Type             string  `json:"type"`
	UpdatedAt        *string `json:"updated_at"`
	UserGUID         string  `json:"user_guid"`
	UserID           *string `json:"user_id"`
}

type accountsResponse struct {
	Accounts   []accountJSON  `json:"accounts"`
	Pagination paginationJSON `json:"pagination"`
}

type transactionJSON struct {
	AccountGUID         string  `json:"account_guid"`
	AccountID           string  `json:"account_id"`
	Amount              cents   `json:"amount"`
	Category            string  `json:"category"`
	CategoryGUID        string  `json:"category_guid"`
	CreatedAt           *string `json:"created_at"`
	CurrencyCode        string  `json:"currency_code"`
	Date                string  `json:"date"`
	Description         string  `json:"description"`
	GUID                string  `json:"guid"`
	ID                  string  `json:"id"`
	IsBillPay           bool    `json:"is_bill_pay"`
	IsDirectDeposit     bool    `json:"is_direct_deposit"`
	IsExpense           bool    `json:"is_expense"`
	IsFee               bool    `json:"is_fee"`
	IsIncome            bool    `json:"is_income"`
	IsRecurring         bool    `json:"is_recurring"`
	IsSubscription      bool    `json:"is_subscription"`
	MemberGUID          string  `json:"member_guid"`
	MerchantGUID        *string `json:"merchant_guid"`
	OriginalDescription string  `json:"original_description"`
	PostedAt            *string `json:"posted_at"`
	Status              string  `json:"status"`
	TopLevelCategory    string  `json:"top_level_category"`
	TransactedAt        *string `json:"transacted_at"`
	Type                string  `json:"type"`
	UpdatedAt           *string `json:"updated_at"`
	UserGUID            string  `json:"user_guid"`
	UserID              *string `json:"user_id"`
}

type transactionsResponse struct {
	Transactions []transactionJSON `json:"transactions"`
	Pagination   paginationJSON    `json:"pagination"`
}

// Webhooks.

type connectionStatusWebhook struct {
	Action                  string `json:"action"`
	Type                    string `json:"type"`
	ConnectionStatus        string `json:"connection_status"`
	ConnectionStatusID      int    `json:"connection_status_id"`
	ConnectionStatusMessage string `json:"connection_status_message"`
	MemberGUID              string `json:"member_guid"`
	UserGUID                string `json:"user_guid"`
}

type aggregationWebhook struct {
	Action                   string  `json:"action"`
	Type                     string  `json:"type"`
	MemberGUID               string  `json:"member_guid"`
	UserGUID                 string  `json:"user_guid"`
	UserID                   *string `json:"user_id"`
	IsBackground             bool    `json:"is_background"`
	JobGUID                  string  `json:"job_guid"`
	CompletedAt              int64   `json:"completed_at"`
	CompletedOn              string  `json:"completed_on"`
	TransactionsCreatedCount int     `json:"transactions_created_count"`
	TransactionsUpdatedCount int     `json:"transactions_updated_count"`
}

// Widget URLs.

// widgetOptionsJSON is the wire form of WidgetOptions (the same fields, so
// the two convert into each other).
type widgetOptionsJSON struct {
	CurrentInstitutionCode   string `json:"current_institution_code,omitempty"`
	CurrentInstitutionGUID   string `json:"current_institution_guid,omitempty"`
	CurrentMemberGUID        string `json:"current_member_guid,omitempty"`
	Mode                     string `json:"mode,omitempty"`
	DisableBackgroundAgg     *bool  `json:"disable_background_agg,omitempty"`
	DisableInstitutionSearch *bool  `json:"disable_institution_search,omitempty"`
	ClientRedirectURL        string `json:"client_redirect_url,omitempty"`
	ColorScheme              string `json:"color_scheme,omitempty"`
	IsMobileWebview          *bool  `json:"is_mobile_webview,omitempty"`
	OAuthReferralSource      string `json:"oauth_referral_source,omitempty"`
	UIMessageVersion         *int   `json:"ui_message_version,omitempty"`
	UpdateCredentials        *bool  `json:"update_credentials,omitempty"`
	IncludeTransactions      *bool  `json:"include_transactions,omitempty"`
}

type widgetURLFields struct {
	WidgetType string `json:"widget_type"`
	widgetOptionsJSON
}

type widgetURLRequest struct {
	WidgetURL *widgetURLFields `json:"widget_url"`
}

type widgetURLJSON struct {
	Type   string  `json:"type"`
	URL    string  `json:"url"`
	UserID *string `json:"user_id"`
}

type widgetURLResponse struct {
	WidgetURL widgetURLJSON `json:"widget_url"`
}

// Control surface.

// faultJSON is the wire form of Fault on the control surface.
type faultJSON struct {
	LatencyMS              int64   `json:"latency_ms"`
	ErrorRate              float64 `json:"error_rate"`
	RateLimitRate          float64 `json:"rate_limit_rate"`
	ServiceUnavailableRate float64 `json:"service_unavailable_rate"`
	RetryAfterSeconds      int64   `json:"retry_after_seconds"`
	CommitThenFail         int     `json:"commit_then_fail"`
	DropConnection         bool    `json:"drop_connection"`
	MalformedBody          int     `json:"malformed_body"`
	Hold                   bool    `json:"hold"`
	Seed                   int64   `json:"seed"`
}

type requestRecordJSON struct {
	Time     string `json:"time"`
	WallTime string `json:"wall_time"`
	Endpoint string `json:"endpoint"`
	Status   int    `json:"status"`
}

type requestsResponse struct {
	Requests []requestRecordJSON `json:"requests"`
}

type heldResponse struct {
	Held int `json:"held"`
}

type callsResponse struct {
	Calls map[string]int `json:"calls"`
	Total int            `json:"total"`
}

type clockResponse struct {
	Now  string `json:"now"`
	Fake bool   `json:"fake"`
}

type startJobRequest struct {
	Kind string `json:"kind"`
}

type advanceRequest struct {
	Seconds *float64 `json:"seconds"`
}

type widgetConnectRequest struct {
	URL             string   `json:"url"`
	InstitutionCode string   `json:"institution_code"`
	Username        string   `json:"username"`
	Password        string   `json:"password"`
	Answers         []string `json:"answers"`
}

type widgetConnectResponse struct {
	MemberGUID string `json:"member_guid"`
}

type widgetRepairRequest struct {
	URL      string   `json:"url"`
	Username string   `json:"username"`
	Password string   `json:"password"`
	Answers  []string `json:"answers"`
}

type widgetURLSnapshotJSON struct {
	UserGUID        string            `json:"user_guid"`
	InstitutionCode string            `json:"institution_code"`
	MemberGUID      string            `json:"member_guid"`
	Mode            string            `json:"mode"`
	MintedAt        string            `json:"minted_at"`
	ExpiresAt       string            `json:"expires_at"`
	Used            bool              `json:"used"`
	Options         widgetOptionsJSON `json:"options"`
}

type widgetURLsResponse struct {
	WidgetURLs []widgetURLSnapshotJSON `json:"widget_urls"`
}

type memberSnapshotJSON struct {
	GUID              string `json:"guid"`
	ID                string `json:"id"`
	UserGUID          string `json:"user_guid"`
	UserID            string `json:"user_id"`
	InstitutionCode   string `json:"institution_code"`
	ConnectionStatus  string `json:"connection_status"`
	IsBeingAggregated bool   `json:"is_being_aggregated"`
	IsOAuth           bool   `json:"is_oauth"`
	MostRecentJobGUID string `json:"most_recent_job_guid"`
}

var _ json.Marshaler = cents(0)
