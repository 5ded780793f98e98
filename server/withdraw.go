package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealine/sealine/store"
)

// lifecycle is the Server's personal-data lifecycle state.
type lifecycle struct {
	cfg         LifecycleConfig
	withdrawals prometheus.Counter
	purged      *prometheus.CounterVec
}

// startLifecycle applies the lifecycle defaults and registers its metrics
// (counts only: no label ever names a user).
func (s *Server) startLifecycle() {
	node := prometheus.Labels{"node": s.nodeID}
	s.lc = &lifecycle{
		cfg: s.cfg.Lifecycle.withDefaults(),
		withdrawals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealine_withdrawals_total", Help: "Accounts withdrawn (deleted by their owner).", ConstLabels: node,
		}),
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealine_purged_total", Help: "Rows deleted by the retention purge, by kind.", ConstLabels: node,
		}, []string{"kind"}),
	}
	s.metrics.reg.MustRegister(s.lc.withdrawals, s.lc.purged)
}

// withdraw deletes an account for good. The data key goes first: from
// then on every sealed field of the user, in this database and in every
// backup of it, is unreadable. Then the rows go in one transaction, then
// the blob bytes. Each step tolerates a previous, interrupted attempt, so
// a failed withdrawal can simply be repeated. It runs to its end even if
// the caller goes away.
func (s *Server) withdraw(ctx context.Context, u store.User) (store.WithdrawalResult, error) {
	ctx = context.WithoutCancel(ctx)
	blobs, err := s.store.BlobsOf(ctx, u.ID)
	if err != nil {
		return store.WithdrawalResult{}, fmt.Errorf("list blobs: %w", err)
	}
	leaves, err := s.store.LeavesOfUser(ctx, u.ID)
	if err != nil {
		return store.WithdrawalResult{}, fmt.Errorf("list leaves: %w", err)
	}
	if err := s.store.Keys().DeleteKey(ctx, u.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.WithdrawalResult{}, fmt.Errorf("destroy data key: %w", err)
	}
	res, err := s.store.DeleteUser(ctx, store.Withdrawal{UserID: u.ID, UsernameIndex: u.UsernameIndex, At: s.now()})
	if err != nil {
		return store.WithdrawalResult{}, fmt.Errorf("delete user: %w", err)
	}
	removals, removalFailures := s.removeDevices(ctx, leaves)
	failed := 0
	for _, id := range blobs {
		if err := s.msg.cfg.BlobStore.Delete(ctx, id); err != nil {
			failed++ // the retention purge does not see it again: logged for the operator
		}
	}
	s.cfg.Notifier.Notify(u.ID)
	s.lc.withdrawals.Inc()
	s.logger(ctx).Info("account withdrawn", "devices", res.Devices, "sessions", res.Sessions,
		"key_packages", res.KeyPackages, "queued", res.Queued, "blobs", res.Blobs,
		"blob_delete_failures", failed, "conversations_deleted", res.Conversations,
		"remove_proposals", removals, "remove_proposal_failures", removalFailures)
	return res, nil
}

// quarantined refuses a username withdrawn less than the quarantine ago,
// with the same error as a taken one.
func (s *Server) quarantined(ctx context.Context, index []byte) error {
	at, err := s.store.WithdrawnAt(ctx, index)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return s.errInternal(ctx, "lookup withdrawn username", err)
	}
	if s.now().Before(at.Add(s.lc.cfg.Retention.WithdrawnUsernames)) {
		return apiError(connect.CodeAlreadyExists, ReasonUsernameTaken, "username", time.Time{})
	}
	return nil
}
