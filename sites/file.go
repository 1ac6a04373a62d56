package sites

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// File is a building file kept current: Check re-reads it when it changed
// on disk, Reload re-reads it unconditionally (SIGHUP). A file that cannot
// be read or parsed keeps the previous map in force; the failure is logged
// with its line and reason and shows as
// teams_exporter_building_file_last_reload_success 0.
//
// File is a prometheus.Collector of that gauge, of
// teams_exporter_building_file_networks and of teams_site_info.
type File struct {
	path   string
	logger *slog.Logger

	current atomic.Pointer[Map]
	ok      atomic.Bool

	mu   sync.Mutex // serialises reloads
	seen fileStamp  // the last content read, good or bad
	// onChange is called with every new map, under mu.
	onChange func(*Map)
}

// fileStamp identifies a version of the file: size, modification time and
// the file itself (device and inode) are cheap to compare, the hash
// catches a change that keeps them (an editor rewriting within the file
// system's time resolution) and a touch that changes nothing. The file's
// identity catches a ConfigMap's update: the kubelet swaps a "..data"
// symlink to a new directory, so the path leads to another file, whose
// size and modification time may be those of the previous one.
type fileStamp struct {
	size    int64
	modTime time.Time
	file    os.FileInfo // for os.SameFile; nil when not read
	hash    [sha256.Size]byte
}

// sameFile reports whether fi, from os.Stat of the path, is the version
// last read: the same file, size and modification time.
func (s fileStamp) sameFile(fi os.FileInfo) bool {
	return s.file != nil && os.SameFile(fi, s.file) && fi.Size() == s.size && fi.ModTime().Equal(s.modTime)
}

// Open reads the building file at path. At start there is no previous map
// to keep, so an unusable file is an error.
func Open(path string, logger *slog.Logger) (*File, error) {
	f := &File{path: path, logger: logger}
	m, stamp, warnings, err := f.read()
	if err != nil {
		return nil, err
	}
	f.logWarnings(warnings)
	f.seen = stamp
	f.current.Store(m)
	f.ok.Store(true)
	logger.Info("building file loaded", "path", path, "networks", m.Networks(), "sites", len(m.Sites()))
	return f, nil
}

// Map is the map in force.
func (f *File) Map() *Map { return f.current.Load() }

// OnChange registers fn to be called with every map loaded after this call
// (not the current one). It is called from Check or Reload, in order.
func (f *File) OnChange(fn func(*Map)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onChange = fn
}

// Check re-reads the file if it changed since it was last read (another
// file at the path, another size or modification time), and reports
// whether a new map is in force: a content already read is not parsed
// again.
func (f *File) Check() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err != nil {
		if f.ok.Swap(false) || f.seen.size >= 0 {
			f.logger.Error("building file unreadable; keeping the previous map", "path", f.path, "err", err)
			f.seen = fileStamp{size: -1}
		}
		return false
	}
	if f.seen.sameFile(fi) {
		return false
	}
	changed, err := f.reload(false)
	if err != nil {
		f.logger.Error("building file not reloaded; keeping the previous map", "path", f.path, "err", err)
	}
	return changed
}

// Reload re-reads the file whether or not it changed (SIGHUP). On error the
// previous map stays in force; the caller logs the error, which names the
// line and the reason.
func (f *File) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err := f.reload(true)
	if err != nil {
		return fmt.Errorf("building file %s: %w", f.path, err)
	}
	return nil
}

// reload reads and parses the file; f.mu must be held. Unless forced, a
// content already seen (good or bad) is not parsed again, and reports no
// error again.
func (f *File) reload(force bool) (bool, error) {
	data, stamp, err := f.readBytes()
	if err == nil && !force && stamp.hash == f.seen.hash {
		f.seen = stamp
		return false, nil
	}
	var m *Map
	var warnings []string
	if err == nil {
		m, warnings, err = parse(data)
	}
	f.seen = stamp
	if err != nil {
		f.ok.Store(false)
		return false, err
	}
	f.logWarnings(warnings)
	f.current.Store(m)
	f.ok.Store(true)
	f.logger.Info("building file reloaded", "path", f.path, "networks", m.Networks(), "sites", len(m.Sites()))
	if f.onChange != nil {
		f.onChange(m)
	}
	return true, nil
}

func (f *File) read() (*Map, fileStamp, []string, error) {
	data, stamp, err := f.readBytes()
	var m *Map
	var warnings []string
	if err == nil {
		m, warnings, err = parse(data)
	}
	if err != nil {
		return nil, stamp, nil, fmt.Errorf("building file %s: %w", f.path, err)
	}
	return m, stamp, warnings, nil
}

// readBytes reads the whole file within MaxFileBytes. The stamp is taken
// from the open file, so it describes what was read. On Unix the file is
// opened without blocking (openFlags): a FIFO at the path would otherwise
// block the open until something writes to it, with f.mu held; opened at
// once, it is refused as not a regular file.
func (f *File) readBytes() ([]byte, fileStamp, error) {
	fh, err := os.OpenFile(f.path, openFlags, 0)
	if err != nil {
		return nil, fileStamp{size: -1}, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fileStamp{size: -1}, err
	}
	stamp := fileStamp{size: fi.Size(), modTime: fi.ModTime(), file: fi}
	if !fi.Mode().IsRegular() {
		return nil, stamp, errors.New("not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileBytes+1))
	if err != nil {
		return nil, stamp, err
	}
	if len(data) > MaxFileBytes {
		return nil, stamp, fmt.Errorf("larger than %d bytes", MaxFileBytes)
	}
	stamp.hash = sha256.Sum256(data)
	return data, stamp, nil
}

func (f *File) logWarnings(warnings []string) {
	for _, w := range warnings {
		f.logger.Warn("building file", "path", f.path, "warning", w)
	}
}

var (
	reloadSuccessDesc = prometheus.NewDesc("teams_exporter_building_file_last_reload_success",
		"Whether the last read of the building file succeeded (1) or failed and the previous map is still in force (0).", nil, nil)
	networksDesc = prometheus.NewDesc("teams_exporter_building_file_networks",
		"Networks (rows) of the building file in force.", nil, nil)
	siteInfoDesc = prometheus.NewDesc("teams_site_info",
		"Buildings of the building file with the attributes of their first row, for group_left joins on site; always 1.",
		[]string{"site", "city", "country", "region", "inside_corp", "express_route", "vpn"}, nil)
)

// Describe implements prometheus.Collector.
func (f *File) Describe(ch chan<- *prometheus.Desc) {
	ch <- reloadSuccessDesc
	ch <- networksDesc
	ch <- siteInfoDesc
}

// Collect implements prometheus.Collector.
func (f *File) Collect(ch chan<- prometheus.Metric) {
	ok := 0.0
	if f.ok.Load() {
		ok = 1
	}
	m := f.current.Load()
	ch <- prometheus.MustNewConstMetric(reloadSuccessDesc, prometheus.GaugeValue, ok)
	ch <- prometheus.MustNewConstMetric(networksDesc, prometheus.GaugeValue, float64(m.Networks()))
	for _, s := range m.Sites() {
		ch <- prometheus.MustNewConstMetric(siteInfoDesc, prometheus.GaugeValue, 1,
			s.Name, s.City, s.Country, s.Region,
			strconv.FormatBool(s.InsideCorp), strconv.FormatBool(s.ExpressRoute), strconv.FormatBool(s.VPN))
	}
}
