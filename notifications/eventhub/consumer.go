package eventhub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/teams-exporter/teams-exporter/notifications"
)

// Receiver takes an event's body; *notifications.Receiver implements it.
type Receiver interface {
	// DeliverEvent checks and queues a body and returns what it made of
	// it, with the record ids it queued; an error means the body was not read whole (too many bodies
	// being read at once, or ctx ended) and must be delivered again.
	DeliverEvent(ctx context.Context, body []byte) (notifications.Result, error)
}

// Ledger tells when a notified record is safe; cmd/exporter adapts
// *ledger.Ledger to it.
type Ledger interface {
	// Ingested reports whether the call record is ingested (in memory).
	Ingested(id string) bool
	// SaveMark and SavedSince: see ledger.Ledger.SaveMark.
	SaveMark() uint64
	SavedSince(mark uint64) bool
}

// ConnectionStringUser is the SASL PLAIN user name with which Event Hubs'
// Kafka endpoint takes a connection string as the password.
const ConnectionStringUser = "$ConnectionString"

// DefaultConsumerGroup is the consumer group every hub has.
const DefaultConsumerGroup = "$Default"

// Bounds of what is read from the hub. An event is at most 1 MiB on Event
// Hubs Standard and Premium, as a webhook body is here; a fetch holds a
// few of them, and one fetch is buffered at a time. A larger event (20 MiB
// on Dedicated) is still returned alone, whatever the fetch's limit, so
// that the partition moves on: the broker's answer may be that large, and
// the receiver rejects the event.
const (
	maxEventBytes   = notifications.MaxBodyBytes
	fetchMaxBytes   = 4 << 20
	partitionBytes  = maxEventBytes + 64<<10 // a batch's framing beside one event
	brokerReadBytes = 32 << 20
	// maxPartitions bounds the partition label: Event Hubs allows up to
	// 32 partitions on Standard, 100 on Premium and 1,024 on Dedicated.
	maxPartitions = 1024
	// DefaultMaxHeldIDs bounds the ids of events read but not committed:
	// reading pauses beyond it until ingestion catches up (the hub keeps
	// the rest), so a burst cannot grow memory.
	DefaultMaxHeldIDs = 200_000
	// DefaultMaxHeldEvents bounds the events read but not committed, ids
	// or none (an event whose ids are ingested waits for a save): reading
	// pauses beyond it too.
	DefaultMaxHeldEvents = 100_000
)

// Config configures a Consumer.
type Config struct {
	Hub           notifications.EventHub
	ConsumerGroup string // default DefaultConsumerGroup
	// ConnectionString, if set, authenticates with SASL PLAIN (a hub or
	// namespace connection string with Listen rights); otherwise
	// Credential gets Entra tokens for SASL OAUTHBEARER (the identity
	// needs "Azure Event Hubs Data Receiver"). Never logged.
	ConnectionString string
	Credential       azcore.TokenCredential
	// TLS is the client's TLS configuration; nil: the system's roots
	// (SSL_CERT_FILE), TLS 1.2 at least.
	TLS *tls.Config

	Receiver Receiver
	Ledger   Ledger
	// Hold is how long an event whose records are not ingested holds its
	// partition's committed offset: the settle delay and a few polls.
	Hold          time.Duration
	MaxHeldIDs    int // default DefaultMaxHeldIDs
	MaxHeldEvents int // default DefaultMaxHeldEvents
	// Tick is how often offsets are committed and the lag measured;
	// default 5s.
	Tick       time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Consumer reads the hub until its context ends.
type Consumer struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics

	mu    sync.Mutex
	parts map[int32]*partition // assigned partitions

	lastRead, lastFailure atomic.Int64 // unix nanoseconds
	lastWarn              atomic.Int64

	lastEventMu      sync.Mutex
	lastEventSeconds float64
}

// partition is what is known of one assigned partition.
type partition struct {
	held      []heldEvent // read, not committed, in offset order
	next      int64       // offset after the last event read; -1: none read
	commit    kgo.EpochOffset
	committed int64 // the offset last committed; -1: unknown
}

