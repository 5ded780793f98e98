package sqlite

import "testing"

func TestPositional(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"in order", `INSERT INTO t (a, b, c) VALUES ($1, $2, $3)`, `INSERT INTO t (a, b, c) VALUES (?, ?, ?)`},
		{"ten and more", `SELECT $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11`, `SELECT ?,?,?,?,?,?,?,?,?,?,?`},
		{"none", `SELECT 1`, `SELECT 1`},
		{"reused", `DELETE FROM q WHERE d = $1 AND c <= $2 AND $2 <= (SELECT l FROM k WHERE d = $1)`,
			`DELETE FROM q WHERE d = $1 AND c <= $2 AND $2 <= (SELECT l FROM k WHERE d = $1)`},
		{"out of order", `SELECT $2, $1`, `SELECT $2, $1`},
		{"gap", `SELECT $1, $3`, `SELECT $1, $3`},
		{"leading zero", `SELECT $01`, `SELECT $01`},
		{"bare dollar", `SELECT $`, `SELECT $`},
		{"already positional", `SELECT ?, $1`, `SELECT ?, $1`},
		{"quoted dollar", `SELECT '$2', "$x", $1`, `SELECT '$2', "$x", ?`},
		{"quoted question mark", `SELECT '?', $1`, `SELECT '?', ?`},
		{"escaped quote", `SELECT 'it''s $9', $1`, `SELECT 'it''s $9', ?`},
		{"unterminated quote", `SELECT '$1`, `SELECT '$1`},
	}
	for _, tc := range tests {
		if got := positional(tc.in); got != tc.want {
			t.Errorf("%s: positional(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}
