package client

import (
	"errors"

	"github.com/sealine/sealine/mls"
)

// The mls package does not yet serialize a Group's state (its secrets,
// tree and ratchets are unexported). Until it does, conversations live
// in memory: the local store keeps everything else, and a conversation
// whose state could not be restored reports ErrStateLost. When mls gains
// (*Group).MarshalState and a restore function, these two functions are
// the only place to change.

var errNoGroupState = errors.New("mls group state serialization is not available")

// marshalGroup returns g's serialized state, or nil.
func marshalGroup(g *mls.Group) []byte { return nil }

// restoreGroup rebuilds a Group from marshalGroup's output.
func restoreGroup(cfg mls.Config, state []byte, sig *mls.SignaturePrivateKey) (*mls.Group, error) {
	return nil, errNoGroupState
}
