package storetest

import (
	"reflect"
	"testing"

	"github.com/sealine/sealine/store"
)

// testCoMembers: users who share a conversation see each other, a user
// outside every shared conversation and unknown ids are left out, and a
// user who left (device removed from the member list) no longer counts.
func testCoMembers(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := newRoom(t, s, "co")
	carol := newAccount("co-carol")
	mustCreate(t, s, carol)
	lonely := store.Conversation{ID: "c-co-carol", GroupID: []byte("group-co-carol"), Kind: store.KindGroup, CreatedAt: t0}
	wantNoErr(t, "CreateConversation", s.CreateConversation(ctx, lonely, carol.u.ID, carol.d.ID))
	all := []string{r.a.u.ID, r.b.u.ID, carol.u.ID, "u-nobody", r.b.u.ID}
	for _, tc := range []struct {
		name string
		user string
		ids  []string
		want []string
	}{
		{"alice sees bob and herself", r.a.u.ID, all, []string{r.a.u.ID, r.b.u.ID}},
		{"bob sees alice", r.b.u.ID, []string{r.a.u.ID}, []string{r.a.u.ID}},
		{"carol shares nothing but sees herself", carol.u.ID, all, []string{carol.u.ID}},
		{"nobody", r.a.u.ID, []string{"u-nobody"}, nil},
		{"unknown caller", "u-nobody", all, nil},
		{"no ids", r.a.u.ID, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.CoMembers(ctx, tc.user, tc.ids)
			wantNoErr(t, "CoMembers", err)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("CoMembers(%s, %v) = %v, want %v", tc.user, tc.ids, got, tc.want)
			}
		})
	}
	c := r.commit("remove-b", 1)
	c.Removed = []string{r.b.d.ID}
	mustPost(t, s, c)
	got, err := s.CoMembers(ctx, r.a.u.ID, []string{r.b.u.ID})
	wantNoErr(t, "CoMembers after removal", err)
	if len(got) != 0 {
		t.Errorf("CoMembers after bob was removed = %v, want none", got)
	}
}
