package graph_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/teams-exporter/teams-exporter/graph"
)

func TestFeedbackTokens(t *testing.T) {
	many := make([]string, 40)
	for i := range many {
		many[i] = fmt.Sprintf("%q:true", fmt.Sprint("T", i))
	}
	for _, tc := range []struct {
		name, tokens string
		want         []string
	}{
		{"true only", `{"NoSound":false,"Echo":true,"Noisy":true}`, []string{"Echo", "Noisy"}},
		{"null", `null`, nil},
		{"not an object", `"Echo"`, nil},
		{"values of other types", `{"Echo":"true","Noisy":1,"X":{"Echo":true},"Y":[true],"LowVolume":true}`, []string{"LowVolume"}},
		{"bounded", "{" + strings.Join(many, ",") + "}", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"id":"r","sessions":[{"caller":{"feedback":{"rating":"bad","tokens":` + tc.tokens + `}}}]}`
			var rec graph.CallRecord
			if err := graph.UnmarshalCallRecord([]byte(body), &rec); err != nil {
				t.Fatal(err)
			}
			got := rec.Sessions[0].Caller.Feedback.Tokens
			if tc.name == "bounded" {
				if len(got) != graph.MaxFeedbackTokens {
					t.Errorf("kept %d tokens, want %d", len(got), graph.MaxFeedbackTokens)
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("tokens = %q, want %q", got, tc.want)
			}
		})
	}
}
