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

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/teams-exporter/teams-exporter/collector"
)

// NewHandler returns a handler that serves reg's families, then the
// call-quality families of the snapshot current returns (the last one
// saved), in the format and compression the scraper negotiates:
// OpenMetrics, the text format or protobuf, identity or gzip.
//
// The snapshot's part is most of a scrape (at full cardinality about
// 83,000 samples, 11 MB of OpenMetrics text) and changes only when a save
// publishes a new snapshot. Encoding it with expfmt and gzipping it cost
// about 90 ms of CPU per scrape; so the snapshot keeps it encoded and
// deflated per format (collector.Snapshot.Encode), and every scrape splices
// that deflate segment between the freshly encoded registry part and the
// closing lines. Each segment ends at a byte boundary (a deflate sync
// flush) and references nothing before it, so the response is one ordinary
// gzip member that any gzip reader decodes.
func NewHandler(reg prometheus.Gatherer, current func() *collector.Snapshot, logger *slog.Logger) *Handler {
	return &Handler{reg: reg, current: current, logger: logger}
}

// Handler serves /metrics; see NewHandler.
type Handler struct {
	reg     prometheus.Gatherer
	current func() *collector.Snapshot
	logger  *slog.Logger
}

// gzipHeader is a gzip member header without name, time or extra fields.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

// ServeHTTP serves one scrape: the registry's families encoded now, then
// the current snapshot's as encoded for it.
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
	seg, err := h.current().Encode(format)
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
		_, _ = w.Write(seg.Plain)
		_, _ = w.Write(tail.Bytes())
		return
	}
	hdr.Set("Content-Encoding", "gzip")
	_ = writeGzip(w, head.Bytes(), seg, tail.Bytes()) // the client went away
}

// writeGzip writes head, the segment and tail as one gzip member.
func writeGzip(w http.ResponseWriter, head []byte, seg *collector.Encoding, tail []byte) error {
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
	if _, err := w.Write(seg.Deflated); err != nil {
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
	crc := crc32.Update(crc32.ChecksumIEEE(head), crc32.IEEETable, seg.Plain)
	crc = crc32.Update(crc, crc32.IEEETable, tail)
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], crc)
	binary.LittleEndian.PutUint32(trailer[4:], uint32(len(head)+len(seg.Plain)+len(tail))) // size mod 2^32, as RFC 1952 says
	_, err := w.Write(trailer[:])
	return err
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
