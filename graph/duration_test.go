package graph

import (
	"encoding/json"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"PT0.016S", 16 * time.Millisecond},
		{"PT1S", time.Second},
		{"PT1M2.5S", time.Minute + 2500*time.Millisecond},
		{"PT0S", 0},
		{"P1DT2H", 26 * time.Hour},
		{"P1W", 7 * 24 * time.Hour},
		{"PT0,5S", 500 * time.Millisecond},
		{"PT1.5H", 90 * time.Minute},
		{"PT0.0000000019S", 1}, // beyond nanoseconds is truncated
		{"-PT1S", -time.Second},
		{"PT0.123456789S", 123456789},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err != nil {
			t.Errorf("ParseDuration(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	for _, in := range []string{
		"", "P", "PT", "T1S", "1S", "PT1", "PTS", "PT.5S", "PT1.S", "P1Y", "P1M",
		"PT1S2M", "PT1M1M", "PT1.5M2S", "PT99999999999999999999S", "P99999999999D",
		"PT1X", "P1DT", "PTT1S", "0.016",
	} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
		}
	}
}

func TestFormatDurationRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{0, time.Nanosecond, 16 * time.Millisecond, time.Minute + 2500*time.Millisecond, 49*time.Hour + 3*time.Second, -time.Second} {
		got, err := ParseDuration(FormatDuration(d))
		if err != nil || got != d {
			t.Errorf("round trip of %v via %q = %v, %v", d, FormatDuration(d), got, err)
		}
	}
}

func TestOptionalJSON(t *testing.T) {
	var s struct {
		A Duration `json:"a"`
		B Duration `json:"b"`
		C Number   `json:"c"`
		D Number   `json:"d"`
		E Number   `json:"e"`
	}
	if err := json.Unmarshal([]byte(`{"a":"PT0.5S","b":null,"c":0,"d":null}`), &s); err != nil {
		t.Fatal(err)
	}
	if !s.A.Valid || s.A.Value != 500*time.Millisecond {
		t.Errorf("a = %+v", s.A)
	}
	if s.B.Valid || s.D.Valid || s.E.Valid {
		t.Errorf("null or absent became valid: %+v %+v %+v", s.B, s.D, s.E)
	}
	if !s.C.Valid || s.C.Value != 0 {
		t.Errorf("a measured zero must stay valid: %+v", s.C)
	}
	for _, bad := range []string{`{"a":5}`, `{"a":"5"}`, `{"c":"0.1"}`, `{"c":true}`, `{"c":{}}`} {
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("Unmarshal(%s): want an error", bad)
		}
	}
}
