package exposition

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/teams-exporter/teams-exporter/collector"
)

// Options configures the /metrics handler.
type Options struct {
	// Registry, if set, gets the handler's own metrics, as promhttp's
	// handler registers them: promhttp_metric_handler_requests_total,
	// promhttp_metric_handler_requests_in_flight and
	// promhttp_metric_handler_errors_total.
	Registry prometheus.Registerer
	// MaxRequestsInFlight bounds the scrapes served at once; one more is
	// answered 503 at once, as promhttp does. 0 means no limit.
	MaxRequestsInFlight int
	Logger              *slog.Logger
}

// NewHandler returns the /metrics handler: g's families (the registry of the
// exporter's own metrics) and the call-quality families of the snapshot
// current returns (the last one saved), merged in name order as one
// registry would serve them, in the format and compression the scraper
// negotiates: OpenMetrics, the text format or protobuf; identity, gzip or
// zstd. Like promhttp's handler it honours name[] query parameters (only
// the families named are served), limits concurrent scrapes and counts
// itself.
//
// The snapshot's part is most of a scrape (at full cardinality about
// 83,000 samples, 11 MB of OpenMetrics text) and changes only when a save
// publishes a new snapshot. Encoding it with expfmt and gzipping it cost
// about 90 ms of CPU per scrape; so the snapshot keeps each family encoded
// and deflated per format (collector.Snapshot.Encode), and a gzip scrape
// splices those deflate segments between the freshly deflated registry
// families. Each segment ends at a byte boundary (a deflate sync flush) and
// references nothing before it, so the response is one ordinary gzip
// member that any gzip reader decodes. zstd is compressed per scrape (at
// its fastest level): Prometheus asks for gzip, so it gets no cache.
func NewHandler(g prometheus.Gatherer, current func() *collector.Snapshot, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{
		gatherer: g,
		current:  current,
		logger:   opts.Logger,
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promhttp_metric_handler_errors_total",
			Help: "Total number of internal errors encountered by the promhttp metric handler.",
		}, []string{"cause"}),
	}
	if opts.MaxRequestsInFlight > 0 {
		h.inFlight = make(chan struct{}, opts.MaxRequestsInFlight)
	}
	if opts.Registry == nil {
		return h
	}
	h.errors.WithLabelValues("gathering")
	h.errors.WithLabelValues("encoding")
	opts.Registry.MustRegister(h.errors)
	return promhttp.InstrumentMetricHandler(opts.Registry, h)
}

type handler struct {
	gatherer prometheus.Gatherer
	current  func() *collector.Snapshot
	logger   *slog.Logger
	errors   *prometheus.CounterVec
	inFlight chan struct{} // nil: no limit
}

// ServeHTTP serves one scrape: the registry's families encoded now, the
// snapshot's as encoded for it, in name order.
//
// The in-flight limit covers the encoding only. The body is encoded into
// memory under it, then written outside it, with a write deadline of its
// own: a client that reads slowly, or not at all, holds its connection
// until that deadline, never a slot, so it cannot keep other scrapes out.
// Holding a body costs little: the snapshot's families are referenced, not
// copied (they are immutable), and only the registry's families and a zstd
// stream are encoded into new memory.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, ok := h.encode(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(body.size))
	// A deadline error means the writer has none to set (a test's
	// recorder); the server's own write timeout still applies.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(writeBudget(body.size)))
	_ = body.writeTo(w) // an error is the client's: it went away or stalled
}

// writeBudget is the time a client gets to read a body of size bytes: 10
// seconds, and 1 Mbit/s beyond.
func writeBudget(size int) time.Duration {
	const perSecond = 128 << 10
	return 10*time.Second + time.Duration(size)*time.Second/perSecond
}

