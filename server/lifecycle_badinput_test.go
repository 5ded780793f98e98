package server_test

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/server"
)

// TestContactBadInput: malformed phone numbers and emails, a missing kind,
// an oversized value and clearing an unset attribute are each refused
// with their reason, and change nothing.
func TestContactBadInput(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	d := e.RegisterDevice(t, "mallory", withdrawPassword, "laptop")
	lc := lifecycleAs(e, d.Token)
	phone, email := sealinev1.ContactKind_CONTACT_KIND_PHONE, sealinev1.ContactKind_CONTACT_KIND_EMAIL
	before := e.DBDigest(t)
	for _, tc := range []struct {
		name   string
		kind   sealinev1.ContactKind
		value  string
		code   connect.Code
		reason string
	}{
		{"national phone", phone, "090-1234-5678", connect.CodeInvalidArgument, server.ReasonPhoneInvalid},
		{"short phone", phone, "+1234567", connect.CodeInvalidArgument, server.ReasonPhoneInvalid},
		{"letters in phone", phone, "+81 90 CALL ME", connect.CodeInvalidArgument, server.ReasonPhoneInvalid},
		{"email without domain dot", email, "a@localhost", connect.CodeInvalidArgument, server.ReasonEmailInvalid},
		{"email with display name", email, "A <a@example.org>", connect.CodeInvalidArgument, server.ReasonEmailInvalid},
		{"no kind", sealinev1.ContactKind_CONTACT_KIND_UNSPECIFIED, "+819012345678", connect.CodeInvalidArgument, server.ReasonFieldInvalid},
		{"too long", email, strings.Repeat("a", 300) + "@example.org", connect.CodeInvalidArgument, server.ReasonFieldTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lc.SetContact(ctx, connect.NewRequest(&sealinev1.SetContactRequest{Kind: tc.kind, Value: tc.value}))
			if connect.CodeOf(err) != tc.code || testenv.Reason(err) != tc.reason {
				t.Fatalf("SetContact = %v, want %v/%s", err, tc.code, tc.reason)
			}
			if strings.Contains(err.Error(), tc.value) && tc.value != "" {
				t.Error("the error echoes the value")
			}
		})
	}
	_, err := lc.ClearContact(ctx, connect.NewRequest(&sealinev1.ClearContactRequest{Kind: phone}))
	if connect.CodeOf(err) != connect.CodeNotFound || testenv.Reason(err) != server.ReasonContactNotSet {
		t.Fatalf("ClearContact of an unset phone = %v", err)
	}
	if e.DBDigest(t) != before {
		t.Fatal("refused requests changed the database")
	}
}
