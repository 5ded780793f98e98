package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/mls"
	"github.com/sealine/sealine/server"
)

// TestMessagingBadInput: every refused messaging request gets its code and
// reason and changes nothing: no row of the store, no blob file.
func TestMessagingBadInput(t *testing.T) {
	e := testenv.New(t, func(c *server.Config) {
		c.Messaging.BlobQuota = 3 << 20
		c.Messaging.MaxBlobBytes = 2 << 20
		c.Messaging.ClaimBurst = 5
		c.Messaging.ClaimInterval = time.Hour
	})
	tr := newTrio(t, e)
	a, b := tr.alice, tr.bob
	carol := newMember(t, e, e.RegisterDevice(t, "carol", "correct horse battery", "laptop"))
	carol.conv, carol.group = a.conv, a.group
	upload(t, e, a, a.conv, make([]byte, 2<<20)) // 2 of 3 MiB used
	stale := staleCommit(t, tr)
	bobsBlob := upload(t, e, b, b.conv, []byte("bob's attachment"))
	otherConv := newMember(t, e, e.LoginDevice(t, "carol", "correct horse battery", "phone"))
	otherConv.create(t)
	carolsBlob := upload(t, e, otherConv, otherConv.conv, []byte("not for alice"))
	for _, m := range []*member{a, b, carol} { // touch last-seen before comparing
		if _, err := e.KeyPackages(m.Token).KeyPackageStatus(context.Background(), connect.NewRequest(&sealinev1.KeyPackageStatusRequest{})); err != nil {
			t.Fatal(err)
		}
	}
	_ = bobsBlob
	ctx := context.Background()
	kps := e.KeyPackages(a.Token)
	uploadKP := func(raw []byte) error {
		_, err := kps.UploadKeyPackages(ctx, connect.NewRequest(&sealinev1.UploadKeyPackagesRequest{KeyPackages: [][]byte{raw}}))
		return err
	}
	tests := []struct {
		name   string
		call   func() error
		code   connect.Code
		reason string
	}{
		{"key package signed by a foreign key", func() error {
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			d := a.Device
			d.Key = other
			kp, _ := d.KeyPackage(t, suite)
			return uploadKP(testenv.Wire(t, kp))
		}, connect.CodePermissionDenied, "key_package_foreign"},
		{"key package of another device", func() error {
			kp, _ := b.KeyPackage(t, suite)
			return uploadKP(testenv.Wire(t, kp))
		}, connect.CodePermissionDenied, "key_package_foreign"},
		{"key package in a suite not allowed", func() error {
			kp, _ := a.KeyPackage(t, mls.MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519)
			return uploadKP(testenv.Wire(t, kp))
		}, connect.CodeInvalidArgument, "key_package_invalid"},
		{"key package garbage", func() error { return uploadKP([]byte{0, 1, 0, 5, 1, 2, 3}) },
			connect.CodeInvalidArgument, "key_package_invalid"},
		{"key package tampered", func() error {
			kp, _ := a.KeyPackage(t, suite)
			raw := testenv.Wire(t, kp)
			raw[len(raw)-1] ^= 1
			return uploadKP(raw)
		}, connect.CodeInvalidArgument, "key_package_invalid"},
		{"claim a user without key packages", func() error {
			_, err := kps.ClaimKeyPackages(ctx, connect.NewRequest(&sealinev1.ClaimKeyPackagesRequest{Username: "carol"}))
			return err
		}, connect.CodeNotFound, "no_key_packages"},
		{"claim an unknown user", func() error {
			_, err := kps.ClaimKeyPackages(ctx, connect.NewRequest(&sealinev1.ClaimKeyPackagesRequest{UserId: "u-nobody"}))
			return err
		}, connect.CodeNotFound, "user_not_found"},
		{"send to a conversation I am not in", func() error { _, err := carol.send(t, "let me in"); return err },
			connect.CodePermissionDenied, "not_member"},
		{"send an oversized message", func() error { _, err := a.send(t, string(make([]byte, 200<<10))); return err },
			connect.CodeResourceExhausted, "too_large"},
		{"send a request over 256 KiB", func() error { _, err := a.sendWire(make([]byte, 300<<10)); return err },
			connect.CodeResourceExhausted, "message_too_large"},
		{"send a malformed MLSMessage", func() error { _, err := a.sendWire([]byte{0, 1, 0, 2, 0xff}); return err },
			connect.CodeInvalidArgument, "message_invalid"},
		{"send a handshake as application", func() error { _, err := a.sendWire(stale.Commit); return err },
			connect.CodeInvalidArgument, "message_invalid"},
		{"commit for a stale epoch", func() error {
			_, err := e.Conversations(a.Token).Commit(ctx, connect.NewRequest(&sealinev1.CommitRequest{
				ConversationId: a.conv, Epoch: a.group.Epoch(), Commit: stale.Commit}))
			return err
		}, connect.CodeFailedPrecondition, "stale_epoch"},
		{"commit with a Welcome that is not one", func() error {
			pc, _ := b.group.Commit(mls.CommitParams{ForcePath: true})
			_, err := e.Conversations(b.Token).Commit(ctx, connect.NewRequest(&sealinev1.CommitRequest{
				ConversationId: b.conv, Epoch: b.group.Epoch(), Commit: pc.Commit,
				Welcomes: []*sealinev1.Welcome{{Welcome: stale.Commit, DeviceIds: []string{carol.DeviceID}}}}))
			return err
		}, connect.CodeInvalidArgument, "message_invalid"},
		{"create-conversation request over 64 KiB", func() error {
			_, err := e.Conversations(a.Token).CreateConversation(ctx, connect.NewRequest(&sealinev1.CreateConversationRequest{
				GroupId: make([]byte, 70<<10), Kind: sealinev1.Conversation_KIND_GROUP}))
			return err
		}, connect.CodeResourceExhausted, "message_too_large"},
		{"group id over 64 bytes", func() error {
			_, err := e.Conversations(a.Token).CreateConversation(ctx, connect.NewRequest(&sealinev1.CreateConversationRequest{
				GroupId: make([]byte, 65), Kind: sealinev1.Conversation_KIND_GROUP}))
			return err
		}, connect.CodeInvalidArgument, "field_invalid"},
		{"claims past the rate limit", func() error {
			claim := func() error {
				_, err := e.KeyPackages(b.Token).ClaimKeyPackages(ctx, connect.NewRequest(&sealinev1.ClaimKeyPackagesRequest{Username: "carol"}))
				return err
			}
			for range 10 { // the burst is 5
				if err := claim(); testenv.Reason(err) == "rate_limited" {
					return err
				}
			}
			return nil
		}, connect.CodeResourceExhausted, "rate_limited"},
		{"ack an unknown cursor", func() error {
			_, err := e.Messages(a.Token).Ack(ctx, connect.NewRequest(&sealinev1.AckRequest{UpToCursor: 1 << 40}))
			return err
		}, connect.CodeInvalidArgument, "unknown_cursor"},
		{"attachment over quota", func() error { return uploadErr(e, a, a.conv, make([]byte, 1536<<10), 0) },
			connect.CodeResourceExhausted, "quota"},
		{"attachment over the max size", func() error { return uploadErr(e, b, b.conv, make([]byte, 3<<20), 0) },
			connect.CodeResourceExhausted, "too_large"},
		{"truncated upload", func() error { return uploadErr(e, b, b.conv, make([]byte, 1000), 500) },
			connect.CodeInvalidArgument, "upload_truncated"},
		{"upload to a conversation I am not in", func() error { return uploadErr(e, carol, a.conv, []byte("x"), 0) },
			connect.CodePermissionDenied, "not_member"},
		{"download another conversation's blob", func() error { _, err := download(e, a, carolsBlob); return err },
			connect.CodePermissionDenied, "not_member"},
		{"download an unknown blob", func() error { _, err := download(e, a, "b0000"); return err },
			connect.CodeNotFound, "blob_not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := blobFiles(t, e)
			unchanged(t, e, func() { wantErr(t, tc.call(), tc.code, tc.reason) })
			if after := blobFiles(t, e); !slices.Equal(files, after) {
				t.Errorf("blob files changed: %v -> %v", files, after)
			}
		})
	}
}

