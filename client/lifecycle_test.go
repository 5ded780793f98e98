package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/internal/testenv"
)

// TestE2ELifecycle: contact attributes, export and withdrawal through the
// SDK, with the server's refusals mapped to sentinels.
func TestE2ELifecycle(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	c := newClient(t, env)
	register(t, c, "ursula")
	if _, err := c.SetContact(ctx, client.Phone, "0312345678"); !errors.Is(err, client.ErrContactInvalid) {
		t.Fatalf("national phone: %v, want ErrContactInvalid", err)
	}
	if _, err := c.SetContact(ctx, client.Email, "not an address"); !errors.Is(err, client.ErrContactInvalid) {
		t.Fatalf("bad email: %v, want ErrContactInvalid", err)
	}
	if err := c.ClearContact(ctx, client.Email); !errors.Is(err, client.ErrContactNotSet) {
		t.Fatalf("clear unset: %v, want ErrContactNotSet", err)
	}
	if got, err := c.SetContact(ctx, client.Phone, "+44 (20) 7946-0958"); err != nil || got != "+442079460958" {
		t.Fatalf("SetContact = %q, %v", got, err)
	}
	if _, err := c.SetContact(ctx, client.Email, "Ursula@Example.COM"); err != nil {
		t.Fatal(err)
	}
	x, err := c.ExportAccount(ctx)
	if err != nil || x.Username != "ursula" || x.Phone != "+442079460958" || x.Email != "ursula@example.com" ||
		len(x.Devices) != 1 || !x.Devices[0].Current {
		t.Fatalf("ExportAccount = %+v, %v", x, err)
	}
	if _, err := c.DeleteAccount(ctx, "wrong password"); !errors.Is(err, client.ErrBadCredentials) {
		t.Fatalf("delete with a wrong password: %v", err)
	}
	if !c.LoggedIn() {
		t.Fatal("a refused delete removed the local state")
	}
	w, err := c.DeleteAccount(ctx, "correct horse")
	if err != nil || w.Devices != 1 {
		t.Fatalf("DeleteAccount = %+v, %v", w, err)
	}
	if c.LoggedIn() {
		t.Fatal("the local state remains after the withdrawal")
	}
	if _, err := c.ExportAccount(ctx); !errors.Is(err, client.ErrNotLoggedIn) {
		t.Fatalf("export after withdrawal: %v", err)
	}
}
