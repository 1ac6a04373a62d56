package graphsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
)

// Continuous access evaluation, as Microsoft documents it ("Claims
// challenges, claims requests and client capabilities", Entra identity
// platform docs): a client that announces the CP1 capability may get, from
// Graph, a 401 whose WWW-Authenticate header carries
//
//	Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="<base64 JSON>"
//
// when its token is revoked; the JSON is a claims request such as
// {"access_token":{"nbf":{"essential":true,"value":"1602042334"}}}. The
// client must ask the identity provider for a new token with exactly those
// claims (MSAL merges its capabilities, {"access_token":{"xms_cc":
// {"values":["cp1"]}}}, into them) and retry.
//
// Here a challenge revokes the token it was given for: until a token
// request carries the challenge's claims, every request with that token
// gets the same challenge. A token request whose claims hold an
// outstanding challenge answers it.

// ClaimsStats counts claims challenges: issued by Graph, and answered by a
// token request carrying exactly the challenge's claims.
type ClaimsStats struct {
	Issued, Answered int64
	// Unmatched counts token requests whose claims (apart from the
	// client's capabilities) asked for something no challenge asked for.
	Unmatched int64
}

type claimsCounters struct{ issued, answered, unmatched atomic.Int64 }

// Claims returns the claims challenges issued and answered so far.
func (t *Tenant) Claims() ClaimsStats {
	return ClaimsStats{Issued: t.claims.issued.Load(), Answered: t.claims.answered.Load(), Unmatched: t.claims.unmatched.Load()}
}

// challengeToken revokes the request's token with a new claims challenge
// and answers the request with it.
func (t *Tenant) challengeToken(w http.ResponseWriter, r *http.Request) {
	_, tok, _ := cutSpace(r.Header.Get("Authorization"))
	t.tokMu.Lock()
	t.claimSeq++
	// nbf: a token issued from now on. The sequence number keeps each
	// challenge distinct within one second.
	claims := fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, t.now().Unix()+t.claimSeq)
	if _, ok := t.tokens[tok]; ok && tok != "" {
		t.challenged[tok] = claims
	}
	t.outstanding[claims] = true
	t.tokMu.Unlock()
	t.claims.issued.Add(1)
	writeChallenge(w, r, claims)
}

func writeChallenge(w http.ResponseWriter, r *http.Request, claims string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="`+
		base64.StdEncoding.EncodeToString([]byte(claims))+`"`)
	graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp")
}

// challengeOf returns the challenge a token was revoked with, or "".
func (t *Tenant) challengeOf(tok string) string {
	t.tokMu.Lock()
	defer t.tokMu.Unlock()
	return t.challenged[tok]
}

// answerClaims reads a token request's claims parameter: the client's
// capabilities (xms_cc) aside, it must be exactly an outstanding
// challenge, which it then answers. It returns an error for claims that
// are not a JSON object.
func (t *Tenant) answerClaims(param string) error {
	if param == "" {
		return nil
	}
	var req map[string]map[string]json.RawMessage
	if err := json.Unmarshal([]byte(param), &req); err != nil {
		return fmt.Errorf("claims is not a JSON object of claim requests: %w", err)
	}
	delete(req["access_token"], "xms_cc") // capabilities, merged in by MSAL
	if len(req["access_token"]) == 0 {
		delete(req, "access_token")
	}
	if len(req) == 0 {
		return nil // capabilities only
	}
	t.tokMu.Lock()
	defer t.tokMu.Unlock()
	for c := range t.outstanding {
		var want map[string]map[string]json.RawMessage
		_ = json.Unmarshal([]byte(c), &want)
		if sameClaims(req, want) {
			delete(t.outstanding, c)
			for tok, ch := range t.challenged {
				if ch == c {
					delete(t.challenged, tok)
					delete(t.tokens, tok) // revoked for good
				}
			}
			t.claims.answered.Add(1)
			return nil
		}
	}
	t.claims.unmatched.Add(1)
	return nil
}

// sameClaims compares two claims requests member by member, as JSON values.
func sameClaims(a, b map[string]map[string]json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for k, am := range a {
		bm, ok := b[k]
		if !ok || len(am) != len(bm) {
			return false
		}
		for name, av := range am {
			var x, y any
			if json.Unmarshal(av, &x) != nil || json.Unmarshal(bm[name], &y) != nil || !jsonEqual(x, y) {
				return false
			}
		}
	}
	return true
}

func jsonEqual(x, y any) bool {
	bx, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return string(bx) == string(by)
}
