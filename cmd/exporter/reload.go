package main

import (
	"context"
	"log/slog"
	"os"
	"sync"
)

// reloader runs what SIGHUP reloads. A part of the exporter that reads a
// file at start (the building file, say) registers a hook with add; each
// SIGHUP runs every hook in the order added. A hook that fails is logged
// and keeps what it had: a reload never stops the exporter, and SIGHUP,
// whose default action is to end the process, never skips the final save
// of the state.
type reloader struct {
	logger *slog.Logger

	mu    sync.Mutex
	hooks []reloadHook
}

type reloadHook struct {
	name string
	fn   func() error
}

func newReloader(logger *slog.Logger) *reloader { return &reloader{logger: logger} }

// add registers fn under name (for the log) to run on every reload.
func (r *reloader) add(name string, fn func() error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hooks = append(r.hooks, reloadHook{name: name, fn: fn})
}

// reload runs every hook and reports whether all succeeded.
func (r *reloader) reload() bool {
	r.mu.Lock()
	hooks := append([]reloadHook(nil), r.hooks...)
	r.mu.Unlock()
	r.logger.Info("reload requested", "parts", len(hooks))
	ok := true
	for _, h := range hooks {
		if err := h.fn(); err != nil {
			ok = false
			r.logger.Error("reload failed; keeping the previous one", "part", h.name, "err", err)
			continue
		}
		r.logger.Info("reloaded", "part", h.name)
	}
	return ok
}

// run reloads on every signal from sig until ctx ends.
func (r *reloader) run(ctx context.Context, sig <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			r.reload()
		}
	}
}