// heldEvent is an event read whose offset is not committed yet, with the
// safe events read after it, if any: offset and epoch are those of the
// last of them.
type heldEvent struct {
	offset int64
	epoch  int32
	ids    []string // notified records not ingested yet
	at     time.Time
	// waiting: ids are not all ingested yet. needsSave: they are (or were
	// given up), and the event is safe once a save begun after mark has
	// succeeded.
	waiting, needsSave bool
	mark               uint64
}

// New validates cfg and returns a Consumer.
func New(cfg Config) (*Consumer, error) {
	if cfg.Receiver == nil || cfg.Ledger == nil {
		return nil, errors.New("event hub consumer: no receiver or ledger")
	}
	if cfg.ConnectionString == "" && cfg.Credential == nil {
		return nil, errors.New("event hub consumer: neither a connection string nor a credential")
	}
	if cfg.ConsumerGroup == "" {
		cfg.ConsumerGroup = DefaultConsumerGroup
	}
	if cfg.Hold <= 0 {
		cfg.Hold = time.Hour
	}
	if cfg.MaxHeldIDs <= 0 {
		cfg.MaxHeldIDs = DefaultMaxHeldIDs
	}
	if cfg.MaxHeldEvents <= 0 {
		cfg.MaxHeldEvents = DefaultMaxHeldEvents
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Consumer{cfg: cfg, log: cfg.Logger, now: cfg.Now, parts: map[int32]*partition{}}
	c.metrics = newMetrics(cfg.Registerer, c.connected, c.heldEvents)
	return c, nil
}

// Run reads the hub until ctx ends, then commits what is safe and leaves
// the consumer group. It returns an error only for a client that cannot
// be built; a hub that cannot be reached is retried, with the connected
// gauge at 0.
func (c *Consumer) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(c.clientOpts()...)
	if err != nil {
		return fmt.Errorf("event hub client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	c.log.Info("reading change notifications from the event hub", "hub", c.cfg.Hub.String(), "consumer_group", c.cfg.ConsumerGroup,
		"auth", c.authKind())
	if c.cfg.ConsumerGroup == DefaultConsumerGroup {
		// Readers in one group share the partitions: another reader of
		// the hub in $Default would take events the exporter never sees.
		c.log.Warn("reading the event hub in its default consumer group; on a hub with other readers, give the exporter a consumer group of its own",
			"consumer_group", c.cfg.ConsumerGroup, "setting", "TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB_CONSUMER_GROUP")
	}
	lastTick := time.Time{}
	for ctx.Err() == nil {
		if ids, events := c.held(); ids < c.cfg.MaxHeldIDs && events < c.cfg.MaxHeldEvents {
			c.poll(ctx, cl)
		} else {
			c.warn("reading the event hub paused: too many notified records wait for ingestion or a save", "held_ids", ids, "held_events", events)
			sleep(ctx, c.cfg.Tick)
		}
		if now := c.now(); now.Sub(lastTick) >= c.cfg.Tick {
			lastTick = now
			c.commitSafe(ctx, cl)
			c.measureLag(ctx, adm)
		}
		// The batch is handled and what is safe committed: the group may
		// now move partitions (see BlockRebalanceOnPoll in clientOpts).
		cl.AllowRebalance()
	}
	// What is safe now is committed before leaving: the next start reads
	// from there.
	done, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.commitSafe(done, cl)
	cl.AllowRebalance()
	return nil
}

func (c *Consumer) authKind() string {
	if c.cfg.ConnectionString != "" {
		return "connection string (SASL PLAIN)"
	}
	return "Entra token (SASL OAUTHBEARER)"
}

func (c *Consumer) clientOpts() []kgo.Opt {
	tlsCfg := c.cfg.TLS
	if tlsCfg == nil {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tlsCfg = tlsCfg.Clone()
	if tlsCfg.ServerName == "" {
		tlsCfg.ServerName = c.cfg.Hub.Host
	}
	return []kgo.Opt{
		kgo.SeedBrokers(c.cfg.Hub.Addr()),
		kgo.ClientID("teams-exporter"),
		kgo.DialTLSConfig(tlsCfg),
		kgo.SASL(c.mechanism()),
		kgo.ConsumerGroup(c.cfg.ConsumerGroup),
		kgo.ConsumeTopics(c.cfg.Hub.Name),
		// Offsets are committed by commitSafe only, once events are safe.
		kgo.DisableAutoCommit(),
		// With no committed offset (the first start), every event the hub
		// retains is read: none is skipped, and those already ingested
		// change nothing.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(fetchMaxBytes),
		kgo.FetchMaxPartitionBytes(partitionBytes),
		kgo.BrokerMaxReadBytes(brokerReadBytes),
		kgo.MaxConcurrentFetches(1),
		// Event Hubs' recommended Kafka settings: it closes connections
		// idle for 240 s and caps sessions at 30 s.
		kgo.SessionTimeout(30 * time.Second),
		kgo.ConnIdleTimeout(180 * time.Second),
		kgo.MetadataMaxAge(180 * time.Second),
		// A rebalance waits until the events polled are handled (and what
		// is safe committed): a partition revoked in the middle of a batch
		// would otherwise be held again by the rest of the batch, and its
		// offsets committed by a consumer that no longer owns it. Batches
		// are short (1,000 events at most, delivered at memory speed),
		// far within the rebalance timeout.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(c.assigned),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.lost),
		kgo.WithHooks(hooks{c}),
	}
}

// mechanism is SASL PLAIN with the connection string, or OAUTHBEARER with
// a token for the namespace (Event Hubs accepts its own host's audience).
func (c *Consumer) mechanism() sasl.Mechanism {
	if cs := c.cfg.ConnectionString; cs != "" {
		return plain.Auth{User: ConnectionStringUser, Pass: cs}.AsMechanism()
	}
	scope := "https://" + c.cfg.Hub.Host + "/.default"
	cred := c.cfg.Credential
	return oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
		tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
		if err != nil {
			return oauth.Auth{}, fmt.Errorf("token for the event hub: %w", err)
		}
		return oauth.Auth{Token: tok.Token}, nil
	})
}

