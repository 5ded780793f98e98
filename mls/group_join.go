package mls

import (
	"bytes"
	"fmt"
	"time"
)

// JoinParams are the inputs for joining a group from a Welcome.
type JoinParams struct {
	Welcome      *Welcome
	KeyPackage   *KeyPackage // the joiner's key package the Welcome names
	Private      *KeyPackagePrivate
	SignatureKey *SignaturePrivateKey
	// RatchetTree is the group's tree when the GroupInfo does not carry
	// a ratchet_tree extension; it is validated like one that does.
	RatchetTree *RatchetTree
	// PSK returns the value of a pre-shared key the Welcome injects;
	// nil means the joiner holds none.
	PSK func(id *PreSharedKeyID) ([]byte, error)
	// Now is checked against key package leaf lifetimes in the tree; the
	// zero time skips that check.
	Now time.Time
}

// Join processes a Welcome (RFC 9420, Section 12.4.3.1) and returns the
// joiner's Group in the Welcome's epoch. It decrypts the group secrets
// and GroupInfo, checks the GroupInfo signature and confirmation tag,
// validates the ratchet tree (tree hash, parent hashes, leaves, unmerged
// leaves), finds the joiner's leaf and derives its path keys.
func Join(cfg Config, p JoinParams) (*Group, error) {
	if p.Welcome == nil || p.KeyPackage == nil || p.Private == nil || p.SignatureKey == nil {
		return nil, fmt.Errorf("join: %w: missing welcome, key package or keys", ErrBadKey)
	}
	s, err := p.Welcome.CipherSuite.suite()
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	open, err := s.openWelcome(p.Welcome, p.KeyPackage, p.Private.InitKey, p.resolvePSK)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	gi := open.groupInfo
	tree, err := joinTree(s, gi, p)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	signer := tree.Leaf(gi.Signer)
	if signer == nil {
		return nil, fmt.Errorf("join: %w: group info signer %d is blank", ErrUnknownSender, gi.Signer)
	}
	if err := s.verifyGroupInfo(gi, signer.SignatureKey); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	priv, err := joinPrivate(s, tree, gi.Signer, open.secrets, p)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	g := &Group{cfg: cfg, s: s, priv: priv, sigKey: p.SignatureKey}
	if err := g.newEpoch(gi.GroupContext, tree, open.epoch); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	g.interim = s.interimTranscriptHash(gi.GroupContext.ConfirmedTranscriptHash, gi.ConfirmationTag)
	return g, nil
}

func (p *JoinParams) resolvePSK(id *PreSharedKeyID) (secret, error) {
	if p.PSK == nil {
		return nil, fmt.Errorf("%w: no PSK store", ErrInvalidProposal)
	}
	v, err := p.PSK(id)
	return secret(v), err
}

// joinTree returns the validated ratchet tree of the GroupInfo.
func joinTree(s *suite, gi *GroupInfo, p JoinParams) (*RatchetTree, error) {
	gc := &gi.GroupContext
	if gc.CipherSuite != s.id || gc.Version != ProtocolVersionMLS10 {
		return nil, fmt.Errorf("%w: group info suite %v", ErrUnsupportedSuite, gc.CipherSuite)
	}
	tree := p.RatchetTree
	if data, ok := findExtension(gi.Extensions, ExtensionRatchetTree); ok {
		var err error
		if tree, err = ParseRatchetTree(s.id, data); err != nil {
			return nil, err
		}
	} else if tree == nil {
		return nil, fmt.Errorf("%w: no ratchet tree", ErrInvalidTree)
	} else {
		tree = tree.Clone()
	}
	th, err := tree.TreeHash()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(th, gc.TreeHash) {
		return nil, fmt.Errorf("%w: tree hash does not match the group context", ErrInvalidTree)
	}
	check := TreeCheck{GroupID: gc.GroupID, Now: p.Now, GroupExtensions: gc.Extensions}
	if err := tree.Validate(check); err != nil {
		return nil, err
	}
	return tree, nil
}

// joinPrivate finds the joiner's leaf and derives its private keys: the
// leaf key from the key package and, from the Welcome's path secret, the
// keys from the joiner's common ancestor with the committer up to the
// root.
func joinPrivate(s *suite, tree *RatchetTree, signer LeafIndex, gs *GroupSecrets, p JoinParams) (*TreePrivate, error) {
	me, ok := tree.FindLeaf(&p.KeyPackage.LeafNode)
	if !ok {
		return nil, fmt.Errorf("%w: joiner's leaf is not in the tree", ErrInvalidTree)
	}
	if !bytes.Equal(p.SignatureKey.PublicKey(), p.KeyPackage.LeafNode.SignatureKey) {
		return nil, fmt.Errorf("%w: signature key does not match the key package", ErrBadKey)
	}
	priv, err := NewTreePrivate(s.id, me, p.Private.EncryptionKey)
	if err != nil {
		return nil, err
	}
	if gs.PathSecret != nil {
		if me == signer {
			return nil, fmt.Errorf("%w: welcome signed by the joiner's own leaf", ErrInvalidTree)
		}
		x := commonAncestor(me.Node(), signer.Node())
		if _, err := priv.SetPathSecrets(tree, x, gs.PathSecret); err != nil {
			return nil, err
		}
	}
	if err := priv.CheckTree(tree); err != nil {
		return nil, err
	}
	return priv, nil
}
