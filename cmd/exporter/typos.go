package main

import (
	"log/slog"
	"strings"
)

// warnUnknownVariables logs one warning for every variable of environ
// that starts with TEAMS_EXPORTER_ but is none of the exporter's: a
// misspelt name (TEAMS_EXPORTER_POLL_INTERVALL) would otherwise leave its
// setting at the default without a word. The warning names the closest
// known variable. Values are never logged: a misspelt secret is still a
// secret.
func warnUnknownVariables(logger *slog.Logger, environ []string) {
	known := map[string]bool{}
	var names []string
	for _, v := range variables() {
		known[v.Key] = true
		names = append(names, v.Key)
	}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix+"_") || known[name] {
			continue
		}
		logger.Warn("unknown variable ignored", "variable", name, "did_you_mean", closest(name, names))
	}
}

// closest is the name of names nearest to s by edit distance (the first
// of equals, in the order given).
func closest(s string, names []string) string {
	best, bestDist := "", -1
	for _, n := range names {
		if d := editDistance(s, n); bestDist < 0 || d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b: the insertions,
// deletions and substitutions of bytes that turn one into the other.
// Variable names are ASCII, and short.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
