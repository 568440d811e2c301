package mx

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// TestNewValidatesConfig proves New refuses unusable configurations with an
// error naming the field and never the API key.
func TestNewValidatesConfig(t *testing.T) {
	const key = "very-secret-key"
	valid := func(mutate func(*Config)) Config {
		c := Config{ClientID: "cid", APIKey: key}
		mutate(c2p(&c))
		return c
	}
	tests := []struct {
		reason  string
		cfg     Config
		wantErr string
	}{
		{"the defaults are valid", valid(func(*Config) {}), ""},
		{"the client id is required", valid(func(c *Config) { c.ClientID = "" }), "ClientID"},
		{"the API key is required", valid(func(c *Config) { c.APIKey = "" }), "APIKey"},
		{"the base URL must be http(s)", valid(func(c *Config) { c.BaseURL = "ftp://int-api.mx.com" }), "scheme"},
		{"the base URL needs a host", valid(func(c *Config) { c.BaseURL = "https://" }), "host"},
		{"credentials in the URL are refused", valid(func(c *Config) { c.BaseURL = "https://cid:" + key + "@int-api.mx.com" }), "user info"},
		{"a query in the base URL is refused", valid(func(c *Config) { c.BaseURL = "https://int-api.mx.com?x=1" }), "query"},
		{"a negative timeout", valid(func(c *Config) { c.Timeout = -time.Second }), "Timeout"},
		{"a negative backoff", valid(func(c *Config) { c.MinBackoff = -1 }), "Backoff"},
		{"min backoff above max", valid(func(c *Config) { c.MinBackoff = time.Minute; c.MaxBackoff = time.Second }), "MinBackoff"},
		{"page size above MX's maximum", valid(func(c *Config) { c.PageSize = 5000 }), "PageSize"},
		{"a negative retry wait budget", valid(func(c *Config) { c.MaxRetryWait = -time.Second }), "MaxRetryWait"},
		{"a negative cool-down", valid(func(c *Config) { c.CoolDownMax = -time.Second }), "CoolDown"},
		{"cool-down min above max", valid(func(c *Config) { c.CoolDownMin = time.Hour }), "CoolDownMin exceeds"},
		{"a negative failure threshold is valid: failures never cool down", valid(func(c *Config) { c.FailureThreshold = -1 }), ""},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			c, err := New(tt.cfg)
			if tt.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(c).NotTo(BeNil())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)), tt.reason)
			g.Expect(err.Error()).NotTo(ContainSubstring(key))
		})
	}
}

func c2p(c *Config) *Config { return c }

// TestConfigDefaults proves the documented defaults.
func TestConfigDefaults(t *testing.T) {
	g := NewWithT(t)
	c, err := New(Config{ClientID: "cid", APIKey: "k", BaseURL: "https://api.mx.com/"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.cfg.BaseURL).To(Equal("https://api.mx.com"), "trailing slash trimmed")
	g.Expect(c.cfg.Timeout).To(Equal(DefaultTimeout))
	g.Expect(c.cfg.MaxRetries).To(Equal(DefaultMaxRetries))
	g.Expect(c.cfg.MinBackoff).To(Equal(DefaultMinBackoff))
	g.Expect(c.cfg.MaxBackoff).To(Equal(DefaultMaxBackoff))
	g.Expect(c.cfg.MaxRetryWait).To(Equal(DefaultMaxRetryWait))
	g.Expect(c.cfg.FailureThreshold).To(Equal(DefaultFailureThreshold))
	g.Expect(c.cfg.CoolDownMin).To(Equal(DefaultCoolDownMin))
	g.Expect(c.cfg.CoolDownMax).To(Equal(DefaultCoolDownMax))
	g.Expect(c.CoolingDownUntil()).To(BeZero(), "a new client is healthy")
	// The defaults keep every call short: the 5xx backoff ceilings before
	// the retries sum to well under a second, and no single in-line wait
	// nor their total exceeds a second.
	ceilings := time.Duration(0)
	for n := range DefaultMaxRetries {
		ceilings += min(DefaultMaxBackoff, DefaultMinBackoff<<n)
	}
	g.Expect(ceilings).To(BeNumerically("<=", 300*time.Millisecond))
	g.Expect(DefaultMaxBackoff).To(BeNumerically("<=", time.Second))
	g.Expect(DefaultMaxRetryWait).To(BeNumerically("<=", time.Second))
	g.Expect(c.cfg.PageSize).To(Equal(DefaultPageSize))
	g.Expect(c.cfg.UserAgent).To(Equal(DefaultUserAgent))
	tr := c.cfg.HTTPClient.Transport.(*http.Transport)
	g.Expect(tr.TLSClientConfig.MinVersion).To(Equal(uint16(tls.VersionTLS12)), "TLS 1.2 minimum")
	g.Expect(c.cfg.HTTPClient.CheckRedirect(nil, nil)).To(MatchError(http.ErrUseLastResponse), "redirects are not followed")

	c, err = New(Config{ClientID: "cid", APIKey: "k"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.cfg.BaseURL).To(Equal(DefaultBaseURL))
}

// TestConfigAndClientNeverPrintTheAPIKey proves that no fmt verb prints the
// API key of a Config or a Client, including through reflection.
func TestConfigAndClientNeverPrintTheAPIKey(t *testing.T) {
	g := NewWithT(t)
	const key = "CANARY-KEY-in-config"
	cfg := Config{ClientID: "cid", APIKey: key}
	c, err := New(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%T"} {
		wrappers := []any{struct{ inner Client }{*c}, struct{ inner *Client }{c}, []*Client{c}}
		for _, v := range append([]any{cfg, &cfg, c, *c}, wrappers...) {
			g.Expect(fmt.Sprintf(verb, v)).NotTo(ContainSubstring(key), "verb %s on %T", verb, v)
		}
	}
	g.Expect(fmt.Sprint(cfg)).To(ContainSubstring(`ClientID:"cid"`), "the rest stays readable")
}
