package mls

import (
	"bytes"
	"fmt"
	"time"
)

// External commits (RFC 9420, Section 12.4.3.2): a client holding a
// GroupInfo with an external_pub extension joins by itself, committing
// an ExternalInit proposal whose KEM output gives the group the new
// epoch's init secret. Members accept them only if
// Config.AllowExternalCommits is set; a "resync" Remove must remove a
// leaf with the joiner's own credential.

// ExternalJoinParams are the inputs of JoinExternal.
type ExternalJoinParams struct {
	GroupInfo    *GroupInfo
	RatchetTree  *RatchetTree // when GroupInfo has no ratchet_tree extension
	Credential   Credential
	SignatureKey *SignaturePrivateKey
	Capabilities Capabilities // zero: the defaults for the suite
	// Resync, if set, removes the joiner's old leaf in the same Commit.
	Resync *LeafIndex
	PSKs   []PreSharedKeyID
	Now    time.Time // checked against key package leaf lifetimes; zero skips
}

// JoinExternal builds an external Commit from a GroupInfo and returns the
// joiner's Group in the new epoch and the Commit to send. The Group is
// valid only if the Delivery Service accepts the Commit.
func JoinExternal(cfg Config, p ExternalJoinParams) (*Group, []byte, error) {
	g, pub, err := externalBase(cfg, p)
	if err != nil {
		return nil, nil, fmt.Errorf("external join: %w", err)
	}
	kemOutput, initSecret, err := g.s.externalInit(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("external join: %w", err)
	}
	commit, pv, pp, err := g.externalCommit(p, kemOutput)
	if err != nil {
		return nil, nil, fmt.Errorf("external join: %w", err)
	}
	wire, err := g.finishExternal(pv, pp, commit, initSecret)
	if err != nil {
		return nil, nil, fmt.Errorf("external join: %w", err)
	}
	return g, wire, nil
}

// externalBase verifies the GroupInfo and its tree and returns a Group
// positioned in the GroupInfo's epoch (without its secrets) and the
// external public key.
func externalBase(cfg Config, p ExternalJoinParams) (*Group, []byte, error) {
	gi := p.GroupInfo
	if gi == nil || p.SignatureKey == nil {
		return nil, nil, fmt.Errorf("%w: missing group info or signature key", ErrBadKey)
	}
	s, err := gi.GroupContext.CipherSuite.suite()
	if err != nil {
		return nil, nil, err
	}
	tree, err := joinTree(s, gi, JoinParams{RatchetTree: p.RatchetTree, Now: p.Now})
	if err != nil {
		return nil, nil, err
	}
	signer := tree.Leaf(gi.Signer)
	if signer == nil {
		return nil, nil, fmt.Errorf("%w: group info signer %d is blank", ErrUnknownSender, gi.Signer)
	}
	if err := s.verifyGroupInfo(gi, signer.SignatureKey); err != nil {
		return nil, nil, err
	}
	data, ok := findExtension(gi.Extensions, ExtensionExternalPub)
	if !ok {
		return nil, nil, fmt.Errorf("%w: group info has no external_pub", ErrInvalidProposal)
	}
	pub, err := parseExternalPub(data)
	if err != nil {
		return nil, nil, err
	}
	g := &Group{cfg: cfg, s: s, gc: gi.GroupContext, tree: tree, sigKey: p.SignatureKey}
	g.interim = s.interimTranscriptHash(gi.GroupContext.ConfirmedTranscriptHash, gi.ConfirmationTag)
	return g, pub, nil
}

// externalCommit applies the external commit's proposals, places the
// joiner in the leftmost free leaf and prepares its path.
func (g *Group) externalCommit(p ExternalJoinParams, kemOutput []byte) (*Commit, *provisional, *PendingPath, error) {
	props := []*Proposal{{Type: ProposalExternalInit, KEMOutput: kemOutput}}
	if p.Resync != nil {
		props = append(props, &Proposal{Type: ProposalRemove, Removed: *p.Resync})
	}
	for i := range p.PSKs {
		props = append(props, &Proposal{Type: ProposalPreSharedKey, PSK: &p.PSKs[i]})
	}
	me := Sender{Type: SenderNewMemberCommit}
	commit := &Commit{}
	var list []proposalEntry
	for _, prop := range props {
		commit.Proposals = append(commit.Proposals, ProposalOrRef{Proposal: prop})
		list = append(list, proposalEntry{p: prop, sender: me})
	}
	if err := g.validateProposals(list, me); err != nil {
		return nil, nil, nil, err
	}
	pv, err := g.applyProposals(list)
	if err != nil {
		return nil, nil, nil, err
	}
	caps := p.Capabilities
	if caps.Versions == nil && caps.CipherSuites == nil && caps.Credentials == nil {
		caps = defaultCapabilities(g.s.id, p.Credential.Type)
	}
	leaf := &LeafNode{SignatureKey: p.SignatureKey.PublicKey(), Credential: p.Credential, Capabilities: caps, Source: LeafNodeSourceCommit}
	pp, err := g.externalPath(pv, leaf)
	if err != nil {
		return nil, nil, nil, err
	}
	gc, err := g.provisionalContext(pv)
	if err != nil {
		return nil, nil, nil, err
	}
	commit.Path, err = pp.Encrypt(gc, nil)
	return commit, pv, pp, err
}

