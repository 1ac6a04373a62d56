package graph

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestIsRecordProblem(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"expired record (404)", &Error{Op: OpGet, Status: 404}, true},
		{"wrapped 404", fmt.Errorf("get record: %w", &Error{Op: OpBatch, Status: 404}), true},
		{"malformed answer", fmt.Errorf("decode: %w", ErrMalformed), true},
		{"answer too large", ErrBodyTooLarge, true},
		{"server error", &Error{Op: OpGet, Status: 503}, false},
		{"throttled", &Error{Op: OpGet, Status: 429}, false},
		{"unauthorized", &Error{Op: OpGet, Status: 401}, false},
		{"no answer", context.DeadlineExceeded, false},
		{"anything else", errors.New("connection reset"), false},
	} {
		if got := IsRecordProblem(tt.err); got != tt.want {
			t.Errorf("%s: IsRecordProblem = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestAnswered(t *testing.T) {
	for _, tt := range []struct {
		op   Operation
		code string
		want bool
	}{
		{OpGet, "200", true},
		{OpList, "204", true},
		{OpGet, "404", true},
		{OpBatch, "503", false},
		{OpGet, "429", false},
		{OpGet, "401", false},
		{OpList, "error", false},
		{OpToken, "200", false},
	} {
		if got := Answered(tt.op, tt.code); got != tt.want {
			t.Errorf("Answered(%s, %s) = %v, want %v", tt.op, tt.code, got, tt.want)
		}
	}
}
