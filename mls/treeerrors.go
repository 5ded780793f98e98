package mls

import (
	"errors"
	"fmt"
)

// Sentinel errors for key packages and the ratchet tree (ErrInvalidLeafNode
// and ErrExpired live in errors.go).
var (
	// ErrInvalidKeyPackage reports a KeyPackage that fails validation
	// (RFC 9420, Section 10.1).
	ErrInvalidKeyPackage = errors.New("mls: invalid key package")
	// ErrInvalidTree reports a ratchet tree that is malformed or fails
	// validation (RFC 9420, Sections 7.9.2 and 12.4.3.1).
	ErrInvalidTree = errors.New("mls: invalid ratchet tree")
	// ErrParentHash reports a parent hash that does not verify; the
	// error is a *ParentHashError.
	ErrParentHash = errors.New("mls: parent hash mismatch")
	// ErrInvalidUpdatePath reports an UpdatePath that does not fit the
	// tree or whose keys do not match the decrypted path secrets.
	ErrInvalidUpdatePath = errors.New("mls: invalid update path")
	// ErrNoPrivateKey reports that a member holds no private key able to
	// decrypt an UpdatePath addressed to it.
	ErrNoPrivateKey = errors.New("mls: no private key for update path")
)

// ParentHashError reports the node whose parent hash does not verify.
type ParentHashError struct {
	Node   NodeIndex // the parent node (or the leaf, for an UpdatePath)
	Reason string
}

func (e *ParentHashError) Error() string {
	return fmt.Sprintf("mls: parent hash of node %d: %s", e.Node, e.Reason)
}

// Unwrap lets errors.Is match ErrParentHash.
func (e *ParentHashError) Unwrap() error { return ErrParentHash }
