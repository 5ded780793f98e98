package server

import (
	"golang.org/x/crypto/cryptobyte"

	"github.com/sealine/sealine/mls"
)

// Every application message of Send and SendStream passes
// applicationGroupID, which reads the plaintext header of an MLSMessage
// in place instead of decoding (and copying) all of it with
// mls.ParseMLSMessage. It accepts exactly the bytes that
// mls.ParseMLSMessage decodes to a PrivateMessage of application content
// (FuzzCheckMessage holds the two to that). On the wire (RFC 9420,
// Sections 2.1.2, 6 and 6.3.1), integers big-endian:
//
//	uint16 version       = 1 (mls10)
//	uint16 wire_format   = 2 (mls_private_message)
//	opaque group_id<V>
//	uint64 epoch
//	uint8  content_type  = 1 (application)
//	opaque authenticated_data<V>
//	opaque encrypted_sender_data<V>
//	opaque ciphertext<V>
//
// and nothing after. <V> is a length in the minimal MLS varint (one, two
// or four bytes; the top two bits of the first give the size), at most
// mls.DefaultMaxVectorLen, as mls.ParseMLSMessage bounds it.

// applicationGroupID returns the group id of raw, a sub-slice of it, and
// its epoch; ok is false unless raw is a well-formed PrivateMessage of
// application content.
func applicationGroupID(raw []byte) (groupID []byte, epoch uint64, ok bool) {
	s := cryptobyte.String(raw)
	var version, wireFormat uint16
	var contentType uint8
	var skip []byte
	ok = s.ReadUint16(&version) && version == uint16(mls.ProtocolVersionMLS10) &&
		s.ReadUint16(&wireFormat) && wireFormat == uint16(mls.WireFormatPrivateMessage) &&
		readOpaque(&s, &groupID) && s.ReadUint64(&epoch) &&
		s.ReadUint8(&contentType) && contentType == uint8(mls.ContentApplication) &&
		readOpaque(&s, &skip) && readOpaque(&s, &skip) && readOpaque(&s, &skip) && s.Empty()
	if !ok {
		return nil, 0, false
	}
	return groupID, epoch, true
}

// readOpaque reads an opaque<V>: a minimal varint length, then as many
// bytes.
func readOpaque(s *cryptobyte.String, out *[]byte) bool {
	var first uint8
	if !s.ReadUint8(&first) || first>>6 == 3 {
		return false
	}
	size := 1 << (first >> 6)
	var rest []byte
	if !s.ReadBytes(&rest, size-1) {
		return false
	}
	n := uint64(first & 0x3f)
	for _, b := range rest {
		n = n<<8 | uint64(b)
	}
	if size > 1 && n < 1<<(8*(size/2)-2) { // not minimal
		return false
	}
	return n <= mls.DefaultMaxVectorLen && s.ReadBytes(out, int(n))
}
