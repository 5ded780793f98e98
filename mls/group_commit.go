package mls

import (
	"bytes"
	"fmt"
	"slices"
)

// Receiving handshake messages (RFC 9420, Sections 6 and 12.4.2).

// Received is the outcome of processing one MLSMessage.
type Received struct {
	Sender      Sender
	ContentType ContentType
	// Application is set for application messages.
	Application *ApplicationMessage
	// Proposal and ProposalRef are set for proposals, which are cached
	// until the epoch's Commit.
	Proposal    *Proposal
	ProposalRef ProposalRef
	// Commit is set for commits; the group is then in the new epoch.
	Commit *CommitInfo
}

// CommitInfo summarizes a processed Commit.
type CommitInfo struct {
	Epoch       uint64      // the new epoch
	Added       []LeafIndex // leaves of new members
	Removed     []LeafIndex // leaves of removed members
	RemovedSelf bool        // this member was removed; the group is closed
	ReInit      *ReInit     // the group is to be reinitialized
}

// Process parses, unprotects and applies an MLSMessage addressed to the
// group: an application message, a proposal (cached) or a Commit (which
// moves the group to the next epoch). On error the group is unchanged.
func (g *Group) Process(wire []byte) (*Received, error) {
	if g.removed {
		return nil, ErrRemoved
	}
	r := newReaderLimit(wire, g.cfg.maxVectorLen())
	m := decodeMLSMessage(r)
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("process: %w", err)
	}
	ac, c, err := g.unprotect(&m)
	if err != nil {
		return nil, fmt.Errorf("process: %w", err)
	}
	rcv := &Received{Sender: ac.Content.Sender, ContentType: ac.Content.ContentType}
	switch ac.Content.ContentType {
	case ContentApplication:
		rcv.Application = &ApplicationMessage{Sender: LeafIndex(ac.Content.Sender.Index),
			Data: ac.Content.ApplicationData, AuthenticatedData: ac.Content.AuthenticatedData}
	case ContentProposal:
		rcv.Proposal = ac.Content.Proposal
		rcv.ProposalRef, err = g.cacheProposal(ac)
	case ContentCommit:
		rcv.Commit, err = g.processCommit(ac)
	}
	if err == nil {
		err = c.apply() // only now is the key consumed
	}
	if err != nil {
		return nil, fmt.Errorf("process: %w", err)
	}
	return rcv, nil
}

// unprotect checks a Public or PrivateMessage against the current epoch
// (or a kept past one, for application messages). A PrivateMessage's key
// is consumed only by the returned consume's apply.
func (g *Group) unprotect(m *MLSMessage) (*AuthenticatedContent, consume, error) {
	switch {
	case m.PublicMessage != nil:
		ac, err := g.framer.unprotectPublic(m.PublicMessage, g.senderKey)
		return ac, consume{}, err
	case m.PrivateMessage != nil:
		return g.unprotectApplication(m.PrivateMessage)
	}
	return nil, consume{}, fmt.Errorf("%w: wire format %d is not group content", ErrInvalidContent, m.WireFormat)
}

// senderKey returns the key a PublicMessage's sender signs with: a
// member's leaf, an external sender from the external_senders
// extension, or the new member's own leaf.
func (g *Group) senderKey(c *FramedContent) (SignaturePublicKey, error) {
	switch s := c.Sender; {
	case s.Type == SenderMember:
		return g.memberKey(c)
	case s.Type == SenderExternal && c.ContentType == ContentProposal:
		data, ok := findExtension(g.gc.Extensions, ExtensionExternalSenders)
		if !ok {
			return nil, fmt.Errorf("%w: no external senders", ErrUnknownSender)
		}
		senders, err := ParseExternalSenders(data)
		if err != nil || int(s.Index) >= len(senders) {
			return nil, fmt.Errorf("%w: external sender %d", ErrUnknownSender, s.Index)
		}
		return senders[s.Index].SignatureKey, nil
	case s.Type == SenderNewMemberProposal && c.ContentType == ContentProposal &&
		c.Proposal.Type == ProposalAdd:
		return c.Proposal.KeyPackage.LeafNode.SignatureKey, nil
	case s.Type == SenderNewMemberCommit && c.ContentType == ContentCommit && c.Commit.Path != nil:
		return c.Commit.Path.LeafNode.SignatureKey, nil
	}
	return nil, fmt.Errorf("%w: sender type %d for content type %d", ErrUnknownSender, c.Sender.Type, c.ContentType)
}

// processCommit applies a verified Commit from another member.
func (g *Group) processCommit(ac *AuthenticatedContent) (*CommitInfo, error) {
	c, committer := ac.Content.Commit, ac.Content.Sender
	external := committer.Type == SenderNewMemberCommit
	if !external && (committer.Type != SenderMember || LeafIndex(committer.Index) == g.LeafIndex()) {
		return nil, fmt.Errorf("%w: commit from sender %d/%d", ErrInvalidContent, committer.Type, committer.Index)
	}
	list, err := g.resolveProposals(c, committer)
	if err != nil {
		return nil, err
	}
	if err := g.validateProposals(list, committer); err != nil {
		return nil, err
	}
	pv, err := g.applyProposals(list)
	if err != nil {
		return nil, err
	}
	if pv.pathRequired && c.Path == nil {
		return nil, fmt.Errorf("%w: commit needs a path", ErrInvalidProposal)
	}
	sender := LeafIndex(committer.Index)
	if external {
		if sender, err = g.externalSender(c, pv, list); err != nil {
			return nil, err
		}
	}
	info := &CommitInfo{Epoch: g.gc.Epoch + 1, Added: pv.added, Removed: pv.removed, ReInit: pv.reinit}
	if external {
		info.Added = append(slices.Clone(info.Added), sender)
	}
	if pv.tree.Leaf(g.LeafIndex()) == nil || !bytes.Equal(pv.tree.Leaf(g.LeafIndex()).SignatureKey, g.sigKey.PublicKey()) {
		g.removed, info.RemovedSelf = true, true
		return info, nil
	}
	priv, commitSecret, err := g.mergePath(pv, sender, c.Path, list)
	if err != nil {
		return nil, err
	}
	return info, g.finishCommit(ac, pv, priv, commitSecret)
}

