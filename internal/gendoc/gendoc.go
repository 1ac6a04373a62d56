// Package gendoc keeps the parts of the repository's Markdown documents
// that restate the code (the metric families, the configuration variables)
// generated from that code, so that they cannot drift from it.
//
// A generated part of a document is a section between two markers:
//
//	<!-- BEGIN GENERATED metrics-exporter -->
//	...
//	<!-- END GENERATED metrics-exporter -->
//
// The prose around it is written by hand. A test in the package that owns
// the code renders the section and calls Check: it fails when the document
// differs, and with -update it rewrites the section instead
// (go generate ./... runs every such test with -update). Only tests import
// this package.
package gendoc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Regenerate is the command that rewrites every generated section, for
// failure messages and the markers.
const Regenerate = "go generate ./..."

func markers(name string) (begin, end []byte) {
	return []byte("<!-- BEGIN GENERATED " + name + ": do not edit, run " + Regenerate + " -->\n"),
		[]byte("<!-- END GENERATED " + name + " -->\n")
}

// Replace returns doc with the section name's content replaced by content.
// The section must exist, once.
func Replace(doc []byte, name string, content []byte) ([]byte, error) {
	begin, end := markers(name)
	if bytes.Count(doc, begin) != 1 || bytes.Count(doc, end) != 1 {
		return nil, fmt.Errorf("want exactly one line %q and one line %q", bytes.TrimSpace(begin), bytes.TrimSpace(end))
	}
	i := bytes.Index(doc, begin) + len(begin)
	j := bytes.Index(doc, end)
	if j < i {
		return nil, fmt.Errorf("the END marker of %s comes before its BEGIN marker", name)
	}
	var out bytes.Buffer
	out.Write(doc[:i])
	out.Write(content)
	if len(content) > 0 && content[len(content)-1] != '\n' {
		out.WriteByte('\n')
	}
	out.Write(doc[j:])
	return out.Bytes(), nil
}

// Cell is s as the text of one Markdown table cell, shown as written: a
// | does not end the cell, a newline does not end the row, and a
// <placeholder> is not taken for an HTML tag.
func Cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// RepoRoot is the directory of the repository's go.mod, found upwards from
// the test's working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Check compares section name of the document at path (relative to the
// repository's root) with content. With update it rewrites the section
// instead; otherwise a difference fails the test, naming the command that
// regenerates it.
func Check(t testing.TB, path, name string, content []byte, update bool) {
	t.Helper()
	full := filepath.Join(RepoRoot(t), path)
	doc, err := os.ReadFile(full) // #nosec G304 -- a document of the repository, named by a test
	if err != nil {
		t.Fatal(err)
	}
	want, err := Replace(doc, name, content)
	if err != nil {
		t.Fatalf("%s: section %s: %v", path, name, err)
	}
	if bytes.Equal(doc, want) {
		return
	}
	if update {
		// The document exists (it was just read), so it keeps its mode.
		if err := os.WriteFile(full, want, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: section %s rewritten", path, name)
		return
	}
	t.Errorf("%s: section %s differs from the code; regenerate it: %s\n%s", path, name, Regenerate, firstDifference(doc, want))
}

// firstDifference shows the first line where got and want differ.
func firstDifference(got, want []byte) string {
	g, w := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := range max(len(g), len(w)) {
		var gl, wl []byte
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if !bytes.Equal(gl, wl) {
			return fmt.Sprintf("line %d:\n  document: %s\n  code:     %s", i+1, gl, wl)
		}
	}
	return ""
}
