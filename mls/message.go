package mls

// ProtocolVersion is the MLS protocol version (RFC 9420, Section 6).
type ProtocolVersion uint16

// ProtocolVersionMLS10 is mls10, the only version defined.
const ProtocolVersionMLS10 ProtocolVersion = 1

// ProposalType identifies a proposal (RFC 9420, Section 12.1).
type ProposalType uint16

// Proposal types defined by RFC 9420.
const (
	ProposalAdd                    ProposalType = 1
	ProposalUpdate                 ProposalType = 2
	ProposalRemove                 ProposalType = 3
	ProposalPreSharedKey           ProposalType = 4
	ProposalReInit                 ProposalType = 5
	ProposalExternalInit           ProposalType = 6
	ProposalGroupContextExtensions ProposalType = 7
)
