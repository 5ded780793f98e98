package mls

import (
	"fmt"
	"slices"
)

// Sending proposals and commits (RFC 9420, Sections 12.1 and 12.4.1).
// A Commit is prepared against the current epoch and returned as a
// PendingCommit: the Delivery Service orders commits, so the committer
// moves to the new epoch only when told its commit won (MergeCommit);
// if another commit wins, the pending one is dropped and the winner is
// passed to Process.

// handshakeWireFormat is the wire format of proposals and commits.
func (g *Group) handshakeWireFormat() WireFormat {
	if g.cfg.PublicHandshake {
		return WireFormatPublicMessage
	}
	return WireFormatPrivateMessage
}

// frame builds content from this member for the current epoch.
func (g *Group) frame(ct ContentType) FramedContent {
	return FramedContent{
		GroupID: g.gc.GroupID, Epoch: g.gc.Epoch,
		Sender: Sender{Type: SenderMember, Index: uint32(g.LeafIndex())}, ContentType: ct,
	}
}

// protect encodes signed content as an MLSMessage of its wire format.
func (g *Group) protect(ac *AuthenticatedContent) ([]byte, error) {
	if ac.WireFormat != WireFormatPublicMessage {
		return g.framer.sealPrivate(ac)
	}
	pm, err := g.framer.protectPublic(ac)
	if err != nil {
		return nil, err
	}
	return marshal(&MLSMessage{WireFormat: WireFormatPublicMessage, PublicMessage: pm})
}

// Propose sends a proposal (Add, Remove, PreSharedKey or
// GroupContextExtensions) and caches it so that this member's next
// Commit includes it. Use ProposeUpdate for updates.
func (g *Group) Propose(p *Proposal) ([]byte, error) {
	if err := g.canSend(); err != nil {
		return nil, err
	}
	if p.Type == ProposalUpdate || p.Type == ProposalExternalInit {
		return nil, fmt.Errorf("%w: propose type %d", ErrInvalidProposal, p.Type)
	}
	c := g.frame(ContentProposal)
	c.Proposal = p
	ac, err := g.framer.sign(c, g.handshakeWireFormat(), g.sigKey)
	if err != nil {
		return nil, err
	}
	wire, err := g.protect(ac)
	if err != nil {
		return nil, err
	}
	if _, err := g.cacheProposal(ac); err != nil {
		return nil, err
	}
	return wire, nil
}

// ProposeUpdate sends an Update proposal with a fresh encryption key for
// this member's leaf. The private key is kept until a Commit applies it.
func (g *Group) ProposeUpdate() ([]byte, error) {
	if err := g.canSend(); err != nil {
		return nil, err
	}
	key, err := g.s.generateHPKEKey(g.cfg.rand())
	if err != nil {
		return nil, err
	}
	ln := g.tree.Leaf(g.LeafIndex()).clone()
	ln.EncryptionKey, ln.Source, ln.Lifetime, ln.ParentHash = key.PublicKey(), LeafNodeSourceUpdate, Lifetime{}, nil
	if err := ln.Sign(g.s.id, g.sigKey, g.gc.GroupID, g.LeafIndex()); err != nil {
		return nil, err
	}
	c := g.frame(ContentProposal)
	c.Proposal = &Proposal{Type: ProposalUpdate, LeafNode: ln}
	ac, err := g.framer.sign(c, g.handshakeWireFormat(), g.sigKey)
	if err != nil {
		return nil, err
	}
	wire, err := g.protect(ac)
	if err != nil {
		return nil, err
	}
	ref, err := g.cacheProposal(ac)
	if err != nil {
		return nil, err
	}
	if g.updateKeys == nil {
		g.updateKeys = map[string]*HPKEPrivateKey{}
	}
	g.updateKeys[string(ref)] = key
	return wire, nil
}

// CommitParams lists the proposals a Commit carries by value, in
// addition to every proposal cached this epoch (by reference).
type CommitParams struct {
	Add        []*KeyPackage
	Remove     []LeafIndex
	PSKs       []PreSharedKeyID
	Extensions []Extension // non-nil: a GroupContextExtensions proposal
	// ForcePath includes an UpdatePath even when no proposal needs one.
	ForcePath bool
	// WelcomeWithoutTree leaves the ratchet_tree extension out of the
	// Welcome's GroupInfo; joiners then need the tree some other way.
	WelcomeWithoutTree bool
	// IgnoreCached leaves out the proposals cached this epoch, for
	// example when one of them makes every list invalid.
	IgnoreCached bool
}

// PendingCommit is a Commit waiting for the Delivery Service's verdict.
type PendingCommit struct {
	// Commit is the MLSMessage to send to the group.
	Commit []byte
	// Welcome is the MLSMessage for new members; nil if none are added.
	Welcome []byte
	// Info describes the new epoch.
	Info *CommitInfo

	base    uint64 // epoch the commit was made in
	gc      GroupContext
	tree    *RatchetTree
	priv    *TreePrivate
	secrets *epochSecrets
	interim []byte
}

