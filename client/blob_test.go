package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/client/attachment"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/server"
)

// These tests upload and download attachments through the real server.

const marker = "PLAINTEXT-MARKER-7c1f "

// markerReader yields n bytes of repeated marker text, in constant memory.
func markerReader(n int64) io.Reader {
	return io.LimitReader(&repeatReader{s: marker}, n)
}

type repeatReader struct {
	s   string
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.s[(r.off+i)%len(r.s)]
	}
	r.off = (r.off + len(p)) % len(r.s)
	return len(p), nil
}

// attachSetup starts a server, registers a user and creates a conversation
// with the user's device as its only member.
func attachSetup(tb testing.TB, configure ...func(*server.Config)) (*testenv.Env, *client.Client, string) {
	tb.Helper()
	ctx := context.Background()
	env := testenv.New(tb, configure...)
	c, err := client.New(client.Config{
		ServerURL: env.URL, CAPEM: env.Server.CertPEM(),
		Home: filepath.Join(tb.TempDir(), "home"), Timeout: 10 * time.Second,
	})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := c.Register(ctx, client.RegisterParams{Username: "alice", Password: "correct horse", DeviceName: "one"})
	if err != nil {
		tb.Fatalf("Register: %v", err)
	}
	convs := sealinev1connect.NewConversationServiceClient(env.HTTP, env.URL, testenv.WithToken(s.Token))
	gid := make([]byte, 32)
	rand.Read(gid)
	resp, err := convs.CreateConversation(ctx, connect.NewRequest(&sealinev1.CreateConversationRequest{
		GroupId: gid, Kind: sealinev1.Conversation_KIND_GROUP,
	}))
	if err != nil {
		tb.Fatalf("CreateConversation: %v", err)
	}
	return env, c, resp.Msg.GetConversation().GetId()
}

// blobFiles returns the contents of every file in the server's blob dir.
func blobFiles(t *testing.T, env *testenv.Env) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(filepath.Join(env.DataDir, "blobs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		files[path] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// progressLog records progress calls and checks they only move forward.
type progressLog struct {
	t           *testing.T
	calls       int
	done, total int64
}

func (p *progressLog) record(done, total int64) {
	if done < p.done || done > total || (p.total != 0 && total != p.total) {
		p.t.Errorf("progress went from %d/%d to %d/%d", p.done, p.total, done, total)
	}
	p.calls, p.done, p.total = p.calls+1, done, total
}

func TestE2EAttachmentRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, c, conv := attachSetup(t)
	const size = 50 << 20
	const name = "quarterly-secret-plan.pdf"
	up := &progressLog{t: t}
	md, err := c.UploadAttachment(ctx, conv, markerReader(size), size, name, up.record)
	if err != nil {
		t.Fatalf("UploadAttachment: %v", err)
	}
	csize, _ := attachment.CiphertextSize(size)
	if md.PlaintextSize != size || md.CiphertextSize != csize || md.Name != name || md.MediaType != "application/pdf" || md.BlobID == "" {
		t.Fatalf("metadata = %+v", md)
	}
	if up.done != csize || up.calls < size/(1<<20) {
		t.Fatalf("upload progress ended at %d/%d after %d calls, want %d in >= 50 calls", up.done, up.total, up.calls, csize)
	}

	files := blobFiles(t, env)
	if len(files) != 1 {
		t.Fatalf("blob dir holds %d files, want 1", len(files))
	}
	for path, ct := range files {
		if int64(len(ct)) != csize || sha256.Sum256(ct) != md.SHA256 {
			t.Fatalf("%s: %d bytes, want the %d-byte ciphertext with the metadata's SHA-256", path, len(ct), csize)
		}
		for _, secret := range []string{name, "quarterly", marker, md.MediaType} {
			if bytes.Contains(ct, []byte(secret)) || strings.Contains(path, secret) {
				t.Fatalf("the server's blob file %s contains %q", path, secret)
			}
		}
	}

	wire, err := md.MarshalBinary() // as it would travel in an MLS message
	if err != nil {
		t.Fatal(err)
	}
	got, err := attachment.ParseMetadata(wire)
	if err != nil {
		t.Fatal(err)
	}
	h, down := sha256.New(), &progressLog{t: t}
	if err := c.DownloadAttachment(ctx, got, h, down.record); err != nil {
		t.Fatalf("DownloadAttachment: %v", err)
	}
	want := sha256.New()
	io.Copy(want, markerReader(size))
	if !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
		t.Fatal("downloaded plaintext differs from the uploaded file")
	}
	if down.done != csize {
		t.Fatalf("download progress ended at %d, want %d", down.done, csize)
	}
}

func TestE2EAttachmentEmptyFile(t *testing.T) {
	ctx := context.Background()
	_, c, conv := attachSetup(t)
	md, err := c.UploadAttachment(ctx, conv, nil, 0, "", nil)
	if err != nil {
		t.Fatalf("UploadAttachment: %v", err)
	}
	var out bytes.Buffer
	if err := c.DownloadAttachment(ctx, md, &out, nil); err != nil || out.Len() != 0 {
		t.Fatalf("DownloadAttachment = %d bytes, %v", out.Len(), err)
	}
}

