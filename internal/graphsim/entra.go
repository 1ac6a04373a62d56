package graphsim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Entra ID endpoints, as MSAL for Go (inside azidentity) uses them:
//
//  1. Unless instance discovery is disabled, GET
//     https://login.microsoftonline.com/common/discovery/instance?api-version=1.1&authorization_endpoint=https://{host}/{tenant}/oauth2/v2.0/authorize
//     Note the host: MSAL sends instance discovery for an authority it does
//     not know to login.microsoftonline.com, not to the authority itself.
//     This tenant answers it when that request is routed to it.
//  2. GET {tenant_discovery_endpoint from 1, or
//     https://{host}/{tenant}/v2.0/.well-known/openid-configuration}: MSAL
//     needs authorization_endpoint, token_endpoint and an issuer on the
//     authority's host.
//  3. POST {token_endpoint}, form-encoded: grant_type=client_credentials,
//     client_id, scope="{resource}/.default openid offline_access profile"
//     (MSAL always appends the last three), and client_secret or
//     client_assertion_type + client_assertion (a PS256 JWT whose header
//     carries x5t#S256, the base64 SHA-256 of the certificate).

const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// entraError writes Entra's OAuth error shape.
func entraError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	trace, corr := newUUID(), newUUID()
	ts := time.Now().UTC().Format("2006-01-02 15:04:05Z")
	b, _ := json.Marshal(map[string]any{
		"error": code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			aadsts, desc, trace, corr, ts),
		"error_codes":    []int{aadsts},
		"timestamp":      ts,
		"trace_id":       trace,
		"correlation_id": corr,
		"error_uri":      fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", aadsts),
	})
	writeEntra(w, status, b)
}

func writeEntra(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (t *Tenant) knownTenant(tenant string) bool {
	return tenant != "" && strings.EqualFold(tenant, t.opts.TenantID)
}

// serveDiscovery answers instance discovery for an authorization endpoint
// on any https host, pointing MSAL back at that host.
func (t *Tenant) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("api-version") == "" {
		entraError(w, http.StatusBadRequest, "invalid_request", 900143, "The request body must contain the following parameter: 'api-version'.")
		return
	}
	ae, err := url.Parse(q.Get("authorization_endpoint"))
	p := []string{}
	if err == nil {
		p = strings.Split(strings.Trim(ae.Path, "/"), "/")
	}
	if err != nil || ae.Scheme != "https" || ae.Host == "" || len(p) != 4 || p[1] != "oauth2" || p[3] != "authorize" {
		entraError(w, http.StatusBadRequest, "invalid_instance", 50049, "Unknown or invalid instance.")
		return
	}
	host := ae.Host
	b, _ := json.Marshal(map[string]any{
		"tenant_discovery_endpoint": "https://" + host + "/" + p[0] + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": host, "preferred_cache": host, "aliases": []string{host},
		}},
	})
	writeEntra(w, http.StatusOK, b)
}

// serveOpenID answers the tenant's OpenID configuration.
func (t *Tenant) serveOpenID(w http.ResponseWriter, r *http.Request) {
	tenant := strings.Split(strings.Trim(r.URL.Path, "/"), "/")[0]
	if !t.knownTenant(tenant) {
		entraError(w, http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found.", clip(tenant)))
		return
	}
	base := baseURL(r) + "/" + t.opts.TenantID
	b, _ := json.Marshal(map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                base + "/v2.0",
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     baseURL(r) + "/oidc/userinfo",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "tid"},
		"kerberos_endpoint":                     base + "/kerberos",
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
		"cloud_graph_host_name":                 "graph.windows.net",
		"msgraph_host":                          r.Host,
		"rbac_url":                              "https://pas.windows.net",
	})
	writeEntra(w, http.StatusOK, b)
}

