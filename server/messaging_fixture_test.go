package server_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/mls"
)

const suite = mls.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519

// member is a device taking part in MLS conversations through the server.
type member struct {
	testenv.Device
	e     *testenv.Env
	kp    *mls.KeyPackage
	priv  *mls.KeyPackagePrivate
	group *mls.Group
	conv  string
}

func newMember(t testing.TB, e *testenv.Env, d testenv.Device) *member {
	return &member{Device: d, e: e}
}

// upload publishes one fresh KeyPackage and keeps its private part.
func (m *member) upload(t testing.TB) {
	t.Helper()
	m.kp, m.priv = m.KeyPackage(t, suite)
	_, err := m.e.KeyPackages(m.Token).UploadKeyPackages(context.Background(), connect.NewRequest(
		&sealinev1.UploadKeyPackagesRequest{KeyPackages: [][]byte{testenv.Wire(t, m.kp)}}))
	if err != nil {
		t.Fatalf("upload key package: %v", err)
	}
}

// create makes a new MLS group and registers it as a conversation.
func (m *member) create(t testing.TB) {
	t.Helper()
	kp, priv := m.KeyPackage(t, suite)
	groupID := make([]byte, 16)
	rand.Read(groupID)
	g, err := mls.NewGroup(mls.Config{}, groupID, kp, priv, m.SignatureKey(t, suite), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := m.e.Conversations(m.Token).CreateConversation(context.Background(), connect.NewRequest(
		&sealinev1.CreateConversationRequest{GroupId: groupID, Kind: sealinev1.Conversation_KIND_GROUP}))
	if err != nil {
		t.Fatalf("create conversation: %v", err)
	}
	m.group, m.conv = g, resp.Msg.GetConversation().GetId()
}

// add claims the KeyPackages of userID's devices and commits their Add.
func (m *member) add(t testing.TB, userID string) []string {
	t.Helper()
	claim, err := m.e.KeyPackages(m.Token).ClaimKeyPackages(context.Background(), connect.NewRequest(
		&sealinev1.ClaimKeyPackagesRequest{UserId: userID}))
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	var kps []*mls.KeyPackage
	var ids []string
	for _, c := range claim.Msg.GetKeyPackages() {
		msg, err := mls.ParseMLSMessage(c.GetKeyPackage())
		if err != nil {
			t.Fatal(err)
		}
		kps, ids = append(kps, msg.KeyPackage), append(ids, c.GetDeviceId())
	}
	pc, err := m.group.Commit(mls.CommitParams{Add: kps})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.commit(pc, ids, &sealinev1.Welcome{Welcome: pc.Welcome, DeviceIds: ids})
	if err != nil {
		t.Fatalf("commit add: %v", err)
	}
	return ids
}

// commit submits pc and merges it when the server accepts it.
func (m *member) commit(pc *mls.PendingCommit, added []string, w *sealinev1.Welcome) (*sealinev1.CommitResponse, error) {
	req := &sealinev1.CommitRequest{ConversationId: m.conv, Epoch: m.group.Epoch(), Commit: pc.Commit, AddedDeviceIds: added}
	if w != nil {
		req.Welcomes = []*sealinev1.Welcome{w}
	}
	resp, err := m.e.Conversations(m.Token).Commit(context.Background(), connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return resp.Msg, m.group.MergeCommit(pc)
}

// send encrypts text for the group and sends it.
func (m *member) send(t testing.TB, text string) (*sealinev1.SendResponse, error) {
	t.Helper()
	wire, err := m.group.Encrypt([]byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	return m.sendWire(wire)
}

func (m *member) sendWire(wire []byte) (*sealinev1.SendResponse, error) {
	cmid := make([]byte, 16)
	rand.Read(cmid)
	resp, err := m.e.Messages(m.Token).Send(context.Background(), connect.NewRequest(&sealinev1.SendRequest{
		ConversationId: m.conv, ClientMessageId: cmid, Epoch: m.group.Epoch(), Message: wire,
	}))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

// inbox is an open Subscribe stream.
type inbox struct {
	stream *connect.ServerStreamForClient[sealinev1.SubscribeResponse]
	cancel context.CancelFunc
}

func (m *member) subscribe(t testing.TB, after uint64) *inbox {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := m.e.Messages(m.Token).Subscribe(ctx, connect.NewRequest(&sealinev1.SubscribeRequest{AfterCursor: after}))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	in := &inbox{stream: s, cancel: cancel}
	t.Cleanup(in.close)
	return in
}

func (in *inbox) close() {
	in.cancel()
	in.stream.Close()
}

// next returns the next envelope, skipping caught_up markers, or fails
// after timeout.
func (in *inbox) next(t testing.TB, timeout time.Duration) *sealinev1.Envelope {
	t.Helper()
	type got struct {
		env *sealinev1.Envelope
		ok  bool
	}
	ch := make(chan got, 1)
	go func() {
		for in.stream.Receive() {
			if env := in.stream.Msg().GetEnvelope(); env != nil {
				ch <- got{env, true}
				return
			}
		}
		ch <- got{}
	}()
	select {
	case g := <-ch:
		if !g.ok {
			t.Fatalf("stream ended: %v", in.stream.Err())
		}
		return g.env
	case <-time.After(timeout):
		t.Fatalf("no envelope within %v", timeout)
	}
	return nil
}

// join waits for a Welcome and joins the group from it.
func (m *member) join(t testing.TB, in *inbox, conv string) {
	t.Helper()
	env := in.next(t, 5*time.Second)
	if env.GetKind() != sealinev1.Envelope_KIND_WELCOME || env.GetConversationId() != conv {
		t.Fatalf("got %v, want a welcome to %s", env.GetKind(), conv)
	}
	msg, err := mls.ParseMLSMessage(env.GetPayload())
	if err != nil {
		t.Fatal(err)
	}
	g, err := mls.Join(mls.Config{}, mls.JoinParams{
		Welcome: msg.Welcome, KeyPackage: m.kp, Private: m.priv, SignatureKey: m.SignatureKey(t, suite),
	})
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	m.group, m.conv = g, conv
}

// receive processes the next envelope and returns the application text,
// if any.
func (m *member) receive(t testing.TB, in *inbox) (*sealinev1.Envelope, string) {
	t.Helper()
	env := in.next(t, 5*time.Second)
	r, err := m.group.Process(env.GetPayload())
	if err != nil {
		t.Fatalf("process %v: %v", env.GetKind(), err)
	}
	if r.Application != nil {
		return env, string(r.Application.Data)
	}
	return env, ""
}

// trio is alice (two devices) and bob in one conversation at epoch 1.
type trio struct {
	alice, alice2, bob *member
	inA2, inB          *inbox
}

func newTrio(t testing.TB, e *testenv.Env) *trio {
	t.Helper()
	a := newMember(t, e, e.RegisterDevice(t, "alice", "correct horse battery", "laptop"))
	a2 := newMember(t, e, e.LoginDevice(t, "alice", "correct horse battery", "phone"))
	b := newMember(t, e, e.RegisterDevice(t, "bob", "correct horse battery", "laptop"))
	a2.upload(t)
	b.upload(t)
	a.create(t)
	a.add(t, b.UserID)
	a.add(t, a.UserID)
	tr := &trio{alice: a, alice2: a2, bob: b, inA2: a2.subscribe(t, 0), inB: b.subscribe(t, 0)}
	b.join(t, tr.inB, a.conv)
	// bob then sees the commit adding alice's phone.
	if env, _ := b.receive(t, tr.inB); env.GetKind() != sealinev1.Envelope_KIND_COMMIT {
		t.Fatalf("bob got %v, want the second commit", env.GetKind())
	}
	a2.join(t, tr.inA2, a.conv)
	return tr
}
