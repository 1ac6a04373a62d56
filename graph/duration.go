package graph

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// Duration is an ISO 8601 duration that Graph may send as null or leave out.
// Valid is false when the value was not measured; such a value must never be
// treated as zero.
type Duration struct {
	Value time.Duration
	Valid bool
}

// Seconds returns the duration in seconds; callers check Valid first.
func (d Duration) Seconds() float64 { return d.Value.Seconds() }

// UnmarshalJSON accepts a JSON string holding an ISO 8601 duration, or null.
// The string is taken as it stands: an escaped character is not a valid
// duration character.
func (d *Duration) UnmarshalJSON(b []byte) error { return d.fromJSON(b) }

// UnmarshalJSONFrom is UnmarshalJSON for the JSON v2 decoder that
// UnmarshalCallRecord uses: it reads the raw value in place, so the value is
// neither scanned twice nor copied.
func (d *Duration) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	b, err := dec.ReadValue()
	if err != nil {
		return err
	}
	return d.fromJSON(b)
}

func (d *Duration) fromJSON(b []byte) error {
	if isNull(b) {
		*d = Duration{}
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("duration: want a JSON string, got %s", truncate(b))
	}
	raw := b[1 : len(b)-1]
	// The conversion does not escape, so a short string costs no
	// allocation; the error path builds ParseDuration's error.
	v, err := parseDuration(string(raw))
	if err != nil {
		return durationError(raw, err)
	}
	*d = Duration{Value: v, Valid: true}
	return nil
}

// MarshalJSON writes the duration in ISO 8601 form, or null when not Valid.
func (d Duration) MarshalJSON() ([]byte, error) {
	if !d.Valid {
		return []byte("null"), nil
	}
	return []byte(`"` + FormatDuration(d.Value) + `"`), nil
}

var errDurationSyntax = errors.New("not an ISO 8601 duration")

// ParseDuration parses the ISO 8601 durations Graph sends, such as "PT0.016S",
// "PT1M2.5S" or "P1DT2H". Years and months are refused because their length
// is not fixed; weeks and days are taken as 7 and 1 times 24 hours. A decimal
// fraction (with '.' or ',') is accepted on any component, with nanosecond
// precision and no floating-point rounding.
func ParseDuration(s string) (time.Duration, error) {
	d, err := parseDuration(s)
	if err != nil {
		return 0, durationError([]byte(s), err)
	}
	return d, nil
}

func durationError(s []byte, err error) error {
	return fmt.Errorf("parse duration %s: %w", truncate(s), err)
}

func parseDuration(s string) (time.Duration, error) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" || s[0] != 'P' {
		return 0, errDurationSyntax
	}
	s = s[1:]
	if s == "" {
		return 0, errDurationSyntax
	}
	var total uint64 // nanoseconds
	inTime := false
	components := 0
	lastUnit := -1
	for s != "" {
		if s[0] == 'T' {
			if inTime {
				return 0, errDurationSyntax
			}
			inTime = true
			s = s[1:]
			if s == "" {
				return 0, errDurationSyntax
			}
			continue
		}
		whole, frac, fracScale, rest, ok := scanDecimal(s)
		if !ok || rest == "" {
			return 0, errDurationSyntax
		}
		unitRank, unit, err := durationUnit(rest[0], inTime)
		if err != nil {
			return 0, err
		}
		if unitRank <= lastUnit {
			return 0, errDurationSyntax // out of order or repeated
		}
		lastUnit = unitRank
		s = rest[1:]
		if fracScale > 0 && s != "" {
			return 0, errors.New("a fraction is allowed only on the last component")
		}
		n, ok := scaleComponent(whole, frac, fracScale, unit)
		if !ok || total+n < total || total+n > math.MaxInt64 {
			return 0, errors.New("duration out of range")
		}
		total += n
		components++
	}
	if components == 0 {
		return 0, errDurationSyntax
	}
	if neg {
		return -time.Duration(total), nil
	}
	return time.Duration(total), nil
}

// scanDecimal reads digits with an optional fraction. The fraction is kept as
// an integer numerator over 10^fracScale, trimmed to 9 digits (nanoseconds
// of a second is the finest unit that survives).
func scanDecimal(s string) (whole, frac uint64, fracScale int, rest string, ok bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if whole > (math.MaxUint64-9)/10 {
			return 0, 0, 0, "", false
		}
		whole = whole*10 + uint64(s[i]-'0')
		i++
	}
	if i == 0 {
		return 0, 0, 0, "", false
	}
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		i++
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if fracScale < 9 {
				frac = frac*10 + uint64(s[i]-'0')
				fracScale++
			}
			i++
		}
		if i == start {
			return 0, 0, 0, "", false
		}
	}
	return whole, frac, fracScale, s[i:], true
}

func durationUnit(c byte, inTime bool) (rank int, unit time.Duration, err error) {
	if !inTime {
		switch c {
		case 'Y', 'M':
			return 0, 0, errors.New("years and months have no fixed length")
		case 'W':
			return 0, 7 * 24 * time.Hour, nil
		case 'D':
			return 1, 24 * time.Hour, nil
		}
		return 0, 0, errDurationSyntax
	}
	switch c {
	case 'H':
		return 2, time.Hour, nil
	case 'M':
		return 3, time.Minute, nil
	case 'S':
		return 4, time.Second, nil
	}
	return 0, 0, errDurationSyntax
}

func scaleComponent(whole, frac uint64, fracScale int, unit time.Duration) (uint64, bool) {
	u := uint64(unit)
	if whole != 0 && whole > math.MaxInt64/u {
		return 0, false
	}
	n := whole * u
	if fracScale > 0 {
		// frac < 10^9 and u <= 7 days in ns (< 2^50): split to avoid overflow.
		pow := uint64(1)
		for range fracScale {
			pow *= 10
		}
		n += (u/pow)*frac + (u%pow)*frac/pow
	}
	return n, true
}

// FormatDuration writes d in the ISO 8601 form Graph uses ("PT1M2.5S").
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "PT0S"
	}
	sign := ""
	if d < 0 {
		sign = "-"
		d = -d
	}
	out := sign + "PT"
	if h := d / time.Hour; h > 0 {
		out += fmt.Sprintf("%dH", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		out += fmt.Sprintf("%dM", m)
		d -= m * time.Minute
	}
	if d > 0 {
		sec := d / time.Second
		ns := d % time.Second
		if ns == 0 {
			out += fmt.Sprintf("%dS", sec)
		} else {
			f := fmt.Sprintf("%d.%09d", sec, ns)
			for f[len(f)-1] == '0' {
				f = f[:len(f)-1]
			}
			out += f + "S"
		}
	}
	return out
}
