package sqlstore

import (
	"context"
	"fmt"
	"strings"
)

// CoMembers returns those of userIDs with a device in a conversation that
// also has a device of userID: one query, from userID's devices through
// their memberships to the other members' devices.
func (s *Store) CoMembers(ctx context.Context, userID string, userIDs []string) ([]string, error) {
	if len(userIDs) == 0 {
		return nil, nil
	}
	q, err := s.reader()
	if err != nil {
		return nil, err
	}
	list := make([]string, len(userIDs))
	args := make([]any, 0, len(userIDs)+1)
	args = append(args, userID)
	for i, id := range userIDs {
		list[i] = fmt.Sprintf("$%d", i+2)
		args = append(args, id)
	}
	out, err := collectQuery(ctx, q, `SELECT DISTINCT theirs.user_id FROM devices mine
		JOIN conversation_members m1 ON m1.device_id = mine.id
		JOIN conversation_members m2 ON m2.conversation_id = m1.conversation_id
		JOIN devices theirs ON theirs.id = m2.device_id
		WHERE mine.user_id = $1 AND theirs.user_id IN (`+strings.Join(list, ", ")+`)
		ORDER BY theirs.user_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("co-members: %w", err)
	}
	return out, nil
}
