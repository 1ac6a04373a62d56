package exposition

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/teams-exporter/teams-exporter/collector"
)

// NewHandler returns a handler that serves reg's families, then the call-quality collector's
// (which must not be registered with reg), in the format and compression
// the scraper negotiates: OpenMetrics, the text format or protobuf,
// identity or gzip.
//
// The collector's part is most of a scrape (at full cardinality about
// 83,000 samples, 11 MB of OpenMetrics text) and changes only when a poll
// publishes new state. Encoding it with expfmt and gzipping it cost about
// 90 ms of CPU per scrape; so it is encoded and deflated once per change of
// the collector and format, and every scrape splices that deflate segment
// between the freshly encoded registry part and the closing lines. Each
// segment ends at a byte boundary (a deflate sync flush) and references
// nothing before it, so the response is one ordinary gzip member that any
// gzip reader decodes.
func NewHandler(reg prometheus.Gatherer, col *collector.Collector, logger *slog.Logger) *Handler {
	return &Handler{reg: reg, col: col, logger: logger}
}

// Handler serves /metrics; see NewHandler.
type Handler struct {
	reg    prometheus.Gatherer
	col    *collector.Collector
	logger *slog.Logger

	mu       sync.Mutex
	version  uint64
	segments map[expfmt.Format]*segment // of the collector at version
	// served is the collector version at which a scrape last asked for a
	// format: Prepare renders only what was asked for since the last
	// change, so a format asked for once is not rendered on every publish.
	served map[expfmt.Format]uint64
}

// maxCachedFormats bounds the rendered formats kept (each holds the
// exposition as text, about 11 MB at full cardinality): Prometheus asks for
// one; a scraper asking for many more gets them rendered for it alone.
const maxCachedFormats = 3

// segment is the collector's families in one format.
type segment struct {
	plain    []byte
	deflated []byte // plain, raw deflate, ending with a sync flush
}

// gzipHeader is a gzip member header without name, time or extra fields.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

// ServeHTTP serves one scrape: the registry's families encoded now, then
// the collector's as rendered for its current version.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultOpenMetricsAcceptedFormats()...)
	mfs, err := h.reg.Gather()
	if err != nil {
		h.logger.Error("gather metrics", "err", err)
		http.Error(w, "An error has occurred while gathering metrics:\n\n"+err.Error(), http.StatusInternalServerError)
		return
	}
	var head, tail bytes.Buffer
	if err := encodeFamilies(&head, format, mfs, false); err == nil {
		err = encodeFamilies(&tail, format, nil, true)
	}
	if err != nil {
		h.logger.Error("encode metrics", "err", err)
		http.Error(w, "An error has occurred while encoding metrics:\n\n"+err.Error(), http.StatusInternalServerError)
		return
	}
	seg, err := h.segment(format, true)
	if err != nil {
		h.logger.Error("encode call-quality metrics", "err", err)
		http.Error(w, "An error has occurred while encoding metrics:\n\n"+err.Error(), http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Add("Vary", "Accept")
	hdr.Add("Vary", "Accept-Encoding")
	hdr.Set("Content-Type", string(format))
	if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
		_, _ = w.Write(head.Bytes())
		_, _ = w.Write(seg.plain)
		_, _ = w.Write(tail.Bytes())
		return
	}
	hdr.Set("Content-Encoding", "gzip")
	_ = writeGzip(w, head.Bytes(), seg, tail.Bytes()) // the client went away
}

// writeGzip writes head, the segment and tail as one gzip member.
func writeGzip(w http.ResponseWriter, head []byte, seg *segment, tail []byte) error {
	if _, err := w.Write(gzipHeader); err != nil {
		return err
	}
	zw, _ := flate.NewWriter(w, flate.DefaultCompression) // a valid level never fails
	if _, err := zw.Write(head); err != nil {
		return err
	}
	if err := zw.Flush(); err != nil {
		return err
	}
	if _, err := w.Write(seg.deflated); err != nil {
		return err
	}
	zw.Reset(w) // no back-references into what came before
	if _, err := zw.Write(tail); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	// CRC-32 of the whole content: hashing 11 MB costs about a millisecond.
	crc := crc32.Update(crc32.ChecksumIEEE(head), crc32.IEEETable, seg.plain)
	crc = crc32.Update(crc, crc32.IEEETable, tail)
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], crc)
	binary.LittleEndian.PutUint32(trailer[4:], uint32(len(head)+len(seg.plain)+len(tail))) // size mod 2^32, as RFC 1952 says
	_, err := w.Write(trailer[:])
	return err
}

// Prepare renders the collector's new version in the formats scrapes asked
// for since the previous change, so that the first scrape after a poll
// publishes costs no more than the others. Call it after the collector
// changed, e.g. from the poller's Published hook.
func (h *Handler) Prepare() {
	h.mu.Lock()
	var formats []expfmt.Format
	for f, v := range h.served {
		if v == h.version {
			formats = append(formats, f)
		}
	}
	h.mu.Unlock()
	for _, f := range formats {
		if _, err := h.segment(f, false); err != nil {
			h.logger.Error("encode call-quality metrics", "format", string(f), "err", err)
		}
	}
}

// segment returns the collector's families encoded in format, building
// them if the collector changed. Concurrent scrapes wait for one build.
// scrape says whether a scrape (rather than Prepare) asks.
func (h *Handler) segment(format expfmt.Format, scrape bool) (*segment, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	mfs, version := h.col.GatherVersion()
	if version != h.version || h.segments == nil {
		for f, v := range h.served {
			if v != h.version {
				delete(h.served, f) // not asked for during the last version
			}
		}
		h.version, h.segments = version, map[expfmt.Format]*segment{}
	}
	if scrape {
		if h.served == nil {
			h.served = map[expfmt.Format]uint64{}
		}
		h.served[format] = version
	}
	if seg := h.segments[format]; seg != nil {
		return seg, nil
	}
	var plain, deflated bytes.Buffer
	if err := encodeFamilies(&plain, format, mfs, false); err != nil {
		return nil, err
	}
	zw, _ := flate.NewWriter(&deflated, flate.DefaultCompression)
	_, _ = zw.Write(plain.Bytes()) // bytes.Buffer never fails
	_ = zw.Flush()
	seg := &segment{plain: plain.Bytes(), deflated: deflated.Bytes()}
	if len(h.segments) < maxCachedFormats {
		h.segments[format] = seg
	}
	return seg, nil
}

// encodeFamilies encodes mfs in format; closing adds what ends an
// exposition (# EOF in OpenMetrics).
func encodeFamilies(buf *bytes.Buffer, format expfmt.Format, mfs []*dto.MetricFamily, closing bool) error {
	enc := expfmt.NewEncoder(buf, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	if c, ok := enc.(expfmt.Closer); ok && closing {
		return c.Close()
	}
	return nil
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip: gzip
// named with a q-value above zero, or, when gzip is not named, * with one
// (RFC 9110: * matches only codings not listed).
func acceptsGzip(header string) bool {
	gzipQ, starQ := -1.0, -1.0
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.TrimSpace(coding)
		switch {
		case strings.EqualFold(coding, "gzip"):
			gzipQ = qValue(params)
		case coding == "*":
			starQ = qValue(params)
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

// qValue is the q parameter of a coding's parameters, 1 when absent.
func qValue(params string) float64 {
	for p := range strings.SplitSeq(params, ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return f
			}
			return 0
		}
	}
	return 1
}