func TestE2EAttachmentUploadRefused(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		configure func(*server.Config)
		size      int64
		src       func(size int64) io.Reader
		want      []error
	}{
		{"over quota", func(c *server.Config) { c.Messaging.BlobQuota = 3 << 20 }, 4 << 20, markerReader,
			[]error{client.ErrBlobQuota}},
		{"too large", func(c *server.Config) { c.Messaging.MaxBlobBytes = 1 << 20 }, 2 << 20, markerReader,
			[]error{client.ErrBlobTooLarge}},
		{"source shorter than size", nil, 3 << 20, func(n int64) io.Reader { return markerReader(n - 100) },
			[]error{client.ErrUploadTruncated, client.ErrAttachmentSize}},
		{"source longer than size", nil, 3 << 20, func(n int64) io.Reader { return markerReader(n + 1) },
			[]error{client.ErrAttachmentSize}},
		{"bad file name", nil, 10, markerReader, []error{attachment.ErrMetadata}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var conf []func(*server.Config)
			if tt.configure != nil {
				conf = append(conf, tt.configure)
			}
			env, c, conv := attachSetup(t, conf...)
			name := "report.txt"
			if tt.name == "bad file name" {
				name = "../report.txt"
			}
			_, err := c.UploadAttachment(ctx, conv, tt.src(tt.size), tt.size, name, nil)
			for _, want := range tt.want {
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
			}
			if files := blobFiles(t, env); len(files) != 0 {
				t.Fatalf("a refused upload left %d files in the blob dir", len(files))
			}
		})
	}
}

func TestE2EAttachmentNotMember(t *testing.T) {
	ctx := context.Background()
	env, alice, conv := attachSetup(t)
	md, err := alice.UploadAttachment(ctx, conv, markerReader(10), 10, "a.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	mallory := env.SDKUser(t, "mallory", nil)
	if _, err := mallory.UploadAttachment(ctx, conv, markerReader(10), 10, "m.txt", nil); !errors.Is(err, client.ErrNotMember) {
		t.Fatalf("upload into another's conversation = %v, want ErrNotMember", err)
	}
	if err := mallory.DownloadAttachment(ctx, md, io.Discard, nil); !errors.Is(err, client.ErrNotMember) {
		t.Fatalf("download from another's conversation = %v, want ErrNotMember", err)
	}
}

func TestE2EAttachmentQuotaAfterUploads(t *testing.T) {
	ctx := context.Background()
	_, c, conv := attachSetup(t, func(c *server.Config) { c.Messaging.BlobQuota = 5 << 20 })
	if _, err := c.UploadAttachment(ctx, conv, markerReader(3<<20), 3<<20, "a.bin", nil); err != nil {
		t.Fatalf("first upload: %v", err)
	}
	_, err := c.UploadAttachment(ctx, conv, markerReader(3<<20), 3<<20, "b.bin", nil)
	if !errors.Is(err, client.ErrBlobQuota) {
		t.Fatalf("second upload = %v, want ErrBlobQuota", err)
	}
}

func TestE2EAttachmentDownloadRefused(t *testing.T) {
	ctx := context.Background()
	env, c, conv := attachSetup(t)
	const size = 300 << 10
	md, err := c.UploadAttachment(ctx, conv, markerReader(size), size, "a.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	var path string
	for p := range blobFiles(t, env) {
		path = p
	}
	orig, _ := os.ReadFile(path)
	reencrypted := encryptWith(t, md.Key, markerReader(size))
	tests := []struct {
		name string
		edit func(*attachment.Metadata)
		blob []byte // replaces the stored ciphertext when not nil
		want error
	}{
		{"unknown blob", func(m *attachment.Metadata) { m.BlobID = "bnosuchblob" }, nil, client.ErrBlobNotFound},
		{"wrong key", func(m *attachment.Metadata) { m.Key[0] ^= 1 }, nil, attachment.ErrWrongKey},
		{"wrong hash", func(m *attachment.Metadata) { m.SHA256[0] ^= 1 }, nil, client.ErrBlobMismatch},
		{"wrong size", func(m *attachment.Metadata) { m.PlaintextSize++; m.CiphertextSize++ }, nil, client.ErrBlobMismatch},
		{"blob cut short", nil, orig[:len(orig)/2], client.ErrDownloadTruncated},
		{"blob longer than announced", nil, append(bytes.Clone(orig), "more"...), client.ErrBlobMismatch},
		{"blob re-encrypted under the same key", nil, reencrypted, client.ErrBlobMismatch},
		{"flipped bit", nil, flipBit(orig, len(orig)-100), attachment.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := md
			if tt.edit != nil {
				tt.edit(&m)
			}
			if tt.blob != nil {
				writeBlob(t, path, tt.blob)
				defer writeBlob(t, path, orig)
			}
			var out bytes.Buffer
			if err := c.DownloadAttachment(ctx, m, &out, nil); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !bytes.HasPrefix(bytes.Repeat([]byte(marker), size/len(marker)+1), out.Bytes()) {
				t.Fatal("wrote bytes that are not the plaintext")
			}
		})
	}
}

func encryptWith(t *testing.T, key attachment.Key, src io.Reader) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := attachment.NewWriter(&buf, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, src); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func flipBit(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 1
	return b
}

func writeBlob(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The attachment benchmarks measure the whole path: encryption, TLS 1.3
// and HTTP/2 to the in-process server, and its fsynced blob store.
func BenchmarkE2EAttachmentUpload(b *testing.B) {
	const size = 16 << 20
	_, c, conv := attachSetup(b, func(c *server.Config) { c.Messaging.BlobQuota = 1 << 40 })
	b.SetBytes(size)
	for b.Loop() {
		if _, err := c.UploadAttachment(context.Background(), conv, markerReader(size), size, "b.bin", nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkE2EAttachmentDownload(b *testing.B) {
	const size = 16 << 20
	_, c, conv := attachSetup(b)
	md, err := c.UploadAttachment(context.Background(), conv, markerReader(size), size, "b.bin", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	for b.Loop() {
		if err := c.DownloadAttachment(context.Background(), md, io.Discard, nil); err != nil {
			b.Fatal(err)
		}
	}
}