// encode encodes a scrape under the in-flight limit and sets its headers;
// false when it has answered already (503, 500).
func (h *handler) encode(w http.ResponseWriter, r *http.Request) (*response, bool) {
	if h.inFlight != nil {
		select {
		case h.inFlight <- struct{}{}:
			defer func() { <-h.inFlight }()
		default:
			http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", cap(h.inFlight)), http.StatusServiceUnavailable)
			return nil, false
		}
	}
	mfs, err := h.gatherer.Gather()
	if err != nil {
		h.fail(w, "gathering", err)
		return nil, false
	}
	format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultOpenMetricsAcceptedFormats()...)
	snap, err := h.current().Encode(format)
	if err != nil {
		h.fail(w, "encoding", err)
		return nil, false
	}
	coding := negotiateEncoding(r.Header.Get("Accept-Encoding"))
	out := &response{}
	body := newBodyWriter(out, coding)
	err = writeMerged(body, format, mfs, snap.Families, nameFilter(r))
	if err == nil {
		err = body.close()
	}
	if err != nil {
		h.fail(w, "encoding", err)
		return nil, false
	}
	hdr := w.Header()
	hdr.Add("Vary", "Accept")
	hdr.Add("Vary", "Accept-Encoding")
	hdr.Set("Content-Type", string(format))
	if coding != "identity" {
		hdr.Set("Content-Encoding", coding)
	}
	return out, true
}

// response is a scrape's body in memory: parts encoded now, which it owns,
// and parts of the snapshot, shared.
type response struct {
	parts [][]byte
	owned bool // the last part is owned: appended to
	size  int
}

// Write copies p.
func (b *response) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.owned {
		last := &b.parts[len(b.parts)-1]
		*last = append(*last, p...)
	} else {
		b.parts = append(b.parts, append(make([]byte, 0, max(len(p), 4<<10)), p...))
		b.owned = true
	}
	b.size += len(p)
	return len(p), nil
}

// share appends p without copying it; p must never change.
func (b *response) share(p []byte) {
	if len(p) == 0 {
		return
	}
	b.parts = append(b.parts, p)
	b.owned = false
	b.size += len(p)
}

func (b *response) writeTo(w io.Writer) error {
	for _, p := range b.parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

func (h *handler) fail(w http.ResponseWriter, cause string, err error) {
	h.errors.WithLabelValues(cause).Inc()
	h.logger.Error(cause+" metrics", "err", err)
	http.Error(w, "An error has occurred while "+cause+" metrics:\n\n"+err.Error(), http.StatusInternalServerError)
}

// nameFilter is the set of name[] query parameters; nil serves everything.
func nameFilter(r *http.Request) map[string]bool {
	if r.URL == nil {
		return nil
	}
	names := r.URL.Query()["name[]"]
	if len(names) == 0 {
		return nil
	}
	filter := make(map[string]bool, len(names))
	for _, n := range names {
		filter[n] = true
	}
	return filter
}

// writeMerged writes the registry's families (encoded now) and the
// snapshot's (encoded before) in name order, then what closes the
// exposition. Both lists are sorted by name and share no name.
func writeMerged(body bodyWriter, format expfmt.Format, mfs []*dto.MetricFamily, cached []collector.EncodedFamily, filter map[string]bool) error {
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, format)
	keep := func(name string) bool { return filter == nil || filter[name] }
	i, j := 0, 0
	for i < len(mfs) || j < len(cached) {
		if j == len(cached) || i < len(mfs) && mfs[i].GetName() < cached[j].Name {
			mf := mfs[i]
			i++
			if !keep(mf.GetName()) {
				continue
			}
			buf.Reset()
			if err := enc.Encode(mf); err != nil {
				return err
			}
			if err := body.fresh(buf.Bytes()); err != nil {
				return err
			}
			continue
		}
		ef := &cached[j]
		j++
		if keep(ef.Name) {
			if err := body.cached(ef); err != nil {
				return err
			}
		}
	}
	buf.Reset()
	if c, ok := enc.(expfmt.Closer); ok {
		if err := c.Close(); err != nil {
			return err
		}
	}
	return body.fresh(buf.Bytes())
}

// bodyWriter writes the response body in one content coding: fresh bytes
// are encoded now, cached families are taken as the snapshot encoded them.
type bodyWriter interface {
	fresh(p []byte) error
	cached(ef *collector.EncodedFamily) error
	close() error
}