// staleCommit returns a commit of alice's made for epoch 2 after bob's
// commit for epoch 2 won.
func staleCommit(t *testing.T, tr *trio) *mls.PendingCommit {
	t.Helper()
	stale, err := tr.alice.group.Commit(mls.CommitParams{ForcePath: true})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := tr.bob.group.Commit(mls.CommitParams{ForcePath: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.bob.commit(pc, nil, nil); err != nil {
		t.Fatal(err)
	}
	return stale
}

// upload stores data as a blob of conv and returns its id.
func upload(t *testing.T, e *testenv.Env, m *member, conv string, data []byte) string {
	t.Helper()
	id, err := uploadBlob(e, m, conv, data, 0)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	return id
}

func uploadErr(e *testenv.Env, m *member, conv string, data []byte, cut int) error {
	_, err := uploadBlob(e, m, conv, data, cut)
	return err
}

// uploadBlob sends a header for len(data) bytes, then data in 1 MiB
// chunks, stopping after cut bytes when cut > 0.
func uploadBlob(e *testenv.Env, m *member, conv string, data []byte, cut int) (string, error) {
	stream := e.Blobs(m.Token).UploadBlob(context.Background())
	err := stream.Send(&sealinev1.UploadBlobRequest{Part: &sealinev1.UploadBlobRequest_Header_{
		Header: &sealinev1.UploadBlobRequest_Header{Size: int64(len(data)), ConversationId: conv}}})
	if cut > 0 {
		data = data[:cut]
	}
	for len(data) > 0 && err == nil {
		n := min(len(data), 1<<20)
		err = stream.Send(&sealinev1.UploadBlobRequest{Part: &sealinev1.UploadBlobRequest_Chunk{Chunk: data[:n]}})
		data = data[n:]
	}
	resp, err := stream.CloseAndReceive()
	if err != nil {
		return "", err
	}
	return resp.Msg.GetBlobId(), nil
}

// download fetches a blob and checks that the size came first.
func download(e *testenv.Env, m *member, id string) ([]byte, error) {
	stream, err := e.Blobs(m.Token).DownloadBlob(context.Background(), connect.NewRequest(&sealinev1.DownloadBlobRequest{BlobId: id}))
	if err != nil {
		return nil, err
	}
	defer stream.Close()
	var buf bytes.Buffer
	size := int64(-1)
	for stream.Receive() {
		switch p := stream.Msg().GetPart().(type) {
		case *sealinev1.DownloadBlobResponse_Size:
			size = p.Size
		case *sealinev1.DownloadBlobResponse_Chunk:
			if size < 0 {
				return nil, connect.NewError(connect.CodeInternal, nil)
			}
			buf.Write(p.Chunk)
		}
	}
	if err := stream.Err(); err != nil {
		return nil, err
	}
	if int64(buf.Len()) != size {
		return nil, connect.NewError(connect.CodeDataLoss, nil)
	}
	return buf.Bytes(), nil
}

// blobFiles lists every file under the blob store.
func blobFiles(t *testing.T, e *testenv.Env) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(e.DataDir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
