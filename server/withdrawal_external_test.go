package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/mls"
	"github.com/sealine/sealine/server"
)

// createWithServer makes m's new group list the server (ServerInfo) as
// its external sender and registers it with external_sender set.
func createWithServer(t *testing.T, m *member) {
	t.Helper()
	info, err := m.e.Conversations(m.Token).ServerInfo(context.Background(), connect.NewRequest(&sealinev1.ServerInfoRequest{}))
	if err != nil {
		t.Fatalf("server info: %v", err)
	}
	if len(info.Msg.GetExternalSenderKey()) != 32 || info.Msg.GetExternalSenderIdentity() != server.ExternalSenderIdentity {
		t.Fatalf("server info = %v", info.Msg)
	}
	ext, err := mls.ExternalSendersExtension([]mls.ExternalSender{{SignatureKey: info.Msg.GetExternalSenderKey(),
		Credential: mls.Credential{Type: mls.CredentialBasic, Identity: []byte(info.Msg.GetExternalSenderIdentity())}}})
	if err != nil {
		t.Fatal(err)
	}
	kp, priv := m.KeyPackage(t, suite)
	groupID := make([]byte, 16)
	rand.Read(groupID)
	g, err := mls.NewGroup(mls.Config{}, groupID, kp, priv, m.SignatureKey(t, suite), []mls.Extension{ext})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := m.e.Conversations(m.Token).CreateConversation(context.Background(), connect.NewRequest(
		&sealinev1.CreateConversationRequest{GroupId: groupID, Kind: sealinev1.Conversation_KIND_GROUP, ExternalSender: true}))
	if err != nil {
		t.Fatalf("create conversation: %v", err)
	}
	m.group, m.conv = g, resp.Msg.GetConversation().GetId()
}

// addWithLeaves commits, as m, the Add of every device of users, telling
// the server each added leaf; it returns the commit's cursor in m's queue.
func addWithLeaves(t *testing.T, m *member, users ...string) uint64 {
	t.Helper()
	var kps []*mls.KeyPackage
	var ids []string
	device := map[string]string{} // identity -> device id
	for _, u := range users {
		claim, err := m.e.KeyPackages(m.Token).ClaimKeyPackages(context.Background(), connect.NewRequest(
			&sealinev1.ClaimKeyPackagesRequest{UserId: u}))
		if err != nil {
			t.Fatalf("claim: %v", err)
		}
		for _, c := range claim.Msg.GetKeyPackages() {
			msg, err := mls.ParseMLSMessage(c.GetKeyPackage())
			if err != nil {
				t.Fatal(err)
			}
			kps, ids = append(kps, msg.KeyPackage), append(ids, c.GetDeviceId())
			device[string(msg.KeyPackage.LeafNode.Credential.Identity)] = c.GetDeviceId()
		}
	}
	pc, err := m.group.Commit(mls.CommitParams{Add: kps})
	if err != nil {
		t.Fatal(err)
	}
	req := &sealinev1.CommitRequest{ConversationId: m.conv, Epoch: m.group.Epoch(), Commit: pc.Commit, AddedDeviceIds: ids,
		Welcomes: []*sealinev1.Welcome{{Welcome: pc.Welcome, DeviceIds: ids}}}
	for _, leaf := range pc.Info.Added {
		id := device[string(pc.LeafNode(leaf).Credential.Identity)]
		req.AddedLeaves = append(req.AddedLeaves, &sealinev1.DeviceLeaf{DeviceId: id, LeafIndex: uint32(leaf)})
	}
	resp, err := m.e.Conversations(m.Token).Commit(context.Background(), connect.NewRequest(req))
	if err != nil {
		t.Fatalf("commit add: %v", err)
	}
	if err := m.group.MergeCommit(pc); err != nil {
		t.Fatal(err)
	}
	return resp.Msg.GetCursor()
}

