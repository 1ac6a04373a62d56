package gendoc

import (
	"strings"
	"testing"
)

// TestReplace: the content between a section's markers is replaced, and
// the prose around it kept; a section missing, repeated or reversed is an
// error, never a silent rewrite.
func TestReplace(t *testing.T) {
	begin, end := markers("s")
	b, e := string(begin), string(end)
	for _, tc := range []struct {
		name, doc, content, want string
		err                      bool
	}{
		{name: "replaced", doc: "intro\n" + b + "old\n" + e + "outro\n", content: "new\n", want: "intro\n" + b + "new\n" + e + "outro\n"},
		{name: "empty section", doc: b + e, content: "new", want: b + "new\n" + e},
		{name: "emptied", doc: b + "old\n" + e, content: "", want: b + e},
		{name: "no markers", doc: "intro\n", content: "new\n", err: true},
		{name: "twice", doc: b + e + b + e, content: "new\n", err: true},
		{name: "reversed", doc: e + b, content: "new\n", err: true},
		{name: "another section", doc: strings.ReplaceAll(b+e, "GENERATED s", "GENERATED t"), content: "new\n", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Replace([]byte(tc.doc), "s", []byte(tc.content))
			if (err != nil) != tc.err {
				t.Fatalf("error %v, want an error: %v", err, tc.err)
			}
			if !tc.err && string(got) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestCell(t *testing.T) {
	if got, want := Cell("a | b\n<hub> c"), `a \| b &lt;hub&gt; c`; got != want {
		t.Errorf("Cell: %q, want %q", got, want)
	}
}
