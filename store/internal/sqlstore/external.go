package sqlstore

import (
	"context"
	"fmt"

	"github.com/sealine/sealine/store"
)

// SetLeaves records member leaf indexes (see store.ExternalSenders).
func (s *Store) SetLeaves(ctx context.Context, conversationID string, leaves []store.DeviceLeaf) error {
	if len(leaves) == 0 {
		return nil
	}
	err := s.tx(ctx, func(q Querier) error {
		for _, l := range leaves {
			_, err := q.Exec(ctx, `UPDATE conversation_members SET leaf_index = $3
				WHERE conversation_id = $1 AND device_id = $2`, conversationID, l.DeviceID, int64(l.Leaf))
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set leaves: %w", err)
	}
	return nil
}

// LeavesOfUser lists the user's known member leaves.
func (s *Store) LeavesOfUser(ctx context.Context, userID string) ([]store.DeviceLeaf, error) {
	q, err := s.reader()
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT conversation_id, device_id, leaf_index FROM conversation_members
		WHERE device_id IN `+userDevices+` AND leaf_index IS NOT NULL
		ORDER BY conversation_id, device_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("leaves of user: %w", err)
	}
	out, err := collect(rows, scanDeviceLeaf)
	if err != nil {
		return nil, fmt.Errorf("leaves of user: %w", err)
	}
	return out, nil
}

func scanDeviceLeaf(r Row) (store.DeviceLeaf, error) {
	var l store.DeviceLeaf
	var leaf int64
	err := r.Scan(&l.ConversationID, &l.DeviceID, &leaf)
	l.Leaf = uint32(leaf)
	return l, err
}

// PostExternal queues a server proposal for every member, in one
// transaction, if the conversation is still at p.Epoch.
func (s *Store) PostExternal(ctx context.Context, p store.ExternalPost) (store.PostResult, error) {
	var res store.PostResult
	err := s.tx(ctx, func(q Querier) error {
		if err := s.checkExternalEpoch(ctx, q, p); err != nil {
			return err
		}
		post := store.Post{ConversationID: p.ConversationID, Epoch: p.Epoch, At: p.At}
		if _, err := insertMessage(ctx, q, post, p.ID, p.Payload, store.EnvelopeProposal); err != nil {
			return err
		}
		to, _, err := s.fanOut(ctx, q, p.ID, p.MaxQueue, membersExcept, p.ConversationID, "")
		res = store.PostResult{Epoch: p.Epoch, Recipients: to}
		return err
	})
	if err != nil {
		return store.PostResult{}, fmt.Errorf("post external: %w", err)
	}
	return res, nil
}

// checkExternalEpoch reads the conversation (under a share lock on
// PostgreSQL, as posts do) and checks its group and epoch.
func (s *Store) checkExternalEpoch(ctx context.Context, q Querier, p store.ExternalPost) error {
	lock := ""
	if s.postgres() {
		lock = " FOR SHARE"
	}
	var epoch int64
	var groupID []byte
	err := q.QueryRow(ctx, `SELECT epoch, group_id FROM conversations WHERE id = $1`+lock, p.ConversationID).Scan(&epoch, &groupID)
	switch {
	case err != nil:
		return err
	case string(groupID) != string(p.GroupID):
		return store.ErrGroupMismatch
	case uint64(epoch) != p.Epoch:
		return store.ErrStaleEpoch
	}
	return nil
}
