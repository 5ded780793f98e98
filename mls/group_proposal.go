package mls

import (
	"bytes"
	"fmt"
	"slices"
)

// Proposal handling (RFC 9420, Sections 12.1-12.3): proposals received
// during an epoch are cached by reference; a Commit lists proposals by
// value or reference; the list is validated as a whole and applied to a
// provisional copy of the tree and GroupContext, in the order the RFC
// fixes (extensions, updates, removes, adds, PSKs, external init,
// reinit). The group's own state changes only when the whole Commit has
// verified.

// proposalEntry is a committed proposal with its sender.
type proposalEntry struct {
	p      *Proposal
	sender Sender
	ref    ProposalRef // nil for a proposal by value
}

// cacheProposal stores a verified proposal so that a Commit of this
// epoch can refer to it.
func (g *Group) cacheProposal(ac *AuthenticatedContent) (ProposalRef, error) {
	ref, err := g.s.proposalRef(ac)
	if err != nil {
		return nil, err
	}
	if _, ok := g.cachedProposal(ref); !ok {
		g.proposals = append(g.proposals, proposalEntry{p: ac.Content.Proposal, sender: ac.Content.Sender, ref: ref})
	}
	return ref, nil
}

// cachedProposal looks a proposal of this epoch up by reference.
func (g *Group) cachedProposal(ref ProposalRef) (proposalEntry, bool) {
	for _, e := range g.proposals {
		if bytes.Equal(e.ref, ref) {
			return e, true
		}
	}
	return proposalEntry{}, false
}

// resolveProposals turns a Commit's ProposalOrRef list into entries,
// looking references up in the cache.
func (g *Group) resolveProposals(c *Commit, committer Sender) ([]proposalEntry, error) {
	list := make([]proposalEntry, 0, len(c.Proposals))
	for i, por := range c.Proposals {
		if por.Proposal != nil {
			list = append(list, proposalEntry{p: por.Proposal, sender: committer})
			continue
		}
		e, ok := g.cachedProposal(por.Ref)
		if !ok {
			return nil, fmt.Errorf("%w: proposal %d: unknown reference %x", ErrInvalidProposal, i, por.Ref)
		}
		list = append(list, e)
	}
	return list, nil
}

// proposalCounts tallies a proposal list for the whole-list rules.
type proposalCounts map[ProposalType]int

// validateProposals applies the whole-list rules of RFC 9420, Section
// 12.2 that do not need the provisional tree.
func (g *Group) validateProposals(list []proposalEntry, committer Sender) error {
	counts := proposalCounts{}
	leaves := map[LeafIndex]bool{}
	psks := map[string]bool{}
	for i, e := range list {
		counts[e.p.Type]++
		if err := g.validateProposal(e, committer, leaves, psks); err != nil {
			return fmt.Errorf("proposal %d: %w", i, err)
		}
	}
	return counts.check(committer.Type == SenderNewMemberCommit, len(list))
}

func (c proposalCounts) check(external bool, n int) error {
	switch {
	case c[ProposalReInit] > 0 && n > 1:
		return fmt.Errorf("%w: reinit with other proposals", ErrInvalidProposal)
	case c[ProposalGroupContextExtensions] > 1:
		return fmt.Errorf("%w: several group context extensions proposals", ErrInvalidProposal)
	case external && (c[ProposalExternalInit] != 1 || c[ProposalRemove] > 1 ||
		c[ProposalExternalInit]+c[ProposalRemove]+c[ProposalPreSharedKey] != n):
		return fmt.Errorf("%w: external commit proposals", ErrInvalidProposal)
	case !external && c[ProposalExternalInit] > 0:
		return fmt.Errorf("%w: external init in a member commit", ErrInvalidProposal)
	}
	return nil
}

// validateProposal checks one entry: who may send it and what it names.
func (g *Group) validateProposal(e proposalEntry, committer Sender, leaves map[LeafIndex]bool, psks map[string]bool) error {
	if err := checkProposalSender(e); err != nil {
		return err
	}
	switch e.p.Type {
	case ProposalUpdate:
		leaf := LeafIndex(e.sender.Index)
		if e.ref == nil || e.sender == committer {
			return fmt.Errorf("%w: update by the committer", ErrInvalidProposal)
		}
		return markLeaf(leaves, leaf)
	case ProposalRemove:
		if g.tree.Leaf(e.p.Removed) == nil {
			return fmt.Errorf("%w: remove of blank leaf %d", ErrInvalidProposal, e.p.Removed)
		}
		if committer.Type == SenderMember && uint32(e.p.Removed) == committer.Index {
			return fmt.Errorf("%w: committer removes itself", ErrInvalidProposal)
		}
		return markLeaf(leaves, e.p.Removed)
	case ProposalPreSharedKey:
		return g.checkPSKProposal(e.p.PSK, psks)
	case ProposalReInit:
		if e.p.ReInit.Version < g.gc.Version {
			return fmt.Errorf("%w: reinit to an older version", ErrInvalidProposal)
		}
	}
	return nil
}

// checkProposalSender enforces which senders may send which proposals
// (RFC 9420, Sections 6.1 and 12.1.8).
func checkProposalSender(e proposalEntry) error {
	switch e.sender.Type {
	case SenderMember, SenderNewMemberCommit:
		return nil
	case SenderExternal:
		switch e.p.Type {
		case ProposalAdd, ProposalRemove, ProposalPreSharedKey, ProposalReInit, ProposalGroupContextExtensions:
			return nil
		}
	case SenderNewMemberProposal:
		if e.p.Type == ProposalAdd {
			return nil
		}
	}
	return fmt.Errorf("%w: proposal type %d from sender type %d", ErrInvalidProposal, e.p.Type, e.sender.Type)
}