// mergePath merges the Commit's UpdatePath (if any) into the provisional
// tree and decrypts its path secret, returning the member's new private
// state and the commit secret (nil, the zero vector, without a path).
func (g *Group) mergePath(pv *provisional, committer LeafIndex, path *UpdatePath, list []proposalEntry) (*TreePrivate, secret, error) {
	priv := g.priv.Clone()
	if err := g.installOwnUpdates(priv, list); err != nil {
		return nil, nil, err
	}
	if path == nil {
		priv.Prune(pv.tree)
		return priv, nil, nil
	}
	if err := pv.tree.MergeUpdatePath(committer, path, g.gc.GroupID, pv.added); err != nil {
		return nil, nil, err
	}
	priv.Prune(pv.tree)
	gc, err := g.provisionalContext(pv)
	if err != nil {
		return nil, nil, err
	}
	commitSecret, err := priv.DecryptUpdatePath(pv.tree, committer, path, gc, pv.added)
	if err != nil {
		return nil, nil, err
	}
	return priv, commitSecret, nil
}

// provisionalContext encodes the GroupContext path secrets are encrypted
// under: new epoch, tree and extensions, old transcript hash.
func (g *Group) provisionalContext(pv *provisional) ([]byte, error) {
	gc := pv.gc
	gc.Epoch = g.gc.Epoch + 1
	th, err := pv.tree.TreeHash()
	if err != nil {
		return nil, err
	}
	gc.TreeHash = th
	return marshal(&gc)
}

// finishCommit runs the key schedule for the new epoch, checks the
// confirmation tag and installs the epoch.
func (g *Group) finishCommit(ac *AuthenticatedContent, pv *provisional, priv *TreePrivate, commitSecret secret) error {
	init := g.secrets.init
	if pv.kemOutput != nil {
		var err error
		if init, err = g.s.externalInitSecret(g.secrets.external, pv.kemOutput); err != nil {
			return err
		}
	}
	gc, secrets, err := g.nextEpoch(ac, pv, init, commitSecret)
	if err != nil {
		return err
	}
	if !g.s.verifyMAC(secrets.confirmation, gc.ConfirmedTranscriptHash, ac.Auth.ConfirmationTag) {
		return ErrBadConfirmationTag
	}
	if err := g.newEpoch(gc, pv.tree, secrets); err != nil {
		return err
	}
	g.priv = priv
	g.interim = g.s.interimTranscriptHash(gc.ConfirmedTranscriptHash, ac.Auth.ConfirmationTag)
	g.reinit = pv.reinit != nil
	return nil
}

// nextEpoch computes the GroupContext and secrets of the epoch a Commit
// starts: the confirmed transcript hash over the signed Commit, the new
// tree hash and extensions, the PSK secret and the key schedule from
// init (the previous init secret, or the external init secret).
func (g *Group) nextEpoch(ac *AuthenticatedContent, pv *provisional, init, commitSecret secret) (GroupContext, *epochSecrets, error) {
	gc := pv.gc
	gc.Epoch = g.gc.Epoch + 1
	var err error
	if gc.ConfirmedTranscriptHash, err = g.s.confirmedTranscriptHash(g.interim, ac); err != nil {
		return gc, nil, err
	}
	if gc.TreeHash, err = pv.tree.TreeHash(); err != nil {
		return gc, nil, err
	}
	gcBytes, err := marshal(&gc)
	if err != nil {
		return gc, nil, err
	}
	psk, err := g.s.resolvePSKs(pv.psks, g.lookupPSK)
	if err != nil {
		return gc, nil, err
	}
	secrets, err := g.s.deriveEpoch(init, commitSecret, psk, gcBytes)
	return gc, secrets, err
}

// lookupPSK returns an external PSK from the config or a resumption PSK
// of a recent epoch of this group.
func (g *Group) lookupPSK(id *PreSharedKeyID) (secret, error) {
	switch id.Type {
	case PSKExternal:
		if g.cfg.PSK == nil {
			return nil, fmt.Errorf("%w: unknown external psk", ErrInvalidProposal)
		}
		v, err := g.cfg.PSK(id.ID)
		if err != nil {
			return nil, fmt.Errorf("%w: external psk: %w", ErrInvalidProposal, err)
		}
		return v, nil
	case PSKResumption:
		if v, ok := g.resumption[id.Epoch]; ok && bytes.Equal(id.GroupID, g.gc.GroupID) {
			return v, nil
		}
	}
	return nil, fmt.Errorf("%w: psk not available", ErrInvalidProposal)
}