// poll reads what the hub has, for at most a tick, and hands each event to
// the receiver.
func (c *Consumer) poll(ctx context.Context, cl *kgo.Client) {
	pctx, cancel := context.WithTimeout(ctx, c.cfg.Tick)
	defer cancel()
	fetches := cl.PollRecords(pctx, 1000)
	if fetches.NumRecords() > 0 {
		// Events of the hub: it answers (any broker's answer would not
		// do, as a namespace answers for a hub it does not have).
		c.lastRead.Store(c.now().UnixNano())
	}
	fetches.EachError(func(topic string, p int32, err error) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
			return
		}
		c.lastFailure.Store(c.now().UnixNano())
		c.warn("reading the event hub failed; retrying", "partition", p, "err", err)
	})
	for _, rec := range fetches.Records() {
		if !c.handle(ctx, rec) {
			// Shutting down: this event and the rest are neither held nor
			// committed, and are read again at the next start.
			return
		}
	}
}

// handle delivers one event and holds its offset until what it carried is
// safe; false if ctx ended first.
func (c *Consumer) handle(ctx context.Context, rec *kgo.Record) bool {
	var res notifications.Result
	for {
		var err error
		if res, err = c.cfg.Receiver.DeliverEvent(ctx, rec.Value); err == nil {
			break
		}
		// The receiver reads a few bodies at once, webhook or hub; this
		// one waits for its turn (sleep returns at once when ctx ends).
		sleep(ctx, 50*time.Millisecond)
		if ctx.Err() != nil {
			// Stopping: an event not delivered whole is not held, so its
			// offset is never committed and the next start reads it.
			return false
		}
	}
	c.metrics.events.Inc()
	ids := res.IDs
	if res.Accepted+res.Lifecycle > 0 && !rec.Timestamp.IsZero() {
		// Only an event from Graph, and never back in time: a forged
		// event's timestamp, or a partition behind the others, would
		// otherwise move it.
		c.noteEventTime(rec.Timestamp)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.partition(rec.Partition)
	p.next = rec.Offset + 1
	// An event with nothing to ingest (rejected, a lifecycle event, the
	// validation message, a deleted record) is safe at once. A lifecycle
	// event's effect is redone by a restart anyway: the subscription is
	// checked and the look-back listed at start. It joins the event held
	// before it, whose offset it carries on: committing past that one
	// commits past it too. So forged or foreign events, which a sender
	// can push without end, never add to what is held: held events are
	// at most one more than those that carry ids.
	if len(ids) == 0 && len(p.held) > 0 {
		last := &p.held[len(p.held)-1]
		last.offset, last.epoch = rec.Offset, rec.LeaderEpoch
		return true
	}
	p.held = append(p.held, heldEvent{offset: rec.Offset, epoch: rec.LeaderEpoch, ids: ids, at: c.now(), waiting: len(ids) > 0})
	return true
}

// noteEventTime raises the last event's timestamp to t, if later.
func (c *Consumer) noteEventTime(t time.Time) {
	c.lastEventMu.Lock()
	defer c.lastEventMu.Unlock()
	if s := float64(t.UnixNano()) / 1e9; s > c.lastEventSeconds {
		c.lastEventSeconds = s
		c.metrics.lastEvent.Set(s)
	}
}

// partition returns p's state, made on first use; c.mu held.
func (c *Consumer) partition(n int32) *partition {
	p, ok := c.parts[n]
	if !ok {
		p = &partition{next: -1, committed: -1, commit: kgo.EpochOffset{Epoch: -1, Offset: -1}}
		c.parts[n] = p
	}
	return p
}

// commitSafe commits, per partition, the offset after the last event
// such that it and every event before it are safe.
func (c *Consumer) commitSafe(ctx context.Context, cl *kgo.Client) {
	offsets := c.safeOffsets()
	if len(offsets) == 0 {
		return
	}
	var failed error
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{c.cfg.Hub.Name: offsets}, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			failed = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 && failed == nil {
					failed = fmt.Errorf("partition %d: error code %d", p.Partition, p.ErrorCode)
				}
			}
		}
	})
	if failed != nil {
		c.metrics.commits.WithLabelValues("error").Inc()
		c.warn("committing event hub offsets failed; retrying at the next tick (events after the last commit are read again after a restart, which changes no count)", "err", failed)
		return
	}
	c.metrics.commits.WithLabelValues("success").Inc()
	c.mu.Lock()
	for n, o := range offsets {
		if p, ok := c.parts[n]; ok && o.Offset > p.committed {
			p.committed = o.Offset
		}
	}
	c.mu.Unlock()
}

