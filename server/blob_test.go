package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/sealine/sealine/internal/testenv"
)

// TestBlobRoundTrip50MiB: a 50 MiB attachment goes up in 1 MiB chunks and
// comes back byte for byte to another member; the file is 0600 in a 0700
// directory and the uploader's usage counts it.
func TestBlobRoundTrip50MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MiB round trip")
	}
	e := testenv.New(t)
	tr := newTrio(t, e)
	data := make([]byte, 50<<20)
	rand.Read(data)
	id := upload(t, e, tr.alice, tr.alice.conv, data)
	got, err := download(e, tr.bob, id)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatal("downloaded blob differs")
	}
	used, err := e.Server.Store().BlobUsage(context.Background(), tr.alice.UserID)
	if err != nil || used != int64(len(data)) {
		t.Errorf("usage = %d, %v; want %d", used, err, len(data))
	}
	files := blobFiles(t, e)
	if len(files) != 1 || filepath.Base(files[0]) != id {
		t.Fatalf("blob files = %v, want one named %s", files, id)
	}
	checkMode(t, files[0], 0o600)
	checkMode(t, filepath.Dir(files[0]), 0o700|os.ModeDir)
	checkMode(t, filepath.Join(e.DataDir, "blobs"), 0o700|os.ModeDir)
	if b, _ := os.ReadFile(files[0]); !bytes.Equal(b, data) {
		t.Error("stored file is not the ciphertext uploaded")
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != want {
		t.Errorf("%s mode = %v, want %v", path, fi.Mode(), want)
	}
}
