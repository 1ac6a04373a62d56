package graphsim

import (
	"encoding/json"
	"testing"
	"time"
)

func TestISODuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		text string
	}{
		{0, "PT0S"},
		{16 * time.Millisecond, "PT0.016S"},
		{time.Second, "PT1S"},
		{time.Minute + 2500*time.Millisecond, "PT1M2.5S"},
		{26*time.Hour + time.Nanosecond, "PT26H0.000000001S"},
		{2 * time.Hour, "PT2H"},
	}
	for _, tt := range tests {
		if got := formatISODuration(tt.d); got != tt.text {
			t.Errorf("format %v = %q, want %q", tt.d, got, tt.text)
		}
		var d Duration
		if err := json.Unmarshal([]byte(`"`+tt.text+`"`), &d); err != nil || time.Duration(d) != tt.d {
			t.Errorf("parse %q = %v, %v", tt.text, time.Duration(d), err)
		}
	}
	for text, want := range map[string]time.Duration{"P1DT2H": 26 * time.Hour, "PT0.0160S": 16 * time.Millisecond, "P2D": 48 * time.Hour} {
		if got, err := parseISODuration(text); err != nil || got != want {
			t.Errorf("parse %q = %v, %v; want %v", text, got, err, want)
		}
	}
	for _, bad := range []string{"", "P", "PT", "1S", "PT1", "PT1X", "PTS", "PT-1S", "P1Y", "PT1S2M", "PT.5S"} {
		if d, err := parseISODuration(bad); err == nil {
			t.Errorf("parse %q = %v, want an error", bad, d)
		}
	}
	var s struct {
		A *Duration `json:"a"`
		B *Duration `json:"b"`
	}
	if err := json.Unmarshal([]byte(`{"a":null,"b":"PT0S"}`), &s); err != nil || s.A != nil || s.B == nil || *s.B != 0 {
		t.Errorf("null and zero: %+v, %v", s, err)
	}
	if b, _ := json.Marshal(s); string(b) != `{"a":null,"b":"PT0S"}` {
		t.Errorf("marshal: %s", b)
	}
}