// serveToken implements the client-credentials grant.
func (t *Tenant) serveToken(w http.ResponseWriter, r *http.Request) {
	tenant := strings.Split(strings.Trim(r.URL.Path, "/"), "/")[0]
	if !t.knownTenant(tenant) {
		entraError(w, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found.", clip(tenant)))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must be application/x-www-form-urlencoded.")
		return
	}
	f := r.PostForm
	if gt := f.Get("grant_type"); gt != "client_credentials" {
		entraError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", clip(gt)))
		return
	}
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok { // client_secret_basic
		clientID, secret = u, p
	}
	if clientID == "" {
		entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	if clientID != t.opts.ClientID {
		entraError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clip(clientID), t.opts.TenantID))
		return
	}
	audience, status, code, n, msg := t.checkScope(f.Get("scope"), r)
	if status != 0 {
		entraError(w, status, code, n, msg)
		return
	}
	assertion := f.Get("client_assertion")
	switch {
	case secret != "" && assertion != "":
		entraError(w, http.StatusBadRequest, "invalid_request", 90023, "Only one client credential may be presented.")
		return
	case secret != "":
		if t.opts.ClientSecret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(t.opts.ClientSecret)) != 1 {
			entraError(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
			return
		}
	case assertion != "":
		if f.Get("client_assertion_type") != clientAssertionType {
			entraError(w, http.StatusBadRequest, "invalid_request", 700023, "Client assertion type must be '"+clientAssertionType+"'.")
			return
		}
		audience := baseURL(r) + r.URL.Path
		if n, msg := t.verifyAssertion(assertion, clientID, audience); n != 0 {
			entraError(w, http.StatusUnauthorized, "invalid_client", n, msg)
			return
		}
	default:
		entraError(w, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	if err := t.answerClaims(f.Get("claims")); err != nil {
		entraError(w, http.StatusBadRequest, "invalid_request", 90014, "The claims parameter is malformed: "+clip(err.Error()))
		return
	}
	tok, life := t.issueToken(audience)
	secs := int(life / time.Second)
	b, _ := json.Marshal(map[string]any{
		"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok,
	})
	writeEntra(w, http.StatusOK, b)
}

// checkScope requires exactly one resource scope, "{graph}/.default", where
// {graph} is this server (the Graph URL a client of the simulator uses), or
// one of Options.Audiences; MSAL's openid, offline_access and profile are
// accepted beside it. It returns the audience of another resource, "" for
// Graph.
func (t *Tenant) checkScope(scope string, r *http.Request) (audience string, status int, code string, aadsts int, msg string) {
	audience = t.otherAudience(scope)
	if audience != "" {
		return audience, 0, "", 0, ""
	}
	status, code, aadsts, msg = checkGraphScope(scope, r)
	return "", status, code, aadsts, msg
}

// otherAudience returns the resource of scope if it is one of
// Options.Audiences.
func (t *Tenant) otherAudience(scope string) string {
	for _, s := range strings.Fields(scope) {
		res := strings.TrimSuffix(s, "/.default")
		if res == s {
			continue
		}
		for _, a := range t.opts.Audiences {
			if strings.EqualFold(strings.TrimSuffix(a, "/"), res) {
				return a
			}
		}
	}
	return ""
}

func checkGraphScope(scope string, r *http.Request) (status int, code string, aadsts int, msg string) {
	var resources []string
	for _, s := range strings.Fields(scope) {
		switch s {
		case "openid", "offline_access", "profile":
		default:
			resources = append(resources, s)
		}
	}
	if len(resources) != 1 || !strings.HasSuffix(resources[0], "/.default") {
		return http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", clip(scope))
	}
	res, err := url.Parse(strings.TrimSuffix(resources[0], "/.default"))
	if err != nil || !sameServer(res, r) || strings.Trim(res.Path, "/") != "" {
		return http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf("The resource principal named %s was not found in the tenant. The resource must be this server's URL, %s.", clip(resources[0]), baseURL(r))
	}
	return 0, "", 0, ""
}

// sameServer reports whether u names this server: same scheme and port, and
// the host the client used or a loopback name for it.
func sameServer(u *url.URL, r *http.Request) bool {
	if u.Scheme != "https" && u.Scheme != "http" || (u.Scheme == "https") != (r.TLS != nil) {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	_, port := splitHostPort(r.Host)
	h, p := splitHostPort(u.Host)
	loop := h == "localhost" || h == "127.0.0.1" || h == "::1"
	return loop && p == port
}

func splitHostPort(hostport string) (string, string) {
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.Contains(hostport[i:], "]") {
		return strings.Trim(strings.ToLower(hostport[:i]), "[]"), hostport[i+1:]
	}
	return strings.Trim(strings.ToLower(hostport), "[]"), ""
}

// verifyAssertion checks a client_assertion JWT against the configured
// certificates: the thumbprint header, the signature, and the claims. It
// returns an AADSTS code and message, or 0. Times are checked against the
// wall clock, which the client used to sign, not the tenant's clock.
func (t *Tenant) verifyAssertion(jwt, clientID, audience string) (int, string) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return 50027, "JWT token is invalid or malformed."
	}
	var hdr struct {
		Alg     string `json:"alg"`
		X5t     string `json:"x5t"`
		X5tS256 string `json:"x5t#S256"`
		Kid     string `json:"kid"`
	}
	var claims struct {
		Aud any         `json:"aud"`
		Iss string      `json:"iss"`
		Sub string      `json:"sub"`
		Exp json.Number `json:"exp"`
		Nbf json.Number `json:"nbf"`
	}
	if decodeSegment(parts[0], &hdr) != nil || decodeSegment(parts[1], &claims) != nil {
		return 50027, "JWT token is invalid or malformed."
	}
	cert := t.findCert(hdr.X5t, hdr.X5tS256, hdr.Kid)
	if cert == nil {
		return 700027, "Client assertion failed signature validation. The key was not found."
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || verifySignature(cert, hdr.Alg, parts[0]+"."+parts[1], sig) != nil {
		return 700027, "Client assertion failed signature validation."
	}
	if claims.Iss != clientID || claims.Sub != clientID {
		return 700021, "Client assertion application identifier doesn't match 'client_id' parameter."
	}
	if !audienceMatches(claims.Aud, audience) {
		return 700212, "No matching federated identity record found for presented assertion audience."
	}
	now := time.Now()
	exp, err1 := claims.Exp.Int64()
	nbf, err2 := claims.Nbf.Int64()
	if err1 != nil || now.After(time.Unix(exp, 0).Add(5*time.Minute)) ||
		err2 == nil && now.Add(5*time.Minute).Before(time.Unix(nbf, 0)) {
		return 700024, "Client assertion is not within its valid time range."
	}
	return 0, ""
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	return dec.Decode(v)
}

func audienceMatches(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return strings.EqualFold(a, want)
	case []any:
		for _, e := range a {
			if s, ok := e.(string); ok && strings.EqualFold(s, want) {
				return true
			}
		}
	}
	return false
}

