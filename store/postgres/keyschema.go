package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealine/sealine/store"
	"github.com/sealine/sealine/store/internal/sqlstore"
)

// The key store in its own schema (Options.KeysSchema): its own pool,
// whose connections have search_path set to that schema, so the shared SQL
// of the key store runs unchanged there. Give the schema its own backup
// policy (see docs/OPERATIONS.md): a dump of the data schema then holds no
// data key, and a key deleted from the key schema crypto-shreds the user
// in every dump of the data schema.

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// ErrBadSchema: Options.KeysSchema is not a plain lower-case identifier.
var ErrBadSchema = errors.New("postgres: key schema must be a lower-case identifier (a-z, 0-9, _)")

// keySchema is the key store's schema, pool and store.
type keySchema struct {
	*sqlstore.Store
}

// attachKeySchema creates and migrates the key schema, then moves in any
// key left in the data schema: copy first, then delete, so a crash in
// between loses nothing.
func (s *Store) attachKeySchema(ctx context.Context, cfg *pgxpool.Config, schema string, set sqlstore.MigrationSet) error {
	if schema == "" {
		if err := s.pool.QueryRow(ctx, "SELECT current_schema() || '_keys'").Scan(&schema); err != nil {
			return classify(err)
		}
	}
	if !schemaName.MatchString(schema) {
		return ErrBadSchema
	}
	kc := cfg.Copy()
	kc.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, kc)
	if err != nil {
		return err
	}
	db := &pgDB{pool: pool}
	err = db.Tx(ctx, func(q sqlstore.Querier) error {
		if _, err := q.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("create key schema: %w", err)
		}
		return migrate(ctx, q, []sqlstore.MigrationSet{set})
	})
	if err == nil {
		err = moveKeys(ctx, s.pool, pool)
	}
	if err != nil {
		pool.Close()
		return fmt.Errorf("key schema %s: %w", schema, err)
	}
	s.keys = &keySchema{Store: sqlstore.New("postgres", db, set)}
	return nil
}

// moveKeys copies the data schema's wrapped keys into the key schema and
// deletes them from the data schema.
func moveKeys(ctx context.Context, from, to *pgxpool.Pool) error {
	rows, err := from.Query(ctx, `SELECT user_id, kek_id, ciphertext, created_ns FROM keys_wrapped`)
	if err != nil {
		return classify(err)
	}
	type key struct {
		user, kek string
		ct        []byte
		created   int64
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (key, error) {
		var k key
		return k, r.Scan(&k.user, &k.kek, &k.ct, &k.created)
	})
	if err != nil || len(keys) == 0 {
		return classify(err)
	}
	for _, k := range keys {
		if _, err := to.Exec(ctx, `INSERT INTO keys_wrapped (user_id, kek_id, ciphertext, created_ns)
			VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, k.user, k.kek, k.ct, k.created); err != nil {
			return classify(err)
		}
	}
	_, err = from.Exec(ctx, `DELETE FROM keys_wrapped`)
	return classify(err)
}

// Keys returns the key store: in the key schema when there is one.
func (s *Store) Keys() store.KeyStore {
	if s.keys != nil {
		return s.keys.Store.Keys()
	}
	return s.Store.Keys()
}

// Close closes both pools.
func (s *Store) Close() error {
	err := s.Store.Close()
	if s.keys != nil {
		err = errors.Join(err, s.keys.Close())
	}
	return err
}

// Ping checks the data schema and the key schema.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.Store.Ping(ctx); err != nil {
		return err
	}
	if s.keys != nil {
		return s.keys.Ping(ctx)
	}
	return nil
}
