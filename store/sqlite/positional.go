package sqlite

import (
	"strconv"
	"strings"
)

// positional returns query with its parameters $1, $2, … $n written as
// plain ?, when each appears once and in that order outside quotes, and
// query unchanged otherwise. The statements in sqlstore use $N, which
// both backends read; but modernc's driver looks up every numbered
// parameter's name per execution (a C string copied into Go and parsed),
// which a statement binding eight values, such as a post's message
// INSERT, pays on every run, while a plain ? is bound by its position.
func positional(query string) string {
	var b strings.Builder
	next := 1
	for i := 0; i < len(query); i++ {
		switch c := query[i]; c {
		case '\'', '"':
			end := strings.IndexByte(query[i+1:], c)
			if end < 0 {
				return query
			}
			b.WriteString(query[i : i+end+2])
			i += end + 1
		case '?':
			return query
		case '$':
			j := i + 1
			for j < len(query) && query[j] >= '0' && query[j] <= '9' {
				j++
			}
			if query[i+1:j] != strconv.Itoa(next) {
				return query
			}
			b.WriteByte('?')
			next++
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
