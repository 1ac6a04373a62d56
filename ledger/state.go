package ledger

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/teams-exporter/teams-exporter/collector"
)

// stateFormat is bumped whenever the file's meaning changes. Format 1 kept
// the call records' ids in uuids and otherIds; it is read, and written back
// as format 2.
const stateFormat = 2

// stateFile is the on-disk form of everything that must survive a restart.
// Ids are packed (16-byte UUID, start, version: 24 bytes, base64) because a
// busy tenant keeps hundreds of thousands of them inside the look-back.
type stateFile struct {
	Format  int       `json:"format"`
	SavedAt time.Time `json:"savedAt"`
	Position
	IDs    map[Kind]packedIDs  `json:"ids"`
	Series *collector.Snapshot `json:"series"`

	// Format 1's call record ids.
	UUIDs    string    `json:"uuids,omitempty"`
	OtherIDs []otherID `json:"otherIds,omitempty"`
}

// packedIDs is one kind's id set.
type packedIDs struct {
	UUIDs string    `json:"uuids"`
	Other []otherID `json:"other,omitempty"`
}

type otherID struct {
	ID      string `json:"id"`
	Start   uint32 `json:"start"`
	Version uint32 `json:"version"`
}

const packedIDSize = 24

func packIDs(s *idSet) (string, []otherID) {
	buf := make([]byte, 0, len(s.uuids)*packedIDSize)
	for u, e := range s.uuids {
		buf = append(buf, u[:]...)
		buf = binary.LittleEndian.AppendUint32(buf, e.start)
		buf = binary.LittleEndian.AppendUint32(buf, e.version)
	}
	others := make([]otherID, 0, len(s.other))
	for id, e := range s.other {
		others = append(others, otherID{ID: id, Start: e.start, Version: e.version})
	}
	return base64.StdEncoding.EncodeToString(buf), others
}

func unpackIDs(packed string, others []otherID) (*idSet, error) {
	buf, err := base64.StdEncoding.DecodeString(packed)
	if err != nil {
		return nil, fmt.Errorf("ids: %w", err)
	}
	if len(buf)%packedIDSize != 0 {
		return nil, fmt.Errorf("ids: %d bytes is not a whole number of entries", len(buf))
	}
	s := newIDSet()
	for ; len(buf) > 0; buf = buf[packedIDSize:] {
		var u [16]byte
		copy(u[:], buf)
		s.uuids[u] = idEntry{
			start:   binary.LittleEndian.Uint32(buf[16:]),
			version: binary.LittleEndian.Uint32(buf[20:]),
		}
	}
	for _, o := range others {
		s.other[o.ID] = idEntry{start: o.Start, version: o.Version}
	}
	return s, nil
}

// writeFileAtomic replaces path with data so that a crash at any moment
// leaves either the old file or the new one, never a mix: write a temporary
// file beside it, sync it, rename it over, sync the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tempPrefix(path)+"*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir) // #nosec G304 -- the state file's directory, from the operator's configuration
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// tempPrefix starts the names of writeFileAtomic's temporary files beside
// path.
func tempPrefix(path string) string { return filepath.Base(path) + ".tmp-" }

// removeTempFiles deletes the temporary files that writes interrupted by a
// crash (kill -9, power loss) left beside path: the deferred removal in
// writeFileAtomic never ran for them, and each is as large as the state.
// Only one exporter writes a state file, so at start none is in use.
func removeTempFiles(path string) (int, error) {
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return 0, fmt.Errorf("list temporary state files: %w", err)
	}
	removed := 0
	for _, e := range entries {
		if e.IsDir() || !strings.HasPrefix(e.Name(), tempPrefix(path)) {
			continue
		}
		switch err := os.Remove(filepath.Join(filepath.Dir(path), e.Name())); {
		case err == nil:
			removed++
		case !errors.Is(err, os.ErrNotExist):
			return removed, fmt.Errorf("remove temporary state file: %w", err)
		}
	}
	return removed, nil
}

// readState loads path. A missing file is (nil, nil): a first start. Only a
// file that was read and could not be decoded is errCorruptState; any other
// error means it could not be read at all.
func readState(path string) (*stateFile, error) {
	// A FIFO or a device would block the read or never end it.
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	switch {
	case fi.IsDir():
		return nil, errors.New("it is a directory")
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("it is not a regular file (mode %s)", fi.Mode())
	}
	data, err := os.ReadFile(path) // #nosec G304 -- the state file, from the operator's configuration
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%w: %w", errCorruptState, err)
	}
	switch st.Format {
	case 1:
		st.IDs = map[Kind]packedIDs{CallRecords: {UUIDs: st.UUIDs, Other: st.OtherIDs}}
		st.UUIDs, st.OtherIDs = "", nil
	case stateFormat:
	default:
		return nil, fmt.Errorf("%w: format %d, this version reads 1 and %d", errCorruptState, st.Format, stateFormat)
	}
	return &st, nil
}

// errCorruptState marks a state file that was read but cannot be used: it
// is set aside, and the exporter starts fresh.
var errCorruptState = errors.New("state file is corrupt")

// setAside renames a state file that cannot be used, so an operator can look
// at it, and returns the new name.
func setAside(path string, now time.Time) (string, error) {
	aside := fmt.Sprintf("%s.corrupt-%s", path, now.UTC().Format("20060102T150405Z"))
	return aside, os.Rename(path, aside)
}
