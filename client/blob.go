package client

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"path/filepath"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
	"github.com/sealine/sealine/client/attachment"
)

// Attachments. UploadAttachment encrypts a file with a fresh key
// (client/attachment) while it streams the ciphertext to the server's
// BlobService; the returned attachment.Metadata (blob id, key, sizes,
// ciphertext SHA-256, name, media type) is what the sender puts in an MLS
// application message. DownloadAttachment streams the blob back, checks it
// against that Metadata and decrypts it. The server sees only ciphertext
// and its size.

// blobChunk is the ciphertext carried by one UploadBlob stream message.
const blobChunk = 1 << 20

// Attachment errors callers branch on with errors.Is.
var (
	// Server refusals.
	ErrBlobQuota       = errors.New("attachment storage quota exceeded")
	ErrBlobTooLarge    = errors.New("attachment is larger than the server accepts")
	ErrUploadTruncated = errors.New("attachment upload ended early")
	ErrBlobNotFound    = errors.New("attachment not found on the server")

	// ErrAttachmentSize: the source held fewer or more bytes than the
	// size passed to UploadAttachment.
	ErrAttachmentSize = errors.New("attachment source does not hold the declared size")
	// ErrDownloadTruncated: the download ended before the blob's size.
	ErrDownloadTruncated = errors.New("attachment download ended early")
	// ErrBlobMismatch: the server's blob differs from the Metadata (size
	// or SHA-256): it was replaced, or the Metadata is wrong.
	ErrBlobMismatch = errors.New("attachment blob does not match its metadata")
)

// blobReasons maps the BlobService's refusal reasons to their sentinels.
var blobReasons = map[string]error{
	"quota":            ErrBlobQuota,
	"too_large":        ErrBlobTooLarge,
	"upload_truncated": ErrUploadTruncated,
	"blob_not_found":   ErrBlobNotFound,
}

// blobError maps an error of a BlobService call (not_member as in
// messaging: ErrNotMember).
func (c *Client) blobError(err error) error {
	err = mapError(err)
	if e := new(Error); errors.As(err, &e) {
		if kind, ok := blobReasons[e.Reason]; ok {
			e.kind = kind
		}
	}
	return c.refused(rpcErr(err))
}

// blobs returns a BlobService client. It does not offer gzip: ciphertext
// does not compress, and a server compressing it would cut the download
// rate several times over.
func (c *Client) blobs() sealinev1connect.BlobServiceClient {
	return sealinev1connect.NewBlobServiceClient(c.hc, c.server, connect.WithReadMaxBytes(maxResponseBytes),
		connect.WithAcceptCompression("gzip", nil, nil))
}

