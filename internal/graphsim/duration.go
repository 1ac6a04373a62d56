package graphsim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time span that Graph serialises as an ISO 8601 duration
// ("PT0.016S", "PT1M2.5S"). Nullable fields hold a *Duration.
type Duration time.Duration

// Dur returns a pointer to d as a Duration, for building records by hand.
func Dur(d time.Duration) *Duration {
	v := Duration(d)
	return &v
}

// Seconds returns the duration in seconds, computed as time.Duration does.
func (d Duration) Seconds() float64 { return time.Duration(d).Seconds() }

// MarshalJSON writes the ISO 8601 form.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + formatISODuration(time.Duration(d)) + `"`), nil
}

// UnmarshalJSON reads the ISO 8601 forms Graph sends. JSON null leaves a
// *Duration nil before this is reached.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("duration: want a JSON string, got %.40s", b)
	}
	v, err := parseISODuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// formatISODuration writes hours, minutes and seconds with the fraction
// trimmed, exact to the nanosecond.
func formatISODuration(d time.Duration) string {
	if d == 0 {
		return "PT0S"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	b.WriteString("PT")
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dH", h)
		d %= time.Hour
	}
	if m := d / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dM", m)
		d %= time.Minute
	}
	if d > 0 {
		s := fmt.Sprintf("%d.%09d", d/time.Second, d%time.Second)
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		b.WriteString(s + "S")
	}
	return b.String()
}

var errISODuration = errors.New("not an ISO 8601 duration of days, hours, minutes and seconds")

// parseISODuration accepts [-]P[nD][T[nH][nM][n[.f]S]]: what Graph sends
// for call records. Fractions are read exactly to the nanosecond.
func parseISODuration(s string) (time.Duration, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if !strings.HasPrefix(s, "P") || len(s) < 3 {
		return 0, errISODuration
	}
	datePart, timePart, hasT := strings.Cut(s[1:], "T")
	if hasT && timePart == "" {
		return 0, errISODuration
	}
	var total time.Duration
	if datePart != "" {
		n, ok := strings.CutSuffix(datePart, "D")
		days, err := strconv.ParseInt(n, 10, 32)
		if !ok || err != nil || days < 0 {
			return 0, errISODuration
		}
		total += time.Duration(days) * 24 * time.Hour
	}
	units := []struct {
		suffix byte
		unit   time.Duration
	}{{'H', time.Hour}, {'M', time.Minute}, {'S', time.Second}}
	rest := timePart
	for _, u := range units {
		i := strings.IndexByte(rest, u.suffix)
		if i < 0 {
			continue
		}
		v, err := parseDecimal(rest[:i], u.unit)
		if err != nil {
			return 0, err
		}
		total += v
		rest = rest[i+1:]
	}
	if rest != "" {
		return 0, errISODuration
	}
	if neg {
		total = -total
	}
	return total, nil
}

// parseDecimal reads "12" or "0.016" as a multiple of unit without floating point.
func parseDecimal(s string, unit time.Duration) (time.Duration, error) {
	whole, frac, _ := strings.Cut(s, ".")
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w < 0 || whole == "" {
		return 0, errISODuration
	}
	d := time.Duration(w) * unit
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		f, err := strconv.ParseInt(frac, 10, 64)
		if err != nil || f < 0 {
			return 0, errISODuration
		}
		scale := int64(1)
		for range len(frac) {
			scale *= 10
		}
		d += time.Duration(int64(unit) / scale * f)
	}
	return d, nil
}