func markLeaf(leaves map[LeafIndex]bool, l LeafIndex) error {
	if leaves[l] {
		return fmt.Errorf("%w: several updates or removes of leaf %d", ErrInvalidProposal, l)
	}
	leaves[l] = true
	return nil
}

func (g *Group) checkPSKProposal(id *PreSharedKeyID, seen map[string]bool) error {
	if len(id.Nonce) != g.s.hashLen() {
		return fmt.Errorf("%w: psk nonce of %d bytes", ErrInvalidProposal, len(id.Nonce))
	}
	if id.Type == PSKResumption && id.Usage != ResumptionApplication {
		return fmt.Errorf("%w: resumption psk usage %d outside reinit or branch", ErrInvalidProposal, id.Usage)
	}
	b, err := marshal(id)
	if err != nil {
		return err
	}
	if seen[string(b)] {
		return fmt.Errorf("%w: duplicate psk", ErrInvalidProposal)
	}
	seen[string(b)] = true
	return nil
}

// provisional is the group state a Commit's proposals lead to, before
// its path and key schedule are applied.
type provisional struct {
	gc           GroupContext
	tree         *RatchetTree
	added        []LeafIndex
	addedKPs     []*KeyPackage // parallel to added
	removed      []LeafIndex
	psks         []PreSharedKeyID
	kemOutput    []byte // ExternalInit
	reinit       *ReInit
	pathRequired bool
}

// applyProposals applies a validated list to copies of the tree and
// GroupContext (RFC 9420, Section 12.3).
func (g *Group) applyProposals(list []proposalEntry) (*provisional, error) {
	pv := &provisional{gc: g.gc, tree: g.tree.Clone(), pathRequired: len(list) == 0}
	pv.gc.Extensions = slices.Clone(g.gc.Extensions)
	steps := []func(e proposalEntry) error{
		pv.applyExtensions, g.applyUpdate(pv), g.applyRemove(pv), g.applyAdd(pv), pv.applyOther,
	}
	for _, step := range steps {
		for _, e := range list {
			if err := step(e); err != nil {
				return nil, err
			}
		}
	}
	if err := g.checkProvisional(pv, list); err != nil {
		return nil, err
	}
	return pv, nil
}

func (pv *provisional) applyExtensions(e proposalEntry) error {
	if e.p.Type == ProposalGroupContextExtensions {
		if err := checkExtensionsUnique(e.p.Extensions); err != nil {
			return err
		}
		pv.gc.Extensions = e.p.Extensions
		pv.pathRequired = true
	}
	return nil
}

func (g *Group) applyUpdate(pv *provisional) func(e proposalEntry) error {
	return func(e proposalEntry) error {
		if e.p.Type != ProposalUpdate {
			return nil
		}
		leaf := LeafIndex(e.sender.Index)
		check := LeafNodeCheck{Source: LeafNodeSourceUpdate, GroupID: g.gc.GroupID, Leaf: leaf, Now: g.cfg.now(), GroupExtensions: pv.gc.Extensions}
		if err := e.p.LeafNode.Validate(g.s.id, check); err != nil {
			return fmt.Errorf("%w: update of leaf %d: %w", ErrInvalidProposal, leaf, err)
		}
		pv.pathRequired = true
		return pv.tree.UpdateLeaf(leaf, e.p.LeafNode)
	}
}

func (g *Group) applyRemove(pv *provisional) func(e proposalEntry) error {
	return func(e proposalEntry) error {
		if e.p.Type != ProposalRemove {
			return nil
		}
		pv.pathRequired = true
		pv.removed = append(pv.removed, e.p.Removed)
		return pv.tree.RemoveLeaf(e.p.Removed)
	}
}

func (g *Group) applyAdd(pv *provisional) func(e proposalEntry) error {
	return func(e proposalEntry) error {
		if e.p.Type != ProposalAdd {
			return nil
		}
		kp := e.p.KeyPackage
		if err := kp.Validate(g.s.id, g.cfg.now(), pv.gc.Extensions); err != nil {
			return fmt.Errorf("%w: add: %w", ErrInvalidProposal, err)
		}
		leaf, err := pv.tree.AddLeaf(&kp.LeafNode)
		pv.added, pv.addedKPs = append(pv.added, leaf), append(pv.addedKPs, kp)
		return err
	}
}

func (pv *provisional) applyOther(e proposalEntry) error {
	switch e.p.Type {
	case ProposalPreSharedKey:
		pv.psks = append(pv.psks, *e.p.PSK)
	case ProposalExternalInit:
		pv.kemOutput = e.p.KEMOutput
		pv.pathRequired = true
	case ProposalReInit:
		pv.reinit = e.p.ReInit
	}
	return nil
}

// checkProvisional re-checks the tree the proposals produced: the keys
// of added and updated leaves are unique (which also refuses adding a
// client already in the group) and, if the extensions changed, every
// member supports the required capabilities.
func (g *Group) checkProvisional(pv *provisional, list []proposalEntry) error {
	changed := slices.Clone(pv.added)
	for _, e := range list {
		if e.p.Type == ProposalUpdate {
			changed = append(changed, LeafIndex(e.sender.Index))
		}
	}
	if err := pv.tree.checkNewLeafKeys(changed); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidProposal, err)
	}
	if !slices.ContainsFunc(list, func(e proposalEntry) bool { return e.p.Type == ProposalGroupContextExtensions }) {
		return nil
	}
	for i := LeafIndex(0); uint32(i) < pv.tree.NumLeaves(); i++ {
		if ln := pv.tree.Leaf(i); ln != nil {
			if err := ln.checkRequired(pv.gc.Extensions); err != nil {
				return fmt.Errorf("%w: leaf %d: %w", ErrInvalidProposal, i, err)
			}
		}
	}
	return nil
}
