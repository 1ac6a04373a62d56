package gendoc

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// The documents whose links are checked: the top-level Markdown files and
// everything under docs/.
func documents(t *testing.T, root string) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(root, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			docs = append(docs, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

var (
	fence      = regexp.MustCompile("(?ms)^ {0,3}```.*?^ {0,3}```[^\n]*$")
	codeSpan   = regexp.MustCompile("`[^`\n]*`")
	inlineLink = regexp.MustCompile(`\]\(([^()\s]+)(?:\s+"[^"]*")?\)`)
	refLink    = regexp.MustCompile(`(?m)^\s*\[[^\]]+\]:\s+(\S+)`)
	heading    = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*#*\s*$`)
	htmlAnchor = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
)

// prose is a document without its code blocks and code spans, where a
// link is not a link.
func prose(doc string) string {
	return codeSpan.ReplaceAllString(fence.ReplaceAllString(doc, ""), "")
}

// anchors are the fragment identifiers GitHub gives a document's headings:
// lower case, punctuation other than - and _ dropped, spaces as hyphens,
// and -1, -2, ... for repeats.
func anchors(doc string) map[string]bool {
	seen := map[string]bool{}
	for _, m := range heading.FindAllStringSubmatch(fence.ReplaceAllString(doc, ""), -1) {
		slug := slugOf(m[1])
		a := slug
		for i := 1; seen[a]; i++ {
			a = fmt.Sprintf("%s-%d", slug, i)
		}
		seen[a] = true
	}
	for _, m := range htmlAnchor.FindAllStringSubmatch(doc, -1) {
		seen[m[1]] = true
	}
	return seen
}

func slugOf(h string) string {
	h = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(h, "$1") // a link's text
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestRelativeLinksResolve: every relative link of README.md, the other
// top-level documents and docs/ names a file or directory of the
// repository, and its #fragment, if any, a heading of that document.
func TestRelativeLinksResolve(t *testing.T) {
	root := RepoRoot(t)
	cache := map[string]map[string]bool{}
	anchorsOf := func(path string) (map[string]bool, error) {
		if a, ok := cache[path]; ok {
			return a, nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		cache[path] = anchors(string(b))
		return cache[path], nil
	}
	docs := documents(t, root)
	if len(docs) < 10 {
		t.Fatalf("only %d documents found under %s", len(docs), root)
	}
	links := 0
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		text := prose(string(b))
		var targets []string
		for _, m := range inlineLink.FindAllStringSubmatch(text, -1) {
			targets = append(targets, m[1])
		}
		for _, m := range refLink.FindAllStringSubmatch(text, -1) {
			targets = append(targets, m[1])
		}
		rel, _ := filepath.Rel(root, doc)
		for _, target := range targets {
			if regexp.MustCompile(`^[a-zA-Z][a-zA-Z+.-]*:`).MatchString(target) {
				continue // absolute: http(s), mailto
			}
			links++
			file, fragment, _ := strings.Cut(target, "#")
			path := doc
			if file != "" {
				path = filepath.Join(filepath.Dir(doc), filepath.FromSlash(file))
				if !strings.HasPrefix(path, root+string(filepath.Separator)) && path != root {
					t.Errorf("%s: link %s leaves the repository", rel, target)
					continue
				}
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s: link %s: no such file or directory", rel, target)
					continue
				}
			}
			if fragment == "" || !strings.HasSuffix(path, ".md") {
				continue
			}
			a, err := anchorsOf(path)
			if err != nil {
				t.Errorf("%s: link %s: %v", rel, target, err)
				continue
			}
			if !a[fragment] {
				t.Errorf("%s: link %s: no heading with the anchor #%s", rel, target, fragment)
			}
		}
	}
	if links < 50 {
		t.Errorf("only %d relative links found: is the link pattern still right?", links)
	}
}

// TestAnchors pins GitHub's heading anchors on the forms the documents use.
func TestAnchors(t *testing.T) {
	doc := "# Graph permissions\n## `TEAMS_EXPORTER_LOOKBACK` and the look-back\n## Docker Compose\n## Docker Compose\n" +
		"```\n# not a heading\n```\n## Simulated days: listing within Graph's quota, catch-up\n## [Helm](x.md) chart\n"
	got := anchors(doc)
	for _, want := range []string{"graph-permissions", "teams_exporter_lookback-and-the-look-back", "docker-compose", "docker-compose-1",
		"simulated-days-listing-within-graphs-quota-catch-up", "helm-chart"} {
		if !got[want] {
			t.Errorf("no anchor %s in %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Error("a comment in a code block became an anchor")
	}
}

// TestDashboardsListed: the dashboard tables of README.md and
// docs/dashboards.md list every dashboard of dashboards/, and no other, so
// that what the docs say ships is what ships.
func TestDashboardsListed(t *testing.T) {
	root := RepoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "dashboards", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	ship := map[string]bool{}
	for _, f := range files {
		if name := filepath.Base(f); name != "jsonnetfile.json" {
			ship[name] = true
		}
	}
	if len(ship) == 0 {
		t.Fatal("no dashboards in dashboards/")
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+\\.json)` \\|")
	for _, doc := range []string{"README.md", filepath.Join("docs", "dashboards.md")} {
		b, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		listed := map[string]bool{}
		for _, m := range row.FindAllStringSubmatch(string(b), -1) {
			listed[m[1]] = true
			if !ship[m[1]] {
				t.Errorf("%s lists %s, which dashboards/ does not hold", doc, m[1])
			}
		}
		for name := range ship {
			if !listed[name] {
				t.Errorf("%s does not list the dashboard %s: add a row to its table", doc, name)
			}
		}
	}
}

// readmeMaxBytes keeps the README a guide read in minutes; the reference
// belongs in docs/.
const readmeMaxBytes = 25000

// TestREADMEIsAGuide: README.md stays short, and its table of contents
// links every section.
func TestREADMEIsAGuide(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > readmeMaxBytes {
		t.Errorf("README.md is %d bytes, more than %d: move the detail to a page of docs/ and link it", len(b), readmeMaxBytes)
	}
	doc := fence.ReplaceAllString(string(b), "")
	for _, m := range regexp.MustCompile(`(?m)^## (.+)$`).FindAllStringSubmatch(doc, -1) {
		if entry := "](#" + slugOf(m[1]) + ")"; !strings.Contains(doc, entry) {
			t.Errorf("README.md's table of contents lacks the section %q", m[1])
		}
	}
}

// TestDocsSpeakOfTheProduct: the documents speak of the exporter, not of
// how its work was organised.
func TestDocsSpeakOfTheProduct(t *testing.T) {
	root := RepoRoot(t)
	banned := regexp.MustCompile(`(?i)\b(?:last|previous|this|next|earlier) session\b|\bissue #?\d+|\bSPEC\.md\b`)
	for _, doc := range append(documents(t, root), filepath.Join(root, "bench", "sdkcompare", "README.md")) {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := banned.FindString(line); m != "" {
				rel, _ := filepath.Rel(root, doc)
				t.Errorf("%s:%d: %q: say what the exporter does, not how the work went", rel, i+1, m)
			}
		}
	}
}
