package server

import (
	"context"
	"errors"
	"io"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/store"
)

// blobService implements sealinev1connect.BlobServiceHandler. Attachments
// are ciphertext; the server learns their size and conversation only.
type blobService struct{ s *Server }

// UploadBlob reads a header, then chunks, into the blob store; the record
// (and the quota it uses) is written only after every byte is durable, and
// the bytes are deleted again if the record is refused.
func (b blobService) UploadBlob(ctx context.Context, stream *connect.ClientStream[sealinev1.UploadBlobRequest]) (*connect.Response[sealinev1.UploadBlobResponse], error) {
	s, c := b.s, callerOf(ctx)
	h, err := s.uploadHeader(ctx, c, stream)
	if err != nil {
		return nil, err
	}
	id, err := s.newID("b")
	if err != nil {
		return nil, s.errInternal(ctx, "new id", err)
	}
	bs := s.msg.cfg.BlobStore
	if err := bs.Put(ctx, id, &uploadReader{stream: stream, left: h.GetSize()}); err != nil {
		var ce *connect.Error
		if errors.As(err, &ce) {
			return nil, ce
		}
		return nil, s.errInternal(ctx, "store blob", err)
	}
	rec := store.Blob{ID: id, ConversationID: h.GetConversationId(), UserID: c.userID, Size: h.GetSize(), CreatedAt: s.now()}
	if err := s.store.AddBlob(ctx, rec, s.msg.cfg.BlobQuota); err != nil {
		if derr := bs.Delete(context.WithoutCancel(ctx), id); derr != nil {
			s.logger(ctx).Error("delete refused blob", "err", derr.Error())
		}
		return nil, s.storeError(ctx, "add blob", err)
	}
	return connect.NewResponse(&sealinev1.UploadBlobResponse{BlobId: id}), nil
}

// uploadHeader reads and checks the header: a size within the bounds and
// the caller's quota, for a conversation the caller is in.
func (s *Server) uploadHeader(ctx context.Context, c caller, stream *connect.ClientStream[sealinev1.UploadBlobRequest]) (*sealinev1.UploadBlobRequest_Header, error) {
	if !stream.Receive() {
		if err := stream.Err(); err != nil {
			return nil, err
		}
		return nil, errField(ReasonFieldInvalid, "header")
	}
	h := stream.Msg().GetHeader()
	switch {
	case h == nil || h.GetSize() <= 0:
		return nil, errField(ReasonFieldInvalid, "header")
	case h.GetSize() > s.msg.cfg.MaxBlobBytes:
		return nil, msgError(connect.CodeResourceExhausted, ReasonTooLarge, "header.size")
	}
	if err := checkConversationID(h.GetConversationId()); err != nil {
		return nil, err
	}
	member, err := s.store.IsMember(ctx, h.GetConversationId(), c.deviceID)
	if err != nil {
		return nil, s.errInternal(ctx, "check member", err)
	}
	if !member {
		return nil, msgError(connect.CodePermissionDenied, ReasonNotMember, "")
	}
	used, err := s.store.BlobUsage(ctx, c.userID)
	if err != nil {
		return nil, s.errInternal(ctx, "blob usage", err)
	}
	if used+h.GetSize() > s.msg.cfg.BlobQuota {
		return nil, msgError(connect.CodeResourceExhausted, ReasonQuota, "")
	}
	return h, nil
}

// uploadReader yields the chunks of an upload stream. It fails unless the
// stream carries exactly left more bytes in chunks of at most 1 MiB.
type uploadReader struct {
	stream *connect.ClientStream[sealinev1.UploadBlobRequest]
	buf    []byte
	left   int64
}

func (u *uploadReader) Read(p []byte) (int, error) {
	for len(u.buf) == 0 {
		if !u.stream.Receive() {
			return 0, u.end()
		}
		chunk := u.stream.Msg().GetChunk()
		switch {
		case u.stream.Msg().GetHeader() != nil, len(chunk) == 0:
			return 0, errField(ReasonFieldInvalid, "chunk")
		case len(chunk) > maxBlobChunk:
			return 0, msgError(connect.CodeResourceExhausted, ReasonTooLarge, "chunk")
		case int64(len(chunk)) > u.left:
			return 0, errField(ReasonFieldInvalid, "chunk")
		}
		u.buf, u.left = chunk, u.left-int64(len(chunk))
	}
	n := copy(p, u.buf)
	u.buf = u.buf[n:]
	return n, nil
}

// end is the error at the end of the stream: EOF only when every byte came.
func (u *uploadReader) end() error {
	if err := u.stream.Err(); err != nil {
		return err
	}
	if u.left > 0 {
		return msgError(connect.CodeInvalidArgument, ReasonUploadTruncated, "")
	}
	return io.EOF
}

// DownloadBlob streams a blob to a member of its conversation: the size,
// then chunks of at most 1 MiB.
func (b blobService) DownloadBlob(ctx context.Context, req *connect.Request[sealinev1.DownloadBlobRequest], stream *connect.ServerStream[sealinev1.DownloadBlobResponse]) error {
	s, c := b.s, callerOf(ctx)
	rec, err := s.downloadable(ctx, c, req.Msg.GetBlobId())
	if err != nil {
		return err
	}
	r, err := s.msg.cfg.BlobStore.Get(ctx, rec.ID)
	if err != nil {
		return s.errInternal(ctx, "open blob", err)
	}
	defer r.Close()
	if err := stream.Send(&sealinev1.DownloadBlobResponse{Part: &sealinev1.DownloadBlobResponse_Size{Size: rec.Size}}); err != nil {
		return err
	}
	buf := make([]byte, maxBlobChunk)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if err := stream.Send(&sealinev1.DownloadBlobResponse{Part: &sealinev1.DownloadBlobResponse_Chunk{Chunk: buf[:n]}}); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return s.errInternal(ctx, "read blob", err)
		}
	}
}

// downloadable returns the blob's record if the caller may read it.
func (s *Server) downloadable(ctx context.Context, c caller, id string) (store.Blob, error) {
	if id == "" || len(id) > maxDeviceIDBytes {
		return store.Blob{}, errField(ReasonFieldInvalid, "blob_id")
	}
	rec, err := s.store.Blob(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Blob{}, msgError(connect.CodeNotFound, ReasonBlobNotFound, "")
	}
	if err != nil {
		return store.Blob{}, s.errInternal(ctx, "load blob", err)
	}
	member, err := s.store.IsMember(ctx, rec.ConversationID, c.deviceID)
	if err != nil {
		return store.Blob{}, s.errInternal(ctx, "check member", err)
	}
	if !member {
		return store.Blob{}, msgError(connect.CodePermissionDenied, ReasonNotMember, "")
	}
	return rec, nil
}
