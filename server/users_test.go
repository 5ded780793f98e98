package server_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/server"
)

func usersAs(e *testenv.Env, token string) sealinev1connect.UserServiceClient {
	return sealinev1connect.NewUserServiceClient(e.HTTP, e.URL, testenv.WithToken(token))
}

func lookup(e *testenv.Env, token string, ids ...string) (map[string]string, error) {
	resp, err := usersAs(e, token).LookupUsers(context.Background(), connect.NewRequest(&sealinev1.LookupUsersRequest{UserIds: ids}))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, u := range resp.Msg.GetUsers() {
		out[u.GetUserId()] = u.GetUsername() + "|" + u.GetDisplayName()
	}
	return out, nil
}

// TestLookupUsers: a caller learns its own name and its co-members'; a
// user it shares no conversation with, a withdrawn user and an unknown id
// are left out alike; bad requests are refused with their reasons; no
// looked-up id or name reaches the logs.
func TestLookupUsers(t *testing.T) {
	e := testenv.New(t)
	tr := newTrio(t, e)
	a, b := tr.alice, tr.bob
	carol := e.RegisterDevice(t, "carol", withdrawPassword, "laptop") // shares nothing
	dave := newMember(t, e, e.RegisterDevice(t, "dave", withdrawPassword, "laptop"))
	dave.upload(t)
	a.add(t, dave.UserID)
	if _, err := lookup(e, a.Token, dave.UserID); err != nil {
		t.Fatal(err)
	}
	if _, err := lifecycleAs(e, dave.Token).DeleteAccount(context.Background(),
		connect.NewRequest(&sealinev1.DeleteAccountRequest{Password: withdrawPassword})); err != nil {
		t.Fatal(err)
	}
	logsBefore := len(e.Logs())

	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("no-such-user-%d", i)
	}
	tests := []struct {
		name   string
		token  string
		ids    []string
		want   map[string]string
		code   connect.Code
		reason string
	}{
		{"own id", a.Token, []string{a.UserID}, map[string]string{a.UserID: "alice|alice"}, 0, ""},
		{"co-member", b.Token, []string{a.UserID}, map[string]string{a.UserID: "alice|alice"}, 0, ""},
		{"caller's other device", tr.alice2.Token, []string{b.UserID, a.UserID},
			map[string]string{a.UserID: "alice|alice", b.UserID: "bob|bob"}, 0, ""},
		{"non-co-member omitted", a.Token, []string{carol.UserID, b.UserID}, map[string]string{b.UserID: "bob|bob"}, 0, ""},
		{"non-co-member asks", carol.Token, []string{a.UserID, carol.UserID}, map[string]string{carol.UserID: "carol|carol"}, 0, ""},
		{"unknown omitted", a.Token, []string{"no-such-user"}, map[string]string{}, 0, ""},
		{"withdrawn omitted", a.Token, []string{dave.UserID}, map[string]string{}, 0, ""},
		{"100 ids", a.Token, many[:100], map[string]string{}, 0, ""},
		{"101 ids", a.Token, many, nil, connect.CodeInvalidArgument, server.ReasonFieldInvalid},
		{"no ids", a.Token, nil, nil, connect.CodeInvalidArgument, server.ReasonFieldInvalid},
		{"empty id", a.Token, []string{b.UserID, ""}, nil, connect.CodeInvalidArgument, server.ReasonFieldInvalid},
		{"duplicate id", a.Token, []string{b.UserID, b.UserID}, nil, connect.CodeInvalidArgument, server.ReasonFieldInvalid},
		{"id of 64 bytes", a.Token, []string{strings.Repeat("y", 64)}, map[string]string{}, 0, ""},
		{"id of 65 bytes", a.Token, []string{strings.Repeat("y", 65)}, nil, connect.CodeInvalidArgument, server.ReasonFieldTooLong},
		{"unauthenticated", "", []string{a.UserID}, nil, connect.CodeUnauthenticated, server.ReasonSessionInvalid},
		{"withdrawn caller", dave.Token, []string{a.UserID}, nil, connect.CodeUnauthenticated, server.ReasonSessionInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lookup(e, tc.token, tc.ids...)
			if tc.reason != "" {
				if connect.CodeOf(err) != tc.code || testenv.Reason(err) != tc.reason {
					t.Fatalf("err = %v (reason %q), want %v/%s", err, testenv.Reason(err), tc.code, tc.reason)
				}
				if d := testenv.Detail(err); tc.code == connect.CodeInvalidArgument && d.GetField() != "user_ids" {
					t.Errorf("field = %q, want user_ids", d.GetField())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equalMaps(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	logs := e.Logs()[logsBefore:]
	for _, secret := range []string{a.UserID, b.UserID, carol.UserID, dave.UserID, "alice", "carol"} {
		if bytes.Contains(logs, []byte(secret)) {
			t.Errorf("logs of LookupUsers contain %q", secret)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestLookupUsersRateLimited: each user has its own token bucket.
func TestLookupUsersRateLimited(t *testing.T) {
	e := testenv.New(t, func(c *server.Config) {
		c.Messaging.LookupBurst = 2
		c.Messaging.LookupInterval = time.Hour
	})
	a := e.RegisterDevice(t, "alice", withdrawPassword, "laptop")
	a2 := e.LoginDevice(t, "alice", withdrawPassword, "phone")
	b := e.RegisterDevice(t, "bob", withdrawPassword, "laptop")
	var reasons []string
	for _, tok := range []string{a.Token, a2.Token, a2.Token, b.Token} {
		_, err := lookup(e, tok, a.UserID)
		reasons = append(reasons, testenv.Reason(err))
		if err != nil && (connect.CodeOf(err) != connect.CodeResourceExhausted || testenv.Detail(err).GetRetryAfter() == nil) {
			t.Errorf("refusal %v: want resource_exhausted with retry_after", err)
		}
	}
	if want := []string{"", "", server.ReasonRateLimited, ""}; !slices.Equal(reasons, want) {
		t.Errorf("reasons = %q, want %q", reasons, want)
	}
}