// TestWithdrawalExternalRemove: carol, with two devices, withdraws from
// a group bob created with the server as external sender. Bob and dave
// each receive one Remove proposal per device of hers, signed by the
// server; bob commits them by reference; dave follows; carol's devices
// are out of the roster, and bob and dave still talk.
func TestWithdrawalExternalRemove(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	bob := newMember(t, e, e.RegisterDevice(t, "bob", withdrawPassword, "laptop"))
	carol := newMember(t, e, e.RegisterDevice(t, "zq8carol", withdrawPassword, "laptop"))
	carol2 := newMember(t, e, e.LoginDevice(t, "zq8carol", withdrawPassword, "phone"))
	dave := newMember(t, e, e.RegisterDevice(t, "dave", withdrawPassword, "laptop"))
	for _, m := range []*member{carol, carol2, dave} {
		m.upload(t)
	}
	createWithServer(t, bob)
	cursor := addWithLeaves(t, bob, carol.UserID, dave.UserID)
	inB, inD := bob.subscribe(t, cursor), dave.subscribe(t, 0)
	dave.join(t, inD, bob.conv)
	if n := len(dave.group.Members()); n != 4 {
		t.Fatalf("%d members, want 4", n)
	}

	_, err := lifecycleAs(e, carol.Token).DeleteAccount(ctx, connect.NewRequest(&sealinev1.DeleteAccountRequest{Password: withdrawPassword}))
	if err != nil {
		t.Fatal(err)
	}
	gone := [][]byte{carol.Identity(), carol2.Identity()}
	for _, m := range []struct {
		who *member
		in  *inbox
	}{{bob, inB}, {dave, inD}} {
		for range gone {
			env := m.in.next(t, 5*time.Second)
			if env.GetKind() != sealinev1.Envelope_KIND_PROPOSAL || env.GetSenderDeviceId() != "" {
				t.Fatalf("got %v from %q, want the server's proposal", env.GetKind(), env.GetSenderDeviceId())
			}
			r, err := m.who.group.Process(env.GetPayload())
			if err != nil {
				t.Fatalf("process the server's proposal: %v", err)
			}
			if r.Sender.Type != mls.SenderExternal || r.Proposal.Type != mls.ProposalRemove {
				t.Fatalf("received %+v", r)
			}
		}
	}

	pc, err := bob.group.Commit(mls.CommitParams{}) // the cached Removes, by reference
	if err != nil {
		t.Fatal(err)
	}
	if len(pc.Info.Removed) != 2 {
		t.Fatalf("commit removes %v, want carol's two leaves", pc.Info.Removed)
	}
	if _, err := bob.commit(pc, nil, nil); err != nil {
		t.Fatalf("commit the removal: %v", err)
	}
	if env := inB.next(t, 5*time.Second); env.GetKind() != sealinev1.Envelope_KIND_COMMIT {
		t.Fatalf("bob got %v, want his commit's echo", env.GetKind())
	}
	if env, _ := dave.receive(t, inD); env.GetKind() != sealinev1.Envelope_KIND_COMMIT {
		t.Fatalf("dave got %v, want bob's removal commit", env.GetKind())
	}
	if dave.group.Epoch() != bob.group.Epoch() || !bytes.Equal(dave.group.EpochAuthenticator(), bob.group.EpochAuthenticator()) {
		t.Fatalf("dave at epoch %d, bob at %d", dave.group.Epoch(), bob.group.Epoch())
	}
	for _, mem := range dave.group.Members() {
		for _, id := range gone {
			if bytes.Equal(mem.Credential.Identity, id) {
				t.Fatalf("withdrawn device %s still in the roster", id)
			}
		}
	}
	if n := len(dave.group.Members()); n != 2 {
		t.Fatalf("%d members after the removal, want 2", n)
	}
	if _, err := bob.send(t, "past the removal"); err != nil {
		t.Fatal(err)
	}
	if _, text := dave.receive(t, inD); text != "past the removal" {
		t.Fatalf("dave got %q", text)
	}
}

// TestCommitAddedLeavesRefused: added_leaves naming a device the commit
// does not add, or one device twice, is invalid_argument/field_invalid,
// and the conversation stays at its epoch.
func TestCommitAddedLeavesRefused(t *testing.T) {
	e := testenv.New(t)
	bob := newMember(t, e, e.RegisterDevice(t, "bob", withdrawPassword, "laptop"))
	dave := newMember(t, e, e.RegisterDevice(t, "dave", withdrawPassword, "laptop"))
	dave.upload(t)
	createWithServer(t, bob)
	claim, err := e.KeyPackages(bob.Token).ClaimKeyPackages(context.Background(), connect.NewRequest(
		&sealinev1.ClaimKeyPackagesRequest{UserId: dave.UserID}))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mls.ParseMLSMessage(claim.Msg.GetKeyPackages()[0].GetKeyPackage())
	if err != nil {
		t.Fatal(err)
	}
	pc, err := bob.group.Commit(mls.CommitParams{Add: []*mls.KeyPackage{msg.KeyPackage}})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{dave.DeviceID}
	for _, tc := range []struct {
		name   string
		leaves []*sealinev1.DeviceLeaf
	}{
		{"not added", []*sealinev1.DeviceLeaf{{DeviceId: bob.DeviceID, LeafIndex: 0}}},
		{"twice", []*sealinev1.DeviceLeaf{{DeviceId: dave.DeviceID, LeafIndex: 1}, {DeviceId: dave.DeviceID, LeafIndex: 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &sealinev1.CommitRequest{ConversationId: bob.conv, Epoch: bob.group.Epoch(), Commit: pc.Commit, AddedDeviceIds: ids,
				Welcomes: []*sealinev1.Welcome{{Welcome: pc.Welcome, DeviceIds: ids}}, AddedLeaves: tc.leaves}
			_, err := e.Conversations(bob.Token).Commit(context.Background(), connect.NewRequest(req))
			if connect.CodeOf(err) != connect.CodeInvalidArgument || testenv.Reason(err) != server.ReasonFieldInvalid {
				t.Fatalf("commit = %v, want invalid_argument/field_invalid", err)
			}
			list, err := e.Conversations(bob.Token).ListConversations(context.Background(), connect.NewRequest(&sealinev1.ListConversationsRequest{}))
			if err != nil || list.Msg.GetConversations()[0].GetEpoch() != 0 {
				t.Fatalf("conversations after a refused commit: %v, %v", list.Msg.GetConversations(), err)
			}
		})
	}
}