// externalPath adds the joiner's leaf to the provisional tree and
// prepares a fresh path from it.
func (g *Group) externalPath(pv *provisional, leaf *LeafNode) (*PendingPath, error) {
	idx, err := pv.tree.AddLeaf(leaf)
	if err != nil {
		return nil, err
	}
	placeholder, err := g.s.generateHPKEKey(g.cfg.rand())
	if err != nil {
		return nil, err
	}
	priv, err := NewTreePrivate(g.s.id, idx, placeholder)
	if err != nil {
		return nil, err
	}
	return pv.tree.PrepareUpdatePath(priv, PathParams{GroupID: g.gc.GroupID, SignatureKey: g.sigKey, Leaf: leaf, Rand: g.cfg.rand()})
}

// finishExternal signs the Commit, runs the key schedule from the
// external init secret and installs the new epoch in g.
func (g *Group) finishExternal(pv *provisional, pp *PendingPath, commit *Commit, initSecret secret) ([]byte, error) {
	ac := &AuthenticatedContent{WireFormat: WireFormatPublicMessage, Content: FramedContent{
		GroupID: g.gc.GroupID, Epoch: g.gc.Epoch, Sender: Sender{Type: SenderNewMemberCommit},
		ContentType: ContentCommit, Commit: commit,
	}}
	if err := g.s.signContent(ac, &g.gc, g.sigKey); err != nil {
		return nil, err
	}
	gc, secrets, err := g.nextEpoch(ac, pv, initSecret, pp.CommitSecret())
	if err != nil {
		return nil, err
	}
	confirmed := gc.ConfirmedTranscriptHash
	ac.Auth.ConfirmationTag = g.s.confirmationTag(secrets.confirmation, confirmed)
	if err := g.newEpoch(gc, pv.tree, secrets); err != nil {
		return nil, err
	}
	g.priv = pp.Private()
	g.interim = g.s.interimTranscriptHash(confirmed, ac.Auth.ConfirmationTag)
	return marshal(&MLSMessage{WireFormat: WireFormatPublicMessage, PublicMessage: &PublicMessage{Content: ac.Content, Auth: ac.Auth}})
}

// externalSender places an external committer in the provisional tree
// and checks the commit's external-only rules; it returns the joiner's
// leaf.
func (g *Group) externalSender(c *Commit, pv *provisional, list []proposalEntry) (LeafIndex, error) {
	if !g.cfg.AllowExternalCommits {
		return 0, fmt.Errorf("%w: external commits are not allowed", ErrInvalidContent)
	}
	if c.Path == nil {
		return 0, fmt.Errorf("%w: external commit without a path", ErrInvalidProposal)
	}
	for _, e := range list {
		if e.ref != nil {
			return 0, fmt.Errorf("%w: external commit with a proposal by reference", ErrInvalidProposal)
		}
		if e.p.Type == ProposalRemove && !sameCredential(g.tree.Leaf(e.p.Removed), &c.Path.LeafNode) {
			return 0, fmt.Errorf("%w: resync removes another client", ErrInvalidProposal)
		}
	}
	for i := LeafIndex(0); uint32(i) < pv.tree.NumLeaves(); i++ {
		if ln := pv.tree.Leaf(i); ln != nil && bytes.Equal(ln.SignatureKey, c.Path.LeafNode.SignatureKey) {
			return 0, fmt.Errorf("%w: external joiner reuses the signature key of leaf %d", ErrInvalidProposal, i)
		}
	}
	// The joiner's leaf enters the tree with no encryption key; merging
	// the path installs the real leaf.
	placeholder := c.Path.LeafNode.clone()
	placeholder.EncryptionKey = nil
	idx, err := pv.tree.AddLeaf(placeholder)
	if err != nil {
		return 0, err
	}
	return idx, nil
}

func sameCredential(a, b *LeafNode) bool {
	if a == nil || b == nil {
		return false
	}
	x, err1 := marshal(&a.Credential)
	y, err2 := marshal(&b.Credential)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