// safeOffsets releases the safe events at the head of every partition and
// returns the offsets to commit.
func (c *Consumer) safeOffsets() map[int32]kgo.EpochOffset {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int32]kgo.EpochOffset{}
	for n, p := range c.parts {
		c.release(p, now)
		if p.commit.Offset > p.committed {
			out[n] = p.commit
		}
	}
	return out
}

// release pops the safe events at the head of p; c.mu held.
func (c *Consumer) release(p *partition, now time.Time) {
	l := c.cfg.Ledger
	for len(p.held) > 0 {
		ev := &p.held[0]
		if ev.waiting {
			ev.ids = slices.DeleteFunc(ev.ids, l.Ingested)
			if len(ev.ids) > 0 && now.Sub(ev.at) < c.cfg.Hold {
				return
			}
			if len(ev.ids) > 0 {
				c.metrics.released.Add(float64(len(ev.ids)))
				c.log.Debug("notified records not ingested within the hold time; left to the listing", "records", len(ev.ids), "hold", c.cfg.Hold)
			}
			// Ingested in memory now: on disk once a save begun after
			// this mark has succeeded.
			ev.ids, ev.waiting, ev.needsSave, ev.mark = nil, false, true, l.SaveMark()
		}
		if ev.needsSave && !l.SavedSince(ev.mark) {
			return
		}
		p.commit = kgo.EpochOffset{Epoch: ev.epoch, Offset: ev.offset + 1}
		p.held[0] = heldEvent{}
		p.held = p.held[1:]
	}
	p.held = nil // let the backing array go
}

