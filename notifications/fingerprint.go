package notifications

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
)

// A fingerprint of a client state lets a later start tell whether the
// subscription it finds was created with the client state configured now:
// Graph never returns a subscription's clientState, and one created before
// the client state was rotated brings only notifications the receiver
// rejects. It is kept in the state file, so it must not give the secret
// away: a salted PBKDF2-HMAC-SHA256 with many iterations makes guessing
// even a short client state from it slow. It is computed once per start
// and once per subscription created.
const (
	fingerprintScheme     = "pbkdf2-sha256-600000"
	fingerprintIterations = 600_000
	fingerprintSaltLen    = 16
	fingerprintKeyLen     = 32
	// maxFingerprintLen bounds what is decoded of a state file's
	// fingerprint: scheme, salt and key, with room to spare.
	maxFingerprintLen = 128
)

// fingerprint returns the fingerprint of clientState with a new random
// salt: scheme, salt and key, "$"-separated, base64 without padding.
func fingerprint(clientState string) (string, error) {
	salt := make([]byte, fingerprintSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("client state fingerprint: %w", err)
	}
	key, err := fingerprintKey(clientState, salt)
	if err != nil {
		return "", err
	}
	enc := base64.RawStdEncoding
	return fingerprintScheme + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(key), nil
}

// fingerprintMatches reports whether fp is a fingerprint of clientState.
// Anything it cannot read (another scheme, a damaged state file) does not
// match: the subscription it stands for cannot be shown to carry this
// client state.
func fingerprintMatches(fp, clientState string) bool {
	if len(fp) > maxFingerprintLen {
		return false
	}
	scheme, rest, _ := strings.Cut(fp, "$")
	salt64, key64, ok := strings.Cut(rest, "$")
	if scheme != fingerprintScheme || !ok {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(salt64)
	if err != nil || len(salt) != fingerprintSaltLen {
		return false
	}
	want, err := enc.DecodeString(key64)
	if err != nil || len(want) != fingerprintKeyLen {
		return false
	}
	got, err := fingerprintKey(clientState, salt)
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

func fingerprintKey(clientState string, salt []byte) ([]byte, error) {
	key, err := pbkdf2.Key(sha256.New, clientState, salt, fingerprintIterations, fingerprintKeyLen)
	if err != nil {
		return nil, fmt.Errorf("client state fingerprint: %w", err)
	}
	return key, nil
}
