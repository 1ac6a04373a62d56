package sites

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func writeFile(t *testing.T, path, text string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// TestFileReload walks a building file through the changes an
// administrator makes: an edit, a broken edit (the previous map stays, the
// line and reason are logged, the gauge says 0), a touch without change, a
// fix, a removal, and a SIGHUP-style forced reload.
func TestFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buildings.csv")
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	writeFile(t, path, row("10.1.0.0", 16, "HQ", "Seattle", 1), t0)
	var logs bytes.Buffer
	f, err := Open(path, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var changes []int
	f.OnChange(func(m *Map) { changes = append(changes, m.Networks()) })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(f)
	expect := func(step string, ok, networks int, site string) {
		t.Helper()
		want := strings.NewReader(`
# HELP teams_exporter_building_file_last_reload_success Whether the last read of the building file succeeded (1) or failed and the previous map is still in force (0).
# TYPE teams_exporter_building_file_last_reload_success gauge
teams_exporter_building_file_last_reload_success ` + strconv.Itoa(ok) + `
# HELP teams_exporter_building_file_networks Networks (rows) of the building file in force.
# TYPE teams_exporter_building_file_networks gauge
teams_exporter_building_file_networks ` + strconv.Itoa(networks) + `
`)
		if err := testutil.GatherAndCompare(reg, want, "teams_exporter_building_file_last_reload_success", "teams_exporter_building_file_networks"); err != nil {
			t.Errorf("%s: %v", step, err)
		}
		if got := f.Map().SiteOf("10.1.4.0", ""); got != site {
			t.Errorf("%s: site of 10.1.4.0 = %q, want %q", step, got, site)
		}
	}
	expect("start", 1, 1, "HQ")

	if f.Check() {
		t.Error("Check reported a change of an unchanged file")
	}
	two := row("10.1.0.0", 16, "HQ", "Seattle", 1) + "\n" + row("10.1.4.0", 24, "HQ-4", "Seattle", 1)
	writeFile(t, path, two, t0.Add(time.Second))
	if !f.Check() {
		t.Error("Check missed an edit")
	}
	expect("edit", 1, 2, "HQ-4")

	writeFile(t, path, two+"\n10.2.0.0,n,24,B,,,,,,,,,1\n", t0.Add(2*time.Second))
	if f.Check() {
		t.Error("a bad file was taken")
	}
	expect("bad edit", 0, 2, "HQ-4")
	if !strings.Contains(logs.String(), "line 3: 13 columns") {
		t.Errorf("log does not name the line and reason:\n%s", logs.String())
	}
	before := logs.Len()
	if f.Check() || logs.Len() != before {
		t.Error("an unchanged bad file was read or logged again")
	}
	// Touched, same content: read (the stamp changed) but not parsed again.
	writeFile(t, path, two+"\n10.2.0.0,n,24,B,,,,,,,,,1\n", t0.Add(3*time.Second))
	if f.Check() || logs.Len() != before {
		t.Error("a touched bad file was parsed or logged again")
	}

	writeFile(t, path, row("10.1.0.0", 16, "HQ", "Seattle", 1), t0.Add(4*time.Second))
	if !f.Check() {
		t.Error("Check missed the fix")
	}
	expect("fixed", 1, 1, "HQ")

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if f.Check() {
		t.Error("a removed file changed the map")
	}
	expect("removed", 0, 1, "HQ")

	writeFile(t, path, row("10.1.0.0", 16, "Main", "Seattle", 1), t0.Add(4*time.Second))
	if err := f.Reload(); err != nil {
		t.Errorf("Reload: %v", err)
	}
	expect("forced reload", 1, 1, "Main")
	if err := f.Reload(); err != nil {
		t.Errorf("a forced reload of the same content: %v", err)
	}
	writeFile(t, path, "10.0.0.0,n,99,B,,,,,,,,,1,0\n", t0.Add(5*time.Second))
	if err := f.Reload(); err == nil || !strings.Contains(err.Error(), `line 1: NetworkRange "99"`) {
		t.Errorf("Reload of a bad file: %v, want the line and reason", err)
	}
	expect("forced reload of a bad file", 0, 1, "Main")
	if want := []int{2, 1, 1, 1}; !slices.Equal(changes, want) {
		t.Errorf("OnChange saw %v, want %v", changes, want)
	}
}

// kubeletVolume lays out a directory as the kubelet mounts a ConfigMap:
// each version of the data in a timestamped directory, a "..data" symlink
// to the version in force, and the file a symlink through "..data".
type kubeletVolume struct {
	t       *testing.T
	dir     string
	current string // the timestamped directory ..data points to
}

// newKubeletVolume mounts text as buildings.csv, and returns the volume and
// the path the exporter is given.
func newKubeletVolume(t *testing.T, text string, mtime time.Time) (*kubeletVolume, string) {
	t.Helper()
	v := &kubeletVolume{t: t, dir: t.TempDir()}
	v.current = v.writeVersion("..2026_12_07_10_00_00.0001", text, mtime)
	if err := os.Symlink(v.current, filepath.Join(v.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "buildings.csv"), filepath.Join(v.dir, "buildings.csv")); err != nil {
		t.Fatal(err)
	}
	return v, filepath.Join(v.dir, "buildings.csv")
}

// writeVersion writes text as buildings.csv in a new directory name.
func (v *kubeletVolume) writeVersion(name, text string, mtime time.Time) string {
	v.t.Helper()
	if err := os.Mkdir(filepath.Join(v.dir, name), 0o750); err != nil {
		v.t.Fatal(err)
	}
	writeFile(v.t, filepath.Join(v.dir, name, "buildings.csv"), text, mtime)
	return name
}

// swap updates the volume as the kubelet does: the new version in a new
// directory, a "..data_tmp" symlink to it renamed over "..data" (the one
// atomic step), then the old version removed. The file itself is never
// written.
func (v *kubeletVolume) swap(name, text string, mtime time.Time) {
	v.t.Helper()
	v.writeVersion(name, text, mtime)
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(name, tmp); err != nil {
		v.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		v.t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(v.dir, v.current)); err != nil {
		v.t.Fatal(err)
	}
	v.current = name
}

// TestFileReloadOfAConfigMap: mounted from a ConfigMap, the building file
// changes by a symlink swap, never in place. Each swap is a new file,
// which Check must see even when it keeps the size and modification time
// of the one before (an edit of one character; a version restored with
// its time).
func TestFileReloadOfAConfigMap(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	hq := row("10.1.0.0", 16, "HQ", "Seattle", 1)
	v, path := newKubeletVolume(t, hq, t0)
	f, err := Open(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var changes []int
	f.OnChange(func(m *Map) { changes = append(changes, m.Networks()) })
	steps := []struct {
		name, version, text string
		mtime               time.Time
		changed             bool
		site                string // of 10.1.4.1
	}{
		{"new version", "..2026_12_07_10_01_00.0002", hq + "\n" + row("10.1.4.0", 24, "HQ-4", "Seattle", 1), t0.Add(time.Minute), true, "HQ-4"},
		{"same size and time", "..2026_12_07_10_02_00.0003", hq + "\n" + row("10.1.4.0", 24, "HQ-5", "Seattle", 1), t0.Add(time.Minute), true, "HQ-5"},
		{"same content", "..2026_12_07_10_03_00.0004", hq + "\n" + row("10.1.4.0", 24, "HQ-5", "Seattle", 1), t0.Add(3 * time.Minute), false, "HQ-5"},
		{"back to the first", "..2026_12_07_10_04_00.0005", hq, t0, true, "HQ"},
	}
	for _, s := range steps {
		v.swap(s.version, s.text, s.mtime)
		if got := f.Check(); got != s.changed {
			t.Errorf("%s: Check = %v, want %v", s.name, got, s.changed)
		}
		if got := f.Map().SiteOf("10.1.4.1", ""); got != s.site {
			t.Errorf("%s: site of 10.1.4.1 = %q, want %q", s.name, got, s.site)
		}
		if f.Check() {
			t.Errorf("%s: a second Check saw a change", s.name)
		}
	}
	if want := []int{2, 2, 1}; !slices.Equal(changes, want) {
		t.Errorf("OnChange saw %v, want %v", changes, want)
	}
}

func TestOpenFails(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.tsv")
	writeFile(t, bad, "10.0.0.0\tn\t8\n", time.Now())
	logger := slog.New(slog.DiscardHandler)
	for path, want := range map[string]string{
		bad:                           "bad.tsv: line 1: 3 columns",
		filepath.Join(dir, "missing"): "no such file",
		dir:                           "not a regular file",
	} {
		if _, err := Open(path, logger); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%s) = %v, want %q", path, err, want)
		}
	}
}

func TestSiteInfo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.csv")
	writeFile(t, path, "10.1.0.0,n,16,HQ,,,,Seattle,,US,,MSUS,1,0,1\n10.2.0.0,n,16,HQ,,,,Elsewhere,,FR,,EU,0,1,0\n2001:db8::,n,32,Lab,,,,Oslo,,NO,,EU,0,1\n", time.Now())
	f, err := Open(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	want := `
# HELP teams_site_info Buildings of the building file with the attributes of their first row, for group_left joins on site; always 1.
# TYPE teams_site_info gauge
teams_site_info{city="Oslo",country="NO",express_route="true",inside_corp="false",region="EU",site="Lab",vpn="false"} 1
teams_site_info{city="Seattle",country="US",express_route="false",inside_corp="true",region="MSUS",site="HQ",vpn="true"} 1
`
	if err := testutil.CollectAndCompare(f, strings.NewReader(want), "teams_site_info"); err != nil {
		t.Error(err)
	}
}
