package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/sealine/sealine/store"
)

const keyPackageColumns = `ref, user_id, device_id, data, last_resort, created_ns`

// postgres reports whether the backend is PostgreSQL, whose row locks need
// FOR UPDATE SKIP LOCKED and FOR SHARE where SQLite's single writer needs
// nothing.
func (s *Store) postgres() bool { return s.kind == "postgres" }

// skipLocked is appended to a claim's inner SELECT.
func (s *Store) skipLocked() string {
	if s.postgres() {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// AddKeyPackages inserts the one-time packages, skipping refs already
// stored, then raises the device's counter in one upsert; a count past max
// rolls everything back with store.ErrQuota.
func (s *Store) AddKeyPackages(ctx context.Context, oneTime []store.KeyPackage, lastResort *store.KeyPackage, max int) (int, error) {
	deviceID, err := oneDevice(oneTime, lastResort)
	if err != nil {
		return 0, fmt.Errorf("add key packages: %w", err)
	}
	var available int64
	err = s.tx(ctx, func(q Querier) error {
		added, err := insertKeyPackages(ctx, q, oneTime)
		if err != nil {
			return err
		}
		if lastResort != nil {
			if err := replaceLastResort(ctx, q, *lastResort); err != nil {
				return err
			}
		}
		available, err = addKeyPackageCount(ctx, q, deviceID, added)
		if err == nil && available > int64(max) {
			err = store.ErrQuota
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("add key packages: %w", err)
	}
	return int(available), nil
}

// oneDevice returns the device all packages belong to.
func oneDevice(oneTime []store.KeyPackage, lastResort *store.KeyPackage) (string, error) {
	all := oneTime
	if lastResort != nil {
		all = append(all[:len(all):len(all)], *lastResort)
	}
	if len(all) == 0 {
		return "", errors.New("no key packages")
	}
	for _, kp := range all {
		if kp.DeviceID != all[0].DeviceID || kp.UserID != all[0].UserID {
			return "", errMismatch
		}
	}
	return all[0].DeviceID, nil
}

func insertKeyPackages(ctx context.Context, q Querier, kps []store.KeyPackage) (int64, error) {
	var added int64
	for _, kp := range kps {
		n, err := q.Exec(ctx, `INSERT INTO key_packages (`+keyPackageColumns+`)
			VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT DO NOTHING`,
			blob(kp.Ref), kp.UserID, kp.DeviceID, blob(kp.Data), unixNano(kp.CreatedAt))
		if err != nil {
			return 0, err
		}
		added += n
	}
	return added, nil
}

func replaceLastResort(ctx context.Context, q Querier, kp store.KeyPackage) error {
	_, err := q.Exec(ctx, `DELETE FROM key_packages WHERE device_id = $1 AND last_resort = 1`, kp.DeviceID)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `INSERT INTO key_packages (`+keyPackageColumns+`) VALUES ($1, $2, $3, $4, 1, $5)`,
		blob(kp.Ref), kp.UserID, kp.DeviceID, blob(kp.Data), unixNano(kp.CreatedAt))
	return err
}

// addKeyPackageCount adds n to the device's count in one upsert and
// returns the new count.
func addKeyPackageCount(ctx context.Context, q Querier, deviceID string, n int64) (int64, error) {
	var count int64
	err := q.QueryRow(ctx, `INSERT INTO device_counters (device_id, key_packages) VALUES ($1, $2)
		ON CONFLICT (device_id) DO UPDATE SET key_packages = device_counters.key_packages + excluded.key_packages
		RETURNING key_packages`, deviceID, n).Scan(&count)
	return count, err
}

// ClaimKeyPackage deletes one one-time package in a single DELETE …
// RETURNING whose inner SELECT skips rows another claim holds, so each is
// returned exactly once; with none left it returns the last-resort one.
func (s *Store) ClaimKeyPackage(ctx context.Context, deviceID string) (store.KeyPackage, error) {
	var kp store.KeyPackage
	err := s.tx(ctx, func(q Querier) error {
		var err error
		kp, err = scanKeyPackage(q.QueryRow(ctx, `DELETE FROM key_packages WHERE ref = (
				SELECT ref FROM key_packages WHERE device_id = $1 AND last_resort = 0
				ORDER BY created_ns, ref LIMIT 1`+s.skipLocked()+`)
			RETURNING `+keyPackageColumns, deviceID))
		if errors.Is(err, store.ErrNotFound) {
			kp, err = scanKeyPackage(q.QueryRow(ctx, `SELECT `+keyPackageColumns+` FROM key_packages
				WHERE device_id = $1 AND last_resort = 1`, deviceID))
			return err
		}
		if err != nil {
			return err
		}
		_, err = q.Exec(ctx, `UPDATE device_counters SET key_packages = key_packages - 1 WHERE device_id = $1`, deviceID)
		return err
	})
	if err != nil {
		return store.KeyPackage{}, fmt.Errorf("claim key package: %w", err)
	}
	return kp, nil
}

func scanKeyPackage(r Row) (store.KeyPackage, error) {
	var kp store.KeyPackage
	var lastResort, created int64
	if err := r.Scan(&kp.Ref, &kp.UserID, &kp.DeviceID, &kp.Data, &lastResort, &created); err != nil {
		return store.KeyPackage{}, err
	}
	kp.LastResort, kp.CreatedAt = lastResort == 1, fromUnixNano(created)
	return kp, nil
}

// KeyPackageCount counts the device's packages.
func (s *Store) KeyPackageCount(ctx context.Context, deviceID string) (int, bool, error) {
	q, err := s.reader()
	if err != nil {
		return 0, false, err
	}
	var oneTime, lastResort int64
	err = q.QueryRow(ctx, `SELECT
			COALESCE(SUM(CASE WHEN last_resort = 0 THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(last_resort), 0)
		FROM key_packages WHERE device_id = $1`, deviceID).Scan(&oneTime, &lastResort)
	if err != nil {
		return 0, false, fmt.Errorf("key package count: %w", err)
	}
	return int(oneTime), lastResort > 0, nil
}
