package server

import (
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Request decoding happens inside connect-go, before any interceptor, and
// connect-go's own decode errors carry no ErrorDetail. So the server's
// codecs never fail a decode: they reset the message and mark it with an
// unknown field (number markField, a varint holding the failure kind), and
// the interceptor turns a marked request into an API error with a reason.
// A client that sends the marker itself only gets that same error.

// hardMaxBytes bounds what connect-go reads (and decompresses) at all;
// between maxRequestBytes and this, the codec refuses with a reason.
const hardMaxBytes = 4 * maxRequestBytes

const markField protowire.Number = protowire.MaxValidNumber

// Decode failure kinds stored in the marker.
const (
	markMalformed uint64 = 1
	markTooLarge  uint64 = 2
)

// codec is a proto or JSON codec that marks instead of failing. It
// marshals by appending (MarshalAppend), so that connect-go encodes each
// response into one of its pooled buffers instead of a fresh slice.
type codec struct {
	name      string
	binary    bool
	marshal   func([]byte, proto.Message) ([]byte, error) // appends
	unmarshal func([]byte, proto.Message) error
}

// protoCodec and jsonCodec are the server's two encodings; JSON is
// registered under both of its content-type names.
func protoCodec() codec {
	return codec{name: "proto", binary: true, marshal: proto.MarshalOptions{}.MarshalAppend, unmarshal: proto.Unmarshal}
}

func jsonCodec(name string) codec {
	return codec{name: name, marshal: protojson.MarshalOptions{}.MarshalAppend, unmarshal: unmarshalJSON}
}

// allCodecs are the codecs of every service.
func allCodecs() []codec {
	return []codec{protoCodec(), jsonCodec("json"), jsonCodec("json; charset=utf-8")}
}

func codecs() []connect.HandlerOption {
	var out []connect.HandlerOption
	for _, c := range allCodecs() {
		out = append(out, connect.WithCodec(c))
	}
	return out
}

func unmarshalJSON(b []byte, m proto.Message) error {
	if len(b) == 0 {
		return errors.New("empty JSON payload")
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, m)
}

func (c codec) Name() string   { return c.name }
func (c codec) IsBinary() bool { return c.binary }

func (c codec) Marshal(v any) ([]byte, error) { return c.MarshalAppend(nil, v) }

// MarshalAppend appends v's encoding to b (connect-go's marshalAppender).
func (c codec) MarshalAppend(b []byte, v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("server: %T is not a proto message", v)
	}
	return c.marshal(b, m)
}

func (c codec) Unmarshal(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("server: %T is not a proto message", v)
	}
	switch {
	case len(data) > maxRequestBytes:
		mark(m, markTooLarge)
	case c.unmarshal(data, m) != nil:
		mark(m, markMalformed)
	}
	return nil
}

func mark(m proto.Message, kind uint64) {
	proto.Reset(m)
	b := protowire.AppendTag(nil, markField, protowire.VarintType)
	m.ProtoReflect().SetUnknown(protowire.AppendVarint(b, kind))
}

// decodeError returns the API error for a marked message, or nil.
func decodeError(v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return nil
	}
	b := m.ProtoReflect().GetUnknown()
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num != markField || typ != protowire.VarintType {
		return nil
	}
	switch kind, _ := protowire.ConsumeVarint(b[n:]); kind {
	case markTooLarge:
		return errReason(connect.CodeResourceExhausted, ReasonMessageTooLarge)
	case markMalformed:
		return errReason(connect.CodeInvalidArgument, ReasonMessageInvalid)
	}
	return nil
}

// checkedConn refuses marked stream messages.
type checkedConn struct{ connect.StreamingHandlerConn }

func (c checkedConn) Receive(v any) error {
	if err := c.StreamingHandlerConn.Receive(v); err != nil {
		return err
	}
	return decodeError(v)
}
