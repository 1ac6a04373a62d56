package eventhub

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/notifications"
)

// joinOnFirst starts a second member of the consumer group while the
// first event of a batch is delivered, and waits until it has partitions
// (or for a while, if the consumer rightly blocks the rebalance until the
// batch is handled).
type joinOnFirst struct {
	r    *notifications.Receiver
	once sync.Once
	join func()
}

func (j *joinOnFirst) DeliverEvent(ctx context.Context, body []byte) (notifications.Result, error) {
	j.once.Do(j.join)
	return j.r.DeliverEvent(ctx, body)
}

// TestRebalanceWaitsForTheBatch: a partition taken away by a rebalance
// while a batch is handled must not be held again by the rest of the
// batch, or its offsets would be committed by a consumer that no longer
// owns it. The consumer lets the group rebalance between batches only.
func TestRebalanceWaitsForTheBatch(t *testing.T) {
	h := startHubWith(t, graphsim.EventHubBrokerOptions{Partitions: 2})
	producer, err := kgo.NewClient(kgo.SeedBrokers(h.hub.Addr()),
		kgo.DialTLSConfig(&tls.Config{RootCAs: h.srv.Sim.CertPool, MinVersion: tls.VersionTLS12}),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	for p := range int32(2) {
		for i := range 3 {
			id := fmt.Sprintf("2f1a2e2c-5a4c-4c55-9b59-7c2b0b2a0c%d%d", p, i)
			rec := &kgo.Record{Topic: testHub, Partition: p, Value: []byte(changeBody(testSecret, id))}
			if err := producer.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}

	var (
		mu     sync.Mutex
		second []int32 // the second member's partitions
	)
	secondHas := func() []int32 {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(second)
	}
	join := func() {
		member, err := kgo.NewClient(kgo.SeedBrokers(h.hub.Addr()),
			kgo.DialTLSConfig(&tls.Config{RootCAs: h.srv.Sim.CertPool, MinVersion: tls.VersionTLS12}),
			kgo.ConsumerGroup(DefaultConsumerGroup), kgo.ConsumeTopics(testHub), kgo.DisableAutoCommit(),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
				mu.Lock()
				second = append(second, m[testHub]...)
				mu.Unlock()
			}))
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(member.Close)
		go func() {
			for ctx := context.Background(); ; {
				if f := member.PollRecords(ctx, 1); f.IsClientClosed() {
					return
				}
			}
		}()
		for deadline := time.Now().Add(8 * time.Second); time.Now().Before(deadline) && len(secondHas()) == 0; {
			time.Sleep(50 * time.Millisecond)
		}
	}

	reg := prometheus.NewRegistry()
	r, err := notifications.NewReceiver(notifications.Config{ClientState: testSecret, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Hub: h.hub, Credential: h.srv.Credential,
		TLS:      &tls.Config{RootCAs: h.srv.Sim.CertPool, MinVersion: tls.VersionTLS12},
		Receiver: &joinOnFirst{r: r, join: join}, Ledger: newMemLedger(), Tick: 100 * time.Millisecond, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitFor(t, "the second member given a partition", func() bool { return len(secondHas()) > 0 })
	// A tick begun since: the batch during which the group moved the
	// partition is handled.
	waitTick(t, c, 2)
	taken := secondHas()
	c.mu.Lock()
	defer c.mu.Unlock()
	for n := range c.parts {
		if slices.Contains(taken, n) {
			t.Errorf("partition %d is held by the consumer after the group gave it to another member (%d events held)", n, len(c.parts[n].held))
		}
	}
}
