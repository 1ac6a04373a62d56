package ledger

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/teams-exporter/teams-exporter/collector"
)

// stateFile is the state file of formats 1 and 2, which earlier releases
// rewrote whole at every save: it is read at the first start and replaced
// by a checkpoint (store.go) at the first save. Ids are packed (16-byte
// UUID, start, version: 24 bytes, base64). Format 1 kept the call records'
// ids in uuids and otherIds.
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

func unpackIDs(packed string, others []otherID) (*idSet, error) {
	buf, err := base64.StdEncoding.DecodeString(packed)
	if err != nil {
		return nil, fmt.Errorf("ids: %w", err)
	}
	if len(buf)%packedIDSize != 0 {
		return nil, fmt.Errorf("ids: %d bytes is not a whole number of entries", len(buf))
	}
	if n := len(buf)/packedIDSize + len(others); n > maxIDsPerKind {
		return nil, fmt.Errorf("ids: %d, more than %d", n, maxIDsPerKind)
	}
	s := newIDSetSized(len(buf) / packedIDSize)
	for ; len(buf) > 0; buf = buf[packedIDSize:] {
		var u [16]byte
		copy(u[:], buf)
		e := idEntry{start: binary.LittleEndian.Uint32(buf[16:]), version: binary.LittleEndian.Uint32(buf[20:])}
		if !s.putNew(&u, "", e) {
			return nil, errors.New("ids: an id twice")
		}
	}
	for _, o := range others {
		if o.ID == "" || len(o.ID) > maxOtherIDBytes || !s.putNew(nil, o.ID, idEntry{start: o.Start, version: o.Version}) {
			return nil, errors.New("ids: an id twice, empty or too long")
		}
	}
	return s, nil
}

// tempPrefix starts the names of writeCheckpoint's temporary files beside
// path.
func tempPrefix(path string) string { return filepath.Base(path) + ".tmp-" }

// removeTempFiles deletes the temporary files that writes interrupted by a
// crash (kill -9, power loss) left beside path: the deferred removal in
// writeCheckpoint never ran for them, and each is as large as the state.
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

// errCorruptState marks a state file that was read but cannot be used: it
// is set aside, and the exporter starts fresh.
var errCorruptState = errors.New("state file is corrupt")

// setAside renames a state file that cannot be used, so an operator can look
// at it, and returns the new name.
func setAside(path string, now time.Time) (string, error) {
	aside := fmt.Sprintf("%s.corrupt-%s", path, now.UTC().Format("20060102T150405Z"))
	return aside, os.Rename(path, aside)
}