// byValue returns the by-value proposals of p.
func (p *CommitParams) byValue() []*Proposal {
	var out []*Proposal
	if p.Extensions != nil {
		out = append(out, &Proposal{Type: ProposalGroupContextExtensions, Extensions: p.Extensions})
	}
	for _, l := range p.Remove {
		out = append(out, &Proposal{Type: ProposalRemove, Removed: l})
	}
	for _, kp := range p.Add {
		out = append(out, &Proposal{Type: ProposalAdd, KeyPackage: kp})
	}
	for i := range p.PSKs {
		out = append(out, &Proposal{Type: ProposalPreSharedKey, PSK: &p.PSKs[i]})
	}
	return out
}

// Commit prepares a Commit of the cached proposals and params, and the
// Welcome for any new members. The group does not change until
// MergeCommit.
func (g *Group) Commit(params CommitParams) (*PendingCommit, error) {
	if err := g.canSend(); err != nil {
		return nil, err
	}
	me := Sender{Type: SenderMember, Index: uint32(g.LeafIndex())}
	commit := &Commit{}
	list := g.committable(params)
	for _, e := range list {
		if e.ref != nil {
			commit.Proposals = append(commit.Proposals, ProposalOrRef{Ref: e.ref})
		} else {
			commit.Proposals = append(commit.Proposals, ProposalOrRef{Proposal: e.p})
		}
	}
	if err := g.validateProposals(list, me); err != nil {
		return nil, err
	}
	pv, err := g.applyProposals(list)
	if err != nil {
		return nil, err
	}
	if pv.tree.Leaf(g.LeafIndex()) == nil {
		return nil, fmt.Errorf("%w: commit removes the committer", ErrInvalidProposal)
	}
	pc := &PendingCommit{base: g.gc.Epoch, tree: pv.tree}
	pp, err := g.commitPath(pc, pv, commit, params.ForcePath || pv.pathRequired)
	if err != nil {
		return nil, err
	}
	return pc, g.finishOwnCommit(pc, pv, pp, commit, params)
}

// commitPath sets the committer's new private state and, if a path is
// wanted, prepares and encrypts it into commit.
func (g *Group) commitPath(pc *PendingCommit, pv *provisional, commit *Commit, withPath bool) (*PendingPath, error) {
	pc.priv = g.priv.Clone()
	pc.priv.Prune(pv.tree)
	if !withPath {
		return nil, nil
	}
	pp, err := pv.tree.PrepareUpdatePath(pc.priv, PathParams{GroupID: g.gc.GroupID, SignatureKey: g.sigKey, Rand: g.cfg.rand()})
	if err != nil {
		return nil, err
	}
	gc, err := g.provisionalContext(pv)
	if err != nil {
		return nil, err
	}
	if commit.Path, err = pp.Encrypt(gc, pv.added); err != nil {
		return nil, err
	}
	pc.priv = pp.Private()
	return pp, nil
}

// committable returns the cached proposals this member may commit,
// followed by params' proposals by value. It leaves out its own Updates
// (the committer's path replaces its leaf), Updates of leaves also
// removed, and repeated updates or removes of one leaf (RFC 9420,
// Section 12.2 prefers removes, then the latest update).
func (g *Group) committable(params CommitParams) []proposalEntry {
	me := Sender{Type: SenderMember, Index: uint32(g.LeafIndex())}
	var byValue []proposalEntry
	for _, p := range params.byValue() {
		byValue = append(byValue, proposalEntry{p: p, sender: me})
	}
	if params.IgnoreCached {
		return byValue
	}
	touched := map[LeafIndex]bool{}
	var cached []proposalEntry
	all := append(slices.Clone(byValue), g.proposals...)
	for _, e := range all { // removes first
		if e.p.Type == ProposalRemove && !touched[e.p.Removed] {
			touched[e.p.Removed] = true
			if e.ref != nil {
				cached = append(cached, e)
			}
		}
	}
	for i := len(g.proposals) - 1; i >= 0; i-- { // latest update wins
		e := g.proposals[i]
		if e.p.Type != ProposalUpdate {
			continue
		}
		leaf := LeafIndex(e.sender.Index)
		if e.sender != me && !touched[leaf] {
			touched[leaf] = true
			cached = append(cached, e)
		}
	}
	for _, e := range g.proposals {
		if e.p.Type != ProposalRemove && e.p.Type != ProposalUpdate {
			cached = append(cached, e)
		}
	}
	return append(cached, byValue...)
}

