package mx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
)

// connectWidgetType is the widget_type of the Connect widget.
const connectWidgetType = "connect_widget"

// ConnectWidgetOptions are the options of [Client.CreateConnectWidgetURL]
// (OpenAPI WidgetRequest, MX-API.md §11). Zero values are not sent, so
// MX's defaults apply; set a pointer to send false.
type ConnectWidgetOptions struct {
	// InstitutionCode (current_institution_code) opens the widget at that
	// institution's credential view.
	InstitutionCode string
	// MemberGUID (current_member_guid) opens the view that fixes that
	// member: credentials, MFA, errors. It takes precedence over
	// InstitutionCode.
	MemberGUID string
	// Mode is "aggregation" (MX's default) or "verification".
	Mode string
	// ClientRedirectURL is where OAuth ends with IsMobileWebview or
	// OAuthReferralSource "APP".
	ClientRedirectURL string
	// ColorScheme is "light" (MX's default), "dark" or "browser".
	ColorScheme string
	// OAuthReferralSource is "BROWSER" or "APP".
	OAuthReferralSource string
	// UIMessageVersion is the version of the widget's postMessage events
	// (MX's default 4).
	UIMessageVersion int
	// DisableBackgroundAggregation (disable_background_agg) applies to the
	// member the end user creates; MX's default is false in aggregation
	// mode and true in verification mode.
	DisableBackgroundAggregation *bool
	// DisableInstitutionSearch keeps the end user at InstitutionCode or
	// MemberGUID, one of which must be set.
	DisableInstitutionSearch *bool
	// IsMobileWebview renders the widget for a mobile WebView.
	IsMobileWebview *bool
	// UpdateCredentials opens the view that updates the current member's
	// credentials; MX recommends MemberGUID alone instead.
	UpdateCredentials *bool
	// IncludeTransactions decides whether the widget's first aggregation
	// retrieves transactions; MX's default is true in aggregation mode and
	// false in verification mode.
	IncludeTransactions *bool
}

// WidgetURL is a Connect widget URL from [Client.CreateConnectWidgetURL].
//
// URL is a bearer secret: until it is opened or expires (ten minutes
// after it was minted) whoever has it can connect and fix members of the
// user. Give it to the end user's browser and nowhere else. Every fmt verb,
// String, GoString, JSON, text, logr and slog form of a WidgetURL prints
// "[REDACTED]" in its place; read the field to use it.
type WidgetURL struct {
	// Type is the widget type MX answered, "connect_widget".
	Type string
	// URL is the widget URL (secret).
	URL string
	// UserID is the user's partner id, empty when it has none.
	UserID string
}

// String returns the type and user id with the URL redacted.
func (w WidgetURL) String() string {
	return fmt.Sprintf("{Type:%s URL:%s UserID:%s}", w.Type, redacted, w.UserID)
}

// GoString returns a Go-syntax form with the URL redacted.
func (w WidgetURL) GoString() string {
	return fmt.Sprintf("mx.WidgetURL{Type:%q, URL:%q, UserID:%q}", w.Type, redacted, w.UserID)
}

// Format prints String (or GoString for %#v) for every verb.
func (w WidgetURL) Format(f fmt.State, verb rune) { formatRedacted(f, verb, w) }

// MarshalJSON encodes the type and user id with the URL redacted.
func (w WidgetURL) MarshalJSON() ([]byte, error) { return json.Marshal(w.redactedWire()) }

// MarshalText returns the redacted String form.
func (w WidgetURL) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// MarshalLog implements logr.Marshaler with the URL redacted.
func (w WidgetURL) MarshalLog() any { return w.redactedWire() }

// LogValue implements slog.LogValuer with the URL redacted.
func (w WidgetURL) LogValue() slog.Value {
	return slog.GroupValue(slog.String("type", w.Type), slog.String("url", redacted), slog.String("user_id", w.UserID))
}

