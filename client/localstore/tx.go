package localstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Tx is one transaction; it is valid only inside Update or View.
type Tx struct {
	tx *sql.Tx
	s  *Store

	q   *queue // QueueMessage's rows not yet written; nil if none since the last release
	err error  // a failed flush before a query: the transaction fails
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("localstore: %w", err)
	}
	return nil
}

func (tx *Tx) exec(query string, args ...any) error {
	if _, err := tx.execResult(query, args...); err != nil {
		return fmt.Errorf("localstore: %w", err)
	}
	return nil
}

// execResult, queryRow and query run a statement prepared once per Store
// (parsing SQL costs more than running these small statements).
func (tx *Tx) execResult(query string, args ...any) (sql.Result, error) {
	if err := tx.flush(); err != nil {
		return nil, err
	}
	if st := tx.s.stmts[query]; st != nil {
		return tx.tx.Stmt(st).Exec(args...)
	}
	return tx.tx.Exec(query, args...)
}

func (tx *Tx) queryRow(query string, args ...any) *sql.Row {
	if err := tx.flush(); err != nil {
		tx.err = err
	}
	if st := tx.s.stmts[query]; st != nil {
		return tx.tx.Stmt(st).QueryRow(args...)
	}
	return tx.tx.QueryRow(query, args...)
}

func (tx *Tx) query(query string, args ...any) (*sql.Rows, error) {
	if err := tx.flush(); err != nil {
		return nil, err
	}
	return tx.tx.Query(query, args...)
}

