package client

import (
	"fmt"

	"github.com/sealine/sealine/mls"
)

// The MLS state of each conversation (mls.Group.MarshalState: tree,
// private keys, epoch secrets, ratchets) is saved sealed in the local
// store after every change, in the same transaction as the delivery
// cursor, so a restarted client resumes exactly where it stopped and never
// reuses a consumed key. A Commit waiting for the server's verdict is not
// saved: after a restart its echo fails to apply and raises a warning.

// marshalGroup returns g's serialized state.
func marshalGroup(g *mls.Group) ([]byte, error) {
	state, err := g.MarshalState()
	if err != nil {
		return nil, fmt.Errorf("save group: %w", err)
	}
	return state, nil
}

// restoreGroup rebuilds a Group from marshalGroup's output.
func restoreGroup(cfg mls.Config, state []byte) (*mls.Group, error) {
	if len(state) == 0 {
		return nil, ErrStateLost
	}
	g, err := mls.LoadGroup(cfg, state)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStateLost, err)
	}
	return g, nil
}