func (w WidgetURL) redactedWire() widgetURLAnswerWire {
	return widgetURLAnswerWire{Type: w.Type, URL: redacted, UserID: w.UserID}
}

// widgetURLWire is the wire form of a widget URL request; zero fields are
// not sent.
type widgetURLWire struct {
	WidgetType               string `json:"widget_type"`
	CurrentInstitutionCode   string `json:"current_institution_code,omitempty"`
	CurrentMemberGUID        string `json:"current_member_guid,omitempty"`
	Mode                     string `json:"mode,omitempty"`
	ClientRedirectURL        string `json:"client_redirect_url,omitempty"`
	ColorScheme              string `json:"color_scheme,omitempty"`
	OAuthReferralSource      string `json:"oauth_referral_source,omitempty"`
	UIMessageVersion         int    `json:"ui_message_version,omitempty"`
	DisableBackgroundAgg     *bool  `json:"disable_background_agg,omitempty"`
	DisableInstitutionSearch *bool  `json:"disable_institution_search,omitempty"`
	IsMobileWebview          *bool  `json:"is_mobile_webview,omitempty"`
	UpdateCredentials        *bool  `json:"update_credentials,omitempty"`
	IncludeTransactions      *bool  `json:"include_transactions,omitempty"`
}

// widgetURLEnvelope is the POST /users/{user}/widget_urls body.
type widgetURLEnvelope struct {
	WidgetURL widgetURLWire `json:"widget_url"`
}

// widgetURLAnswerWire is the widget_url object MX answers; a null user_id
// decodes as "".
type widgetURLAnswerWire struct {
	Type   string `json:"type"`
	URL    string `json:"url"`
	UserID string `json:"user_id"`
}

// CreateConnectWidgetURL asks MX for a Connect widget URL for the user
// (POST /users/{user}/widget_urls with widget_type connect_widget) and
// returns it. The URL works once, for ten minutes; the member the end user
// connects there has no partner id ([Client.UpdateMember] can give it
// one).
//
// Minting a second URL is harmless (the first, never handed out, expires
// unused), so unlike the creates this call is retried like an idempotent
// one: also after a 5xx or a lost response.
//
// The URL never appears in an error, a log line or an Observer call, and a
// [WidgetURL] redacts it when printed, encoded or logged. Errors:
// [IsNotFound] for an unknown user, member or institution; [IsTerminal]
// for options MX rejects (400); ErrInvalidRequest for an empty userGUID; a
// 200 without a URL is [ErrUndecodableResponse].
func (c *Client) CreateConnectWidgetURL(ctx context.Context, userGUID string, o ConnectWidgetOptions) (*WidgetURL, error) {
	body := widgetURLEnvelope{WidgetURL: widgetURLWire{
		WidgetType:               connectWidgetType,
		CurrentInstitutionCode:   o.InstitutionCode,
		CurrentMemberGUID:        o.MemberGUID,
		Mode:                     o.Mode,
		ClientRedirectURL:        o.ClientRedirectURL,
		ColorScheme:              o.ColorScheme,
		OAuthReferralSource:      o.OAuthReferralSource,
		UIMessageVersion:         o.UIMessageVersion,
		DisableBackgroundAgg:     o.DisableBackgroundAggregation,
		DisableInstitutionSearch: o.DisableInstitutionSearch,
		IsMobileWebview:          o.IsMobileWebview,
		UpdateCredentials:        o.UpdateCredentials,
		IncludeTransactions:      o.IncludeTransactions,
	}}
	res, err := c.do(ctx, call{route: routeCreateWidgetURL, args: []string{userGUID}, body: body})
	if err != nil {
		return nil, err
	}
	w, err := decodeObject[widgetURLAnswerWire](res, "widget_url")
	if err != nil {
		return nil, err
	}
	if w.URL == "" {
		return nil, res.decodeError(errors.New("empty url"))
	}
	return &WidgetURL{Type: w.Type, URL: w.URL, UserID: w.UserID}, nil
}
