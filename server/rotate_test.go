package server_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/internal/pii"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/server"
)

// cancelAfter is a randomness source that cancels a context after n reads:
// each rewrap reads one nonce, so it stops a rotation in the middle of a
// batch, as a crash would.
type cancelAfter struct {
	n      atomic.Int32
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n.Add(-1) == 0 {
		c.cancel()
	}
	return rand.Read(p)
}

// TestRotateKEK: a rotation cancelled mid-batch leaves every account
// readable by the running server; run again it finishes; then every key
// is wrapped by the new KEK, the old KEK file is retired, and logins,
// device names and contacts still open.
func TestRotateKEK(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	var users []testenv.Device
	for i := range 6 {
		d := e.RegisterDevice(t, fmt.Sprintf("rot%d", i), withdrawPassword, "laptop")
		setContact(t, lifecycleAs(e, d.Token), sealinev1.ContactKind_CONTACT_KIND_EMAIL, fmt.Sprintf("rot%d@example.org", i))
		users = append(users, d)
	}
	kekFile := filepath.Join(e.DataDir, "kek.key")
	oldKEK, err := pii.LoadKEK(kekFile)
	if err != nil {
		t.Fatal(err)
	}

	cctx, cancel := context.WithCancel(ctx)
	crash := &cancelAfter{cancel: cancel}
	// One read makes the next KEK, four wrap the first batch (committed),
	// and the second read of the second batch cancels, mid-batch.
	crash.n.Store(7)
	cfg := e.Config
	cfg.Rand = crash // the rotation draws its nonces here
	withAdmin(t, cfg, func(a *server.Admin) error {
		_, err := a.RotateKEK(cctx, 4, nil)
		if !errors.Is(err, context.Canceled) {
			return fmt.Errorf("cancelled rotation: err = %v, want context.Canceled", err)
		}
		return nil
	})
	if _, err := os.Stat(kekFile + pii.NextSuffix); err != nil {
		t.Fatalf("no next KEK after the crash: %v", err)
	}
	next, err := pii.LoadKEK(kekFile + pii.NextSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if _, moved, err := e.Server.Store().Keys().CountKeys(ctx, next.KEKID()); err != nil || moved != 4 {
		t.Fatalf("after the crash %d keys are under the new KEK (%v), want the first batch of 4", moved, err)
	}
	checkReadable(t, e, users) // half rotated: the server reads both
	late := e.RegisterDevice(t, "rotlate", withdrawPassword, "laptop")
	users = append(users, late)

	var rep server.RotateReport
	withAdmin(t, e.Config, func(a *server.Admin) error {
		rep, err = a.RotateKEK(ctx, 4, nil)
		return err
	})
	// 6 users and the blind-index key were under the old KEK; the crashed
	// run moved a batch of 4; the late user's key was wrapped by the new KEK.
	if rep.Total != 8 || rep.Rewrapped != 3 || rep.NewKEKID == oldKEK.KEKID() {
		t.Fatalf("resumed rotation = %+v", rep)
	}
	retired, err := pii.LoadKEK(rep.RetiredFile)
	if err != nil || retired.KEKID() != oldKEK.KEKID() {
		t.Fatalf("retired KEK file: %v", err)
	}
	if _, err := os.Stat(kekFile + pii.NextSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the next KEK file remains")
	}
	total, byNew, err := e.Server.Store().Keys().CountKeys(ctx, rep.NewKEKID)
	if err != nil || total != byNew {
		t.Fatalf("CountKeys = %d, %d, %v: keys left under the old KEK", total, byNew, err)
	}
	checkReadable(t, e, users)
	os.Remove(rep.RetiredFile) // the old KEK is not needed any more
	checkReadable(t, e, users)
}

// checkReadable logs every user in again and opens their devices and
// contacts through the running server.
func checkReadable(t *testing.T, e *testenv.Env, users []testenv.Device) {
	t.Helper()
	ctx := context.Background()
	for i := range users {
		name := fmt.Sprintf("rot%d", i)
		if i == 6 {
			name = "rotlate"
		}
		d := e.LoginDevice(t, name, withdrawPassword, "check")
		x, err := lifecycleAs(e, d.Token).ExportAccount(ctx, connect.NewRequest(&sealinev1.ExportAccountRequest{}))
		if err != nil || x.Msg.GetUsername() != name || len(x.Msg.GetDevices()) < 2 {
			t.Fatalf("export of %s: %v, %v", name, x, err)
		}
		if i < 6 && x.Msg.GetEmail() != name+"@example.org" {
			t.Fatalf("email of %s = %q", name, x.Msg.GetEmail())
		}
	}
}

// TestRotateKEKMissingFile: with no KEK file the rotation refuses and
// creates nothing.
func TestRotateKEKMissingFile(t *testing.T) {
	e := testenv.New(t)
	cfg := e.Config
	cfg.KEKFile = filepath.Join(t.TempDir(), "missing.key")
	withAdmin(t, cfg, func(a *server.Admin) error {
		_, err := a.RotateKEK(context.Background(), 10, nil)
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate with a missing KEK file: err = %v, want not exist", err)
		}
		return nil
	})
	if _, err := os.Stat(cfg.KEKFile + pii.NextSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused rotation created a next KEK")
	}
}

// TestWrongKEKRefused: a server started on existing data with another KEK
// refuses to start instead of serving users it cannot read.
func TestWrongKEKRefused(t *testing.T) {
	e := testenv.New(t)
	e.RegisterDevice(t, "wanda", withdrawPassword, "laptop")
	if err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	cfg := e.Config
	cfg.KEKFile = filepath.Join(t.TempDir(), "other.key")
	s, err := server.New(context.Background(), cfg)
	if err == nil {
		s.Close()
		t.Fatal("a server with another KEK started")
	}
	if !errors.Is(err, pii.ErrUnknownKEK) {
		t.Fatalf("err = %v, want ErrUnknownKEK", err)
	}
}