// findCert matches the thumbprint headers MSAL may send: x5t#S256 (SHA-256)
// or x5t (SHA-1), base64 (MSAL uses standard encoding) or base64url, or a
// hex SHA-1 kid.
func (t *Tenant) findCert(x5t, x5tS256, kid string) *x509.Certificate {
	for _, c := range t.certs {
		s256 := sha256.Sum256(c.Raw)
		s1 := sha1.Sum(c.Raw) // #nosec: thumbprint, not security
		if thumbMatches(x5tS256, s256[:]) || thumbMatches(x5t, s1[:]) ||
			kid != "" && strings.EqualFold(kid, hex.EncodeToString(s1[:])) {
			return c
		}
	}
	return nil
}

func thumbMatches(h string, sum []byte) bool {
	if h == "" {
		return false
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(h); err == nil && subtle.ConstantTimeCompare(b, sum) == 1 {
			return true
		}
	}
	return false
}

func verifySignature(c *x509.Certificate, alg, signed string, sig []byte) error {
	h := sha256.Sum256([]byte(signed))
	switch pub := c.PublicKey.(type) {
	case *rsa.PublicKey:
		switch alg {
		case "PS256":
			return rsa.VerifyPSS(pub, crypto.SHA256, h[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
		case "RS256":
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig)
		}
	case *ecdsa.PublicKey:
		if alg == "ES256" && len(sig) == 64 {
			r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
			if ecdsa.Verify(pub, h[:], r, s) {
				return nil
			}
		}
	}
	return errors.New("signature does not verify")
}