// installOwnUpdates sets the leaf key of this member's committed Update
// proposal, if any.
func (g *Group) installOwnUpdates(priv *TreePrivate, list []proposalEntry) error {
	for _, e := range list {
		if e.p.Type == ProposalUpdate && e.sender.Type == SenderMember && LeafIndex(e.sender.Index) == g.LeafIndex() {
			key, ok := g.updateKeys[string(e.ref)]
			if !ok {
				return fmt.Errorf("%w: own update without its private key", ErrInvalidProposal)
			}
			priv.SetLeafKey(key)
		}
	}
	return nil
}

// finishOwnCommit signs and protects the Commit, runs the key schedule
// of the new epoch and builds the Welcome.
func (g *Group) finishOwnCommit(pc *PendingCommit, pv *provisional, pp *PendingPath, commit *Commit, params CommitParams) error {
	c := g.frame(ContentCommit)
	c.Commit = commit
	ac, err := g.framer.sign(c, g.handshakeWireFormat(), g.sigKey)
	if err != nil {
		return err
	}
	var commitSecret secret
	if pp != nil {
		commitSecret = pp.CommitSecret()
	}
	if pc.gc, pc.secrets, err = g.nextEpoch(ac, pv, g.secrets.init, commitSecret); err != nil {
		return err
	}
	ac.Auth.ConfirmationTag = g.s.confirmationTag(pc.secrets.confirmation, pc.gc.ConfirmedTranscriptHash)
	pc.interim = g.s.interimTranscriptHash(pc.gc.ConfirmedTranscriptHash, ac.Auth.ConfirmationTag)
	pc.Info = &CommitInfo{Epoch: pc.gc.Epoch, Added: pv.added, Removed: pv.removed, ReInit: pv.reinit}
	if len(pv.added) > 0 {
		if pc.Welcome, err = g.newWelcome(pc, pv, pp, ac.Auth.ConfirmationTag, !params.WelcomeWithoutTree); err != nil {
			return err
		}
	}
	pc.Commit, err = g.protect(ac)
	return err
}

// newWelcome builds the Welcome for the members pv added: the signed
// GroupInfo of the new epoch, encrypted under the welcome key, and per
// new member the joiner secret, the path secret of its lowest common
// ancestor with the committer, and the PSK ids.
func (g *Group) newWelcome(pc *PendingCommit, pv *provisional, pp *PendingPath, tag []byte, withTree bool) ([]byte, error) {
	ext, err := g.s.externalKeyPair(pc.secrets.external)
	if err != nil {
		return nil, err
	}
	gi := &GroupInfo{
		GroupContext: pc.gc, ConfirmationTag: tag, Signer: g.LeafIndex(),
		Extensions: []Extension{{Type: ExtensionExternalPub, Data: marshalExternalPub(ext.PublicKey())}},
	}
	if withTree {
		tree, err := pc.tree.Marshal()
		if err != nil {
			return nil, err
		}
		gi.Extensions = append(gi.Extensions, Extension{Type: ExtensionRatchetTree, Data: tree})
	}
	if err := g.s.signGroupInfo(gi, g.sigKey); err != nil {
		return nil, err
	}
	w := &Welcome{CipherSuite: g.s.id}
	if w.EncryptedGroupInfo, err = g.s.encryptGroupInfo(pc.secrets.welcome, gi); err != nil {
		return nil, err
	}
	for i, leaf := range pv.added {
		egs, err := g.welcomeSecrets(pc, pv, pp, leaf, pv.addedKPs[i], w.EncryptedGroupInfo)
		if err != nil {
			return nil, err
		}
		w.Secrets = append(w.Secrets, egs)
	}
	return marshal(&MLSMessage{WireFormat: WireFormatWelcome, Welcome: w})
}

// welcomeSecrets encrypts the GroupSecrets of one new member.
func (g *Group) welcomeSecrets(pc *PendingCommit, pv *provisional, pp *PendingPath, leaf LeafIndex, kp *KeyPackage, egi []byte) (EncryptedGroupSecrets, error) {
	gs := &GroupSecrets{JoinerSecret: pc.secrets.joiner, PSKs: pv.psks}
	if pp != nil {
		if _, ps, ok := pp.PathSecretFor(leaf); ok {
			gs.PathSecret = ps
		}
	}
	ref, err := kp.Ref()
	if err != nil {
		return EncryptedGroupSecrets{}, err
	}
	ct, err := g.s.encryptGroupSecrets(kp.InitKey, egi, gs)
	return EncryptedGroupSecrets{NewMember: ref, EncryptedGroupSecrets: ct}, err
}

// MergeCommit moves the group to the epoch of its own pending Commit,
// once the Delivery Service has accepted it.
func (g *Group) MergeCommit(pc *PendingCommit) error {
	if pc == nil || pc.base != g.gc.Epoch || g.removed {
		return fmt.Errorf("%w: pending commit is not for this epoch", ErrWrongEpoch)
	}
	if err := g.newEpoch(pc.gc, pc.tree, pc.secrets); err != nil {
		return err
	}
	g.priv, g.interim = pc.priv, pc.interim
	g.reinit = pc.Info.ReInit != nil
	return nil
}