// The statements on the message path, prepared once when the Store opens
// (parsing SQL costs more than running these small statements).
const (
	qMeta    = `SELECT value FROM meta WHERE key = ?`
	qSetMeta = `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`
	qPutGroup = `INSERT INTO groups (` + groupCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (conv_id) DO UPDATE SET
		group_id = excluded.group_id, direct = excluded.direct, peer = excluded.peer, epoch = excluded.epoch,
		send_epoch = excluded.send_epoch, send_seq = excluded.send_seq, prev_epoch = excluded.prev_epoch,
		prev_count = excluded.prev_count, name = excluded.name, state = excluded.state, updated = excluded.updated`
	qSender    = `SELECT epoch, highest, missing FROM senders WHERE conv_id = ? AND sender = ?`
	qPutSender = `INSERT INTO senders (conv_id, sender, epoch, highest, missing) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (conv_id, sender) DO UPDATE SET epoch = excluded.epoch, highest = excluded.highest,
		missing = excluded.missing`
	qPutMessage = `INSERT INTO messages (conv_id, msg_id, sender, seq, kind, sent_at, received_at, body)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`
)

var hotQueries = []string{qMeta, qSetMeta, qPutGroup, qSender, qPutSender, qPutMessage}

func (tx *Tx) meta(key string) ([]byte, error) {
	var v []byte
	err := tx.queryRow(qMeta, key).Scan(&v)
	return v, notFound(err)
}

func (tx *Tx) setMeta(key string, value []byte) error {
	return tx.exec(qSetMeta, key, value)
}

// Cursor returns the last delivery cursor processed (0 if none).
func (tx *Tx) Cursor() (uint64, error) {
	v, err := tx.meta("cursor")
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(string(v), 10, 64)
}

// SetCursor records the last delivery cursor processed.
func (tx *Tx) SetCursor(c uint64) error {
	return tx.setMeta("cursor", []byte(strconv.FormatUint(c, 10)))
}

// Group is one conversation's local state.
type Group struct {
	ConvID  string
	GroupID []byte
	Direct  bool
	Peer    string // the other user of a direct conversation
	Epoch   uint64
	// The device's own send counters: SendSeq messages sent in SendEpoch,
	// and PrevCount in PrevEpoch, the last earlier epoch it sent in.
	SendEpoch, SendSeq   uint64
	PrevEpoch, PrevCount uint64
	Name                 string // sealed
	State                []byte // sealed serialized MLS state; may be empty
	Updated              time.Time
}

// PutGroup inserts or replaces a conversation's state.
func (tx *Tx) PutGroup(g Group) error {
	name, err := tx.s.key.seal(tx.s.rand, []byte(g.Name), "groups", g.ConvID, "name")
	if err != nil {
		return err
	}
	state, err := tx.s.key.seal(tx.s.rand, g.State, "groups", g.ConvID, "state")
	if err != nil {
		return err
	}
	return tx.exec(qPutGroup,
		g.ConvID, g.GroupID, g.Direct, g.Peer, int64(g.Epoch), int64(g.SendEpoch), int64(g.SendSeq),
		int64(g.PrevEpoch), int64(g.PrevCount), name, state, tx.s.now().UnixMilli())
}

const groupCols = `conv_id, group_id, direct, peer, epoch, send_epoch, send_seq, prev_epoch, prev_count, name, state, updated`

type scanner interface{ Scan(dest ...any) error }

func (tx *Tx) scanGroup(r scanner) (Group, error) {
	var g Group
	var epoch, sendEpoch, seq, prevEpoch, prevCount, updated int64
	var name, state []byte
	if err := r.Scan(&g.ConvID, &g.GroupID, &g.Direct, &g.Peer, &epoch, &sendEpoch, &seq, &prevEpoch, &prevCount,
		&name, &state, &updated); err != nil {
		return g, notFound(err)
	}
	g.Epoch, g.SendEpoch, g.SendSeq, g.Updated = uint64(epoch), uint64(sendEpoch), uint64(seq), time.UnixMilli(updated)
	g.PrevEpoch, g.PrevCount = uint64(prevEpoch), uint64(prevCount)
	n, err := tx.s.key.open(name, "groups", g.ConvID, "name")
	if err != nil {
		return g, err
	}
	g.Name = string(n)
	g.State, err = tx.s.key.open(state, "groups", g.ConvID, "state")
	return g, err
}

// Group returns one conversation's state, or ErrNotFound.
func (tx *Tx) Group(convID string) (Group, error) {
	return tx.scanGroup(tx.queryRow(`SELECT `+groupCols+` FROM groups WHERE conv_id = ?`, convID))
}

// Groups returns every conversation's state.
func (tx *Tx) Groups() ([]Group, error) {
	rows, err := tx.query(`SELECT ` + groupCols + ` FROM groups ORDER BY conv_id`)
	if err != nil {
		return nil, fmt.Errorf("localstore: %w", err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		g, err := tx.scanGroup(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, notFound(rows.Err())
}

// DeleteGroup forgets a conversation's state (its messages stay).
func (tx *Tx) DeleteGroup(convID string) error {
	return tx.exec(`DELETE FROM groups WHERE conv_id = ?`, convID)
}

// KeyPackage is the private half of one KeyPackage this device published.
type KeyPackage struct {
	Ref        []byte
	LastResort bool
	Private    []byte // sealed; the caller's encoding of the private keys
	Created    time.Time
}

// PutKeyPackage stores a KeyPackage's private keys.
func (tx *Tx) PutKeyPackage(kp KeyPackage) error {
	priv, err := tx.s.key.seal(tx.s.rand, kp.Private, "key_packages", hex.EncodeToString(kp.Ref), "private")
	if err != nil {
		return err
	}
	return tx.exec(`INSERT INTO key_packages (ref, last_resort, private, created) VALUES (?, ?, ?, ?)`,
		kp.Ref, kp.LastResort, priv, tx.s.now().UnixMilli())
}

// KeyPackage returns the private keys of the KeyPackage ref, or ErrNotFound.
func (tx *Tx) KeyPackage(ref []byte) (KeyPackage, error) {
	kp := KeyPackage{Ref: ref}
	var priv []byte
	var created int64
	err := tx.queryRow(`SELECT last_resort, private, created FROM key_packages WHERE ref = ?`, ref).
		Scan(&kp.LastResort, &priv, &created)
	if err := notFound(err); err != nil {
		return kp, err
	}
	kp.Created = time.UnixMilli(created)
	kp.Private, err = tx.s.key.open(priv, "key_packages", hex.EncodeToString(ref), "private")
	return kp, err
}

// DeleteKeyPackage deletes a used one-time KeyPackage's private keys.
func (tx *Tx) DeleteKeyPackage(ref []byte) error {
	return tx.exec(`DELETE FROM key_packages WHERE ref = ?`, ref)
}

// LastResortCreated returns when the newest last-resort KeyPackage was
// made, or the zero time if there is none.
func (tx *Tx) LastResortCreated() (time.Time, error) {
	var ms sql.NullInt64
	err := tx.queryRow(`SELECT max(created) FROM key_packages WHERE last_resort = 1`).Scan(&ms)
	if err != nil || !ms.Valid {
		return time.Time{}, notFound(err)
	}
	return time.UnixMilli(ms.Int64), nil
}

// DeleteKeyPackagesBefore deletes the KeyPackages created before t
// (expired ones nobody used) and returns how many.
func (tx *Tx) DeleteKeyPackagesBefore(t time.Time) (int64, error) {
	res, err := tx.execResult(`DELETE FROM key_packages WHERE created < ?`, t.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("localstore: %w", err)
	}
	return res.RowsAffected()
}

// CountKeyPackages returns how many one-time KeyPackages are stored.
func (tx *Tx) CountKeyPackages() (int, error) {
	var n int
	err := tx.queryRow(`SELECT count(*) FROM key_packages WHERE last_resort = 0`).Scan(&n)
	return n, notFound(err)
}

// Message is one stored message.
type Message struct {
	ConvID     string
	ID         []byte
	Sender     string // "<user_id>/<device_id>"
	Seq        uint64
	Kind       int
	SentAt     time.Time
	ReceivedAt time.Time
	Body       []byte // sealed
}

func messageRow(convID string, id []byte) string { return convID + "/" + hex.EncodeToString(id) }

// PutMessage stores a message; a second message with the same id in the
// conversation fails with ErrDuplicate.
func (tx *Tx) PutMessage(m Message) error {
	body, err := tx.s.key.sealMessage(tx.s.rand, m.Body, m.ConvID, m.ID)
	if err != nil {
		return err
	}
	res, err := tx.execResult(qPutMessage,
		m.ConvID, m.ID, m.Sender, int64(m.Seq), m.Kind, m.SentAt.UnixMilli(), m.ReceivedAt.UnixMilli(), body)
	if err != nil {
		return fmt.Errorf("localstore: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrDuplicate
	}
	return nil
}

// QueueMessage stores m when the transaction next runs a statement or
// commits, together with the other messages queued meanwhile, several
// rows per statement (one statement per message costs more than the
// rows). A message whose id is already stored in its conversation, or
// queued before it, is skipped: the first one is kept.
func (tx *Tx) QueueMessage(m Message) error {
	if m.ID == nil { // NULL: INSERT OR IGNORE would skip it
		return errNoID
	}
	body, err := tx.s.key.sealMessage(tx.s.rand, m.Body, m.ConvID, m.ID)
	if err != nil {
		return err
	}
	if tx.q == nil {
		tx.q = tx.s.queues.Get().(*queue)
	}
	tx.q.rows = append(tx.q.rows, queuedRow{conv: m.ConvID, id: m.ID, sender: m.Sender, seq: int64(m.Seq),
		kind: int64(m.Kind), sent: m.SentAt.UnixMilli(), received: m.ReceivedAt.UnixMilli(), body: body})
	return nil
}

var errNoID = errors.New("localstore: message without an id")

// queue holds a transaction's queued messages and the arguments of the
// statement that writes them; a Store keeps them for its next
// transactions, so that queueing grows no slice once warm.
type queue struct {
	rows []queuedRow
	args []driver.NamedValue
}

// queuedRow is one QueueMessage call's columns, body sealed.
type queuedRow struct {
	conv, sender              string
	id, body                  []byte
	seq, kind, sent, received int64
}

// release hands tx's queue back to its Store, emptied.
func (tx *Tx) release() {
	if tx.q == nil {
		return
	}
	clear(tx.q.rows)
	tx.q.rows = tx.q.rows[:0]
	tx.s.queues.Put(tx.q)
	tx.q = nil
}

// flush writes the queued messages, in as few statements as putRows
// allows. The statements run on the driver connection (Store.hold), in
// the transaction database/sql began on it.
func (tx *Tx) flush() error {
	if tx.q == nil || len(tx.q.rows) == 0 {
		return nil
	}
	rows := tx.q.rows
	defer func() {
		clear(tx.q.rows)
		tx.q.rows = tx.q.rows[:0]
	}()
	if tx.s.conn == nil {
		return errors.New("localstore: messages queued before Open returned")
	}
	for len(rows) > 0 {
		n := putRows[len(putRows)-1]
		for _, r := range putRows {
			if r <= len(rows) {
				n = r
				break
			}
		}
		args := tx.q.bind(rows[:n])
		err := tx.s.conn.Raw(func(any) error {
			_, err := tx.s.puts[n].(driver.StmtExecContext).ExecContext(context.Background(), args)
			return err
		})
		clear(args) // drop the references to the bodies
		if err != nil {
			return fmt.Errorf("localstore: %w", err)
		}
		rows = rows[n:]
	}
	return nil
}

// bind returns the arguments of putMessagesQuery(len(rows)), in q.args.
// A conversation id, sender or time equal to the previous row's reuses
// its boxed value: each boxing of a string or a large integer allocates.
func (q *queue) bind(rows []queuedRow) []driver.NamedValue {
	args := q.args[:0]
	var conv, sender, sent, received driver.Value
	for i, r := range rows {
		if i == 0 || r.conv != rows[i-1].conv {
			conv = r.conv
		}
		if i == 0 || r.sender != rows[i-1].sender {
			sender = r.sender
		}
		if i == 0 || r.sent != rows[i-1].sent {
			sent = r.sent
		}
		switch {
		case r.received == r.sent:
			received = sent
		case i == 0 || r.received != rows[i-1].received:
			received = r.received
		}
		for _, v := range [...]driver.Value{conv, r.id, sender, r.seq, r.kind, sent, received, r.body} {
			args = append(args, driver.NamedValue{Ordinal: len(args) + 1, Value: v})
		}
	}
	q.args = args
	return args
}

// putRows are the row counts of the prepared multi-row inserts, largest
// first: flush splits what is queued into them.
var putRows = []int{32, 8, 2, 1}

// putMessagesQuery inserts n messages in one statement. INSERT OR IGNORE
// skips a stored id like ON CONFLICT DO NOTHING, and no constraint of
// the table can then abort the statement half way: SQLite writes no
// statement journal for it (every queued value is non-NULL).
func putMessagesQuery(n int) string {
	q := `INSERT OR IGNORE INTO messages (conv_id, msg_id, sender, seq, kind, sent_at, received_at, body) VALUES `
	for i := range n {
		if i > 0 {
			q += ", "
		}
		q += "(?, ?, ?, ?, ?, ?, ?, ?)"
	}
	return q
}

// ErrDuplicate: a message with that id is already stored.
var ErrDuplicate = errors.New("localstore: duplicate message")

// DeleteMessage deletes one message (an outgoing one the server refused).
func (tx *Tx) DeleteMessage(convID string, id []byte) error {
	return tx.exec(`DELETE FROM messages WHERE conv_id = ? AND msg_id = ?`, convID, id)
}

// Messages returns a conversation's last limit messages, oldest first.
func (tx *Tx) Messages(convID string, limit int) ([]Message, error) {
	rows, err := tx.query(`SELECT msg_id, sender, seq, kind, sent_at, received_at, body FROM
		(SELECT rowid AS rid, * FROM messages WHERE conv_id = ? ORDER BY received_at DESC, rowid DESC LIMIT ?)
		ORDER BY received_at, rid`, convID, limit)
	if err != nil {
		return nil, fmt.Errorf("localstore: %w", err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		m := Message{ConvID: convID}
		var seq, sent, recv int64
		var body []byte
		if err := rows.Scan(&m.ID, &m.Sender, &seq, &m.Kind, &sent, &recv, &body); err != nil {
			return nil, fmt.Errorf("localstore: %w", err)
		}
		m.Seq, m.SentAt, m.ReceivedAt = uint64(seq), time.UnixMilli(sent), time.UnixMilli(recv)
		if m.Body, err = tx.s.key.open(body, "messages", messageRow(convID, m.ID), "body"); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, notFound(rows.Err())
}

// SenderState tracks one sender's sequence numbers in a conversation.
type SenderState struct {
	Epoch   uint64 // the epoch Highest and Missing refer to
	Highest uint64
	// Missing are sequence numbers below Highest not yet received, with
	// the time each was first noticed missing.
	Missing map[uint64]time.Time
}

// Sender returns a sender's state (zero if never seen).
func (tx *Tx) Sender(convID, sender string) (SenderState, error) {
	st := SenderState{Missing: map[uint64]time.Time{}}
	var epoch, highest int64
	var missing []byte
	err := tx.queryRow(qSender, convID, sender).
		Scan(&epoch, &highest, &missing)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("localstore: %w", err)
	}
	st.Epoch, st.Highest = uint64(epoch), uint64(highest)
	for ; len(missing) >= 16; missing = missing[16:] {
		st.Missing[binary.BigEndian.Uint64(missing)] = time.UnixMilli(int64(binary.BigEndian.Uint64(missing[8:])))
	}
	return st, nil
}

// PutSender records a sender's state.
func (tx *Tx) PutSender(convID, sender string, st SenderState) error {
	var missing []byte
	for seq, at := range st.Missing {
		missing = binary.BigEndian.AppendUint64(missing, seq)
		missing = binary.BigEndian.AppendUint64(missing, uint64(at.UnixMilli()))
	}
	if missing == nil {
		missing = []byte{}
	}
	return tx.exec(qPutSender, convID, sender, int64(st.Epoch), int64(st.Highest), missing)
}

// PutUser remembers a user's username, sealed, with a keyed index to
// find it by name.
func (tx *Tx) PutUser(userID, username string) error {
	sealed, err := tx.s.key.seal(tx.s.rand, []byte(username), "user_names", userID, "username")
	if err != nil {
		return err
	}
	return tx.exec(`INSERT INTO user_names (user_id, name_index, username) VALUES (?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET name_index = excluded.name_index, username = excluded.username`,
		userID, tx.s.key.index("user_names", "username", username), sealed)
}

// UserID returns the id of a known username, or ErrNotFound.
func (tx *Tx) UserID(username string) (string, error) {
	var id string
	err := tx.queryRow(`SELECT user_id FROM user_names WHERE name_index = ?`,
		tx.s.key.index("user_names", "username", username)).Scan(&id)
	return id, notFound(err)
}

// Username returns the username of a known user id, or ErrNotFound.
func (tx *Tx) Username(userID string) (string, error) {
	var sealed []byte
	err := tx.queryRow(`SELECT username FROM user_names WHERE user_id = ?`, userID).Scan(&sealed)
	if err != nil {
		return "", notFound(err)
	}
	name, err := tx.s.key.open(sealed, "user_names", userID, "username")
	return string(name), err
}
