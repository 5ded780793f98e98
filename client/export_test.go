package client

import "context"

// AddUnchecked adds every device of each user even to a direct
// conversation, as a malicious or buggy member could: tests use it to
// check that the other members notice.
func (m *Messenger) AddUnchecked(ctx context.Context, convID string, usernames ...string) error {
	m.op.Lock()
	defer m.op.Unlock()
	var adds []claimed
	for _, u := range usernames {
		c, err := m.claim(ctx, u, "")
		if err != nil {
			return err
		}
		adds = append(adds, c...)
	}
	return m.commitAdds(ctx, convID, adds)
}