func newBodyWriter(w *response, coding string) bodyWriter {
	switch coding {
	case "gzip":
		return &gzipBody{w: w}
	case "zstd":
		return &zstdBody{w: w}
	}
	return identityBody{w}
}

type identityBody struct{ w *response }

func (b identityBody) fresh(p []byte) error {
	_, err := b.w.Write(p)
	return err
}
func (b identityBody) cached(ef *collector.EncodedFamily) error {
	b.w.share(ef.Plain)
	return nil
}
func (identityBody) close() error { return nil }

// gzipBody writes one gzip member (RFC 1952) by hand: a header, deflate
// segments, the CRC-32 and size of the content.
type gzipBody struct {
	w       *response
	zw      *flate.Writer // nil until the header is written
	crc     uint32
	size    uint32 // mod 2^32, as RFC 1952 says
	pending bool   // zw holds fresh bytes not flushed yet
}

// gzipHeader is a gzip member header without name, time or extra fields.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

func (b *gzipBody) start() error {
	if b.zw != nil {
		return nil
	}
	_, _ = b.w.Write(gzipHeader)
	b.zw, _ = flate.NewWriter(b.w, flate.DefaultCompression) // a valid level never fails
	return nil
}

func (b *gzipBody) fresh(p []byte) error {
	if err := b.start(); err != nil {
		return err
	}
	b.crc = crc32.Update(b.crc, crc32.IEEETable, p)
	b.size += uint32(len(p))
	b.pending = true
	_, err := b.zw.Write(p)
	return err
}

func (b *gzipBody) cached(ef *collector.EncodedFamily) error {
	if err := b.start(); err != nil {
		return err
	}
	if b.pending {
		// End the fresh bytes at a byte boundary before the segment.
		if err := b.zw.Flush(); err != nil {
			return err
		}
		b.pending = false
	}
	b.w.share(ef.Deflated)
	b.zw.Reset(b.w) // no back-references into what came before
	// Hashing 11 MB costs about a millisecond.
	b.crc = crc32.Update(b.crc, crc32.IEEETable, ef.Plain)
	b.size += uint32(len(ef.Plain))
	return nil
}

func (b *gzipBody) close() error {
	if err := b.start(); err != nil {
		return err
	}
	if err := b.zw.Close(); err != nil {
		return err
	}
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], b.crc)
	binary.LittleEndian.PutUint32(trailer[4:], b.size)
	_, err := b.w.Write(trailer[:])
	return err
}

// zstdBody compresses the whole body now, at zstd's fastest level.
type zstdBody struct {
	w  *response
	zw *zstd.Encoder
}

func (b *zstdBody) fresh(p []byte) error {
	if b.zw == nil {
		zw, err := zstd.NewWriter(b.w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return err
		}
		b.zw = zw
	}
	_, err := b.zw.Write(p)
	return err
}

func (b *zstdBody) cached(ef *collector.EncodedFamily) error { return b.fresh(ef.Plain) }

func (b *zstdBody) close() error {
	if err := b.fresh(nil); err != nil {
		return err
	}
	return b.zw.Close()
}

// negotiateEncoding picks the content coding of a response from an
// Accept-Encoding header: gzip (the cached path) when accepted at least as
// much as zstd, else zstd, else identity.
func negotiateEncoding(header string) string {
	gz, zs := codingQ(header, "gzip"), codingQ(header, "zstd")
	switch {
	case gz > 0 && gz >= zs:
		return "gzip"
	case zs > 0:
		return "zstd"
	}
	return "identity"
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(header string) bool { return codingQ(header, "gzip") > 0 }

// codingQ is the q-value an Accept-Encoding header gives a coding: its own,
// or, when it is not named, that of * (RFC 9110: * matches only codings not
// listed); 0 when neither is there.
func codingQ(header, coding string) float64 {
	q, starQ := -1.0, -1.0
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.TrimSpace(name)
		switch {
		case strings.EqualFold(name, coding):
			q = qValue(params)
		case name == "*":
			starQ = qValue(params)
		}
	}
	if q >= 0 {
		return q
	}
	return max(starQ, 0)
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