// held returns the ids and the events held, over all partitions.
func (c *Consumer) held() (ids, events int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.parts {
		events += len(p.held)
		for i := range p.held {
			ids += len(p.held[i].ids)
		}
	}
	return ids, events
}

func (c *Consumer) heldEvents() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, p := range c.parts {
		n += len(p.held)
	}
	return float64(n)
}

// measureLag sets the lag of every partition of the hub: events enqueued
// after the consumer's position (what it read, or else what the group
// committed).
func (c *Consumer) measureLag(ctx context.Context, adm *kadm.Client) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Tick)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, c.cfg.Hub.Name)
	if err == nil {
		err = ends.Error()
	}
	if err == nil && !hasPartitions(ends, c.cfg.Hub.Name) {
		err = fmt.Errorf("event hub %q not found in the namespace", c.cfg.Hub.Name)
	}
	if err != nil {
		if ctx.Err() == nil {
			c.lastFailure.Store(c.now().UnixNano())
			c.warn("measuring the event hub's lag failed", "err", err)
		}
		return
	}
	// The hub's own partitions answered: it is there and readable.
	c.lastRead.Store(c.now().UnixNano())
	committed, err := adm.FetchOffsetsForTopics(ctx, c.cfg.ConsumerGroup, c.cfg.Hub.Name)
	if err != nil {
		if ctx.Err() == nil {
			c.warn("reading the consumer group's offsets failed", "err", err)
		}
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ends.Each(func(o kadm.ListedOffset) {
		if o.Partition < 0 || o.Partition >= maxPartitions {
			return
		}
		pos := int64(0)
		if r, ok := committed.Lookup(o.Topic, o.Partition); ok && r.Err == nil && r.At > 0 {
			pos = r.At
		}
		if p, ok := c.parts[o.Partition]; ok && p.next > pos {
			pos = p.next
		}
		c.metrics.lag.WithLabelValues(strconv.Itoa(int(o.Partition))).Set(float64(max(o.Offset-pos, 0)))
	})
}

// hasPartitions reports whether ends lists at least one partition of hub.
// A hub the namespace does not have is missing, or listed as partition -1
// with an error.
func hasPartitions(ends kadm.ListedOffsets, hub string) bool {
	for p, o := range ends[hub] {
		if p >= 0 && o.Err == nil {
			return true
		}
	}
	return false
}

// assigned, revoked and lost track the partitions the group gives this
// consumer. A partition taken away first commits what is safe; what is
// held is read again by whoever gets it, which changes no count.
func (c *Consumer) assigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	c.log.Info("event hub partitions assigned", "partitions", len(assigned[c.cfg.Hub.Name]))
}

func (c *Consumer) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	c.commitSafe(ctx, cl)
	c.forget(revoked[c.cfg.Hub.Name])
}

func (c *Consumer) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	c.forget(lost[c.cfg.Hub.Name])
}

func (c *Consumer) forget(parts []int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range parts {
		delete(c.parts, n)
	}
}

// Connected reports whether the hub answers the consumer (see connected).
func (c *Consumer) Connected() bool { return c.connected() == 1 }

// connected reports whether the hub answered lately: events fetched, or
// the end offsets of at least one of its partitions listed, in the last
// 30 seconds (the lag is measured every tick), with no failure since. A
// broker's other answers do not count: a namespace answers for a hub name
// it does not have.
func (c *Consumer) connected() float64 {
	read, failed := c.lastRead.Load(), c.lastFailure.Load()
	if read == 0 || read < failed || c.now().UnixNano()-read > int64(30*time.Second) {
		return 0
	}
	return 1
}

// warn logs at warn level at most once every 10 seconds, debug otherwise.
func (c *Consumer) warn(msg string, args ...any) {
	now := c.now().UnixNano()
	last := c.lastWarn.Load()
	if now-last >= int64(10*time.Second) && c.lastWarn.CompareAndSwap(last, now) {
		c.log.Warn(msg, args...)
		return
	}
	c.log.Debug(msg, args...)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