// UploadAttachment encrypts size bytes from r under a fresh key and uploads
// the ciphertext to conversationID's blob space, in stream messages of at
// most 1 MiB. Memory use does not depend on size. name is the advisory file
// name (attachment.ValidName); the media type is guessed from its
// extension and may be changed in the returned Metadata. progress, if not
// nil, is called with the ciphertext bytes sent and the total. A nil r is
// an empty source.
//
// A source shorter or longer than size fails with ErrAttachmentSize (and
// ErrUploadTruncated, as the server refuses the partial upload); the
// server keeps nothing of it.
func (c *Client) UploadAttachment(ctx context.Context, conversationID string, r io.Reader, size int64, name string, progress func(done, total int64)) (attachment.Metadata, error) {
	md, err := newMetadata(c, size, name)
	if err != nil {
		return attachment.Metadata{}, err
	}
	if r == nil {
		r = eof{}
	}
	s, err := c.Session()
	if err != nil {
		return attachment.Metadata{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // aborts the stream on every early return
	stream := c.blobs().UploadBlob(ctx)
	stream.RequestHeader().Set("Authorization", "Bearer "+s.Token)
	up := &uploader{stream: stream, total: md.CiphertextSize, progress: progress, hash: sha256.New()}
	if err := up.send(&sealinev1.UploadBlobRequest{Part: &sealinev1.UploadBlobRequest_Header_{
		Header: &sealinev1.UploadBlobRequest_Header{Size: md.CiphertextSize, ConversationId: conversationID},
	}}); err != nil {
		return attachment.Metadata{}, c.blobError(err)
	}
	if md.BlobID, err = c.uploadBody(up, r, md); err != nil {
		return attachment.Metadata{}, err
	}
	copy(md.SHA256[:], up.hash.Sum(nil))
	if _, err := md.MarshalBinary(); err != nil {
		return attachment.Metadata{}, fmt.Errorf("upload: server returned an unusable blob id: %w", err)
	}
	return md, nil
}

// newMetadata starts the Metadata of an upload: a fresh key and the sizes.
func newMetadata(c *Client, size int64, name string) (attachment.Metadata, error) {
	if !attachment.ValidName(name) {
		return attachment.Metadata{}, fmt.Errorf("upload: %w: bad file name %q", attachment.ErrMetadata, name)
	}
	csize, err := attachment.CiphertextSize(size)
	if err != nil {
		return attachment.Metadata{}, fmt.Errorf("upload: %w", err)
	}
	key, err := attachment.NewKey(c.rand)
	if err != nil {
		return attachment.Metadata{}, err
	}
	mt := attachment.NormalizeMediaType(mime.TypeByExtension(filepath.Ext(name)))
	return attachment.Metadata{Key: key, PlaintextSize: size, CiphertextSize: csize, Name: name, MediaType: mt}, nil
}

// uploadBody encrypts r into the stream and returns the new blob's id.
func (c *Client) uploadBody(up *uploader, r io.Reader, md attachment.Metadata) (string, error) {
	w, err := attachment.NewWriter(up, md.Key, c.rand)
	if err != nil {
		return "", c.blobError(err)
	}
	n, err := io.CopyN(w, r, md.PlaintextSize)
	switch {
	case errors.Is(err, io.EOF):
		return "", c.abandon(up, fmt.Errorf("%w (source ended after %d of %d bytes)", ErrAttachmentSize, n, md.PlaintextSize))
	case err != nil:
		return "", c.blobError(err) // a read error, or the server's refusal
	case longer(r):
		return "", c.abandon(up, fmt.Errorf("%w: more than %d bytes", ErrAttachmentSize, md.PlaintextSize))
	}
	if err := w.Close(); err != nil {
		return "", c.blobError(err)
	}
	if err := up.flush(); err != nil {
		return "", c.blobError(err)
	}
	resp, err := up.stream.CloseAndReceive()
	if err != nil {
		return "", c.blobError(err)
	}
	return resp.Msg.GetBlobId(), nil
}

// eof is an empty source.
type eof struct{}

func (eof) Read([]byte) (int, error) { return 0, io.EOF }

// longer reports whether r holds another byte.
func longer(r io.Reader) bool {
	k, _ := io.ReadFull(r, make([]byte, 1))
	return k > 0
}

// abandon ends an upload whose source broke its size without sealing the
// final chunk, and waits for the server to refuse it (upload_truncated),
// so that nothing of it is kept once abandon returns.
func (c *Client) abandon(up *uploader, cause error) error {
	err := up.flush()
	if err == nil {
		_, err = up.stream.CloseAndReceive()
	}
	if err = c.blobError(err); err == nil || !errors.Is(err, ErrUploadTruncated) {
		err = errors.Join(ErrUploadTruncated, err)
	}
	return fmt.Errorf("upload: %w: %w", cause, err)
}

// uploader is the io.Writer the encryption writes to: it hashes the
// ciphertext and sends it in stream messages of blobChunk bytes.
type uploader struct {
	stream   *connect.ClientStreamForClient[sealinev1.UploadBlobRequest, sealinev1.UploadBlobResponse]
	buf      []byte
	hash     hash.Hash
	sent     int64
	total    int64
	progress func(done, total int64)
}

func (u *uploader) Write(p []byte) (int, error) {
	u.hash.Write(p)
	n := len(p)
	for len(p) > 0 {
		if u.buf == nil {
			u.buf = make([]byte, 0, blobChunk)
		}
		k := min(len(p), blobChunk-len(u.buf))
		u.buf, p = append(u.buf, p[:k]...), p[k:]
		if len(u.buf) == blobChunk {
			if err := u.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// flush sends the buffered ciphertext, if any.
func (u *uploader) flush() error {
	if len(u.buf) == 0 {
		return nil
	}
	if err := u.send(&sealinev1.UploadBlobRequest{Part: &sealinev1.UploadBlobRequest_Chunk{Chunk: u.buf}}); err != nil {
		return err
	}
	u.sent += int64(len(u.buf))
	u.buf = u.buf[:0]
	if u.progress != nil {
		u.progress(u.sent, u.total)
	}
	return nil
}

// send sends one stream message. When the server has already ended the
// call (a refusal), Send reports io.EOF and the refusal comes from
// CloseAndReceive.
func (u *uploader) send(msg *sealinev1.UploadBlobRequest) error {
	err := u.stream.Send(msg)
	if errors.Is(err, io.EOF) {
		_, err = u.stream.CloseAndReceive()
		if err == nil {
			err = fmt.Errorf("upload: server ended the stream early: %w", io.ErrUnexpectedEOF)
		}
	}
	return err
}

// DownloadAttachment streams md's blob, checks its size and SHA-256
// against md and writes its plaintext to w. Only authenticated chunks are
// written, but the SHA-256 is known only at the end: after any error, w
// holds an incomplete or unverified file that must be discarded.
// progress, if not nil, is called with the ciphertext bytes received and
// the total.
func (c *Client) DownloadAttachment(ctx context.Context, md attachment.Metadata, w io.Writer, progress func(done, total int64)) error {
	if _, err := md.MarshalBinary(); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := connect.NewRequest(&sealinev1.DownloadBlobRequest{BlobId: md.BlobID})
	if err := authorize(c, req); err != nil {
		return err
	}
	stream, err := c.blobs().DownloadBlob(ctx, req)
	if err != nil {
		return c.blobError(err)
	}
	defer stream.Close()
	dl := &downloader{c: c, stream: stream, hash: sha256.New(), total: md.CiphertextSize, progress: progress}
	if err := dl.start(); err != nil {
		return err
	}
	if err := decryptTo(w, dl, md.Key); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if !hmac.Equal(dl.hash.Sum(nil), md.SHA256[:]) {
		return fmt.Errorf("download: %w: SHA-256 differs", ErrBlobMismatch)
	}
	return nil
}

// decryptTo copies the authenticated plaintext of src to w.
func decryptTo(w io.Writer, src io.Reader, key attachment.Key) error {
	r, err := attachment.NewReader(src, key)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, r)
	return err
}

// downloader reads the ciphertext chunks of a DownloadBlob stream,
// hashing them and holding the server to the size it announced.
type downloader struct {
	c        *Client
	stream   *connect.ServerStreamForClient[sealinev1.DownloadBlobResponse]
	hash     hash.Hash
	buf      []byte
	got      int64
	total    int64
	progress func(done, total int64)
}

// start reads the size message and checks it against the Metadata.
func (d *downloader) start() error {
	if !d.stream.Receive() {
		return d.end()
	}
	size, ok := d.stream.Msg().GetPart().(*sealinev1.DownloadBlobResponse_Size)
	if !ok {
		return fmt.Errorf("download: %w: no size first", ErrBlobMismatch)
	}
	if size.Size != d.total {
		return fmt.Errorf("download: %w: %d bytes, want %d", ErrBlobMismatch, size.Size, d.total)
	}
	return nil
}

func (d *downloader) Read(p []byte) (int, error) {
	for len(d.buf) == 0 {
		if !d.stream.Receive() {
			return 0, d.end()
		}
		chunk := d.stream.Msg().GetChunk()
		if int64(len(chunk)) > d.total-d.got {
			return 0, fmt.Errorf("%w: more bytes than announced", ErrBlobMismatch)
		}
		d.hash.Write(chunk)
		d.buf, d.got = chunk, d.got+int64(len(chunk))
		if d.progress != nil && len(chunk) > 0 {
			d.progress(d.got, d.total)
		}
	}
	n := copy(p, d.buf)
	d.buf = d.buf[n:]
	return n, nil
}

// end is the error at the end of the stream: io.EOF only after every
// announced byte.
func (d *downloader) end() error {
	if err := d.stream.Err(); err != nil {
		return d.c.blobError(err)
	}
	if d.got < d.total {
		return fmt.Errorf("%w after %d of %d bytes", ErrDownloadTruncated, d.got, d.total)
	}
	return io.EOF
}
