package sqlstore

import (
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name    string
		fs      fstest.MapFS
		table   string
		want    int
		wantErr bool
	}{
		{"two in order", fstest.MapFS{"0001_a.sql": file("A"), "0002_b.sql": file("B"), "README": file("x")}, "schema_version", 2, false},
		{"none", fstest.MapFS{}, "schema_version", 0, true},
		{"gap", fstest.MapFS{"0001_a.sql": file("A"), "0003_c.sql": file("C")}, "schema_version", 0, true},
		{"starts at two", fstest.MapFS{"0002_b.sql": file("B")}, "schema_version", 0, true},
		{"bad name", fstest.MapFS{"1_a.sql": file("A")}, "schema_version", 0, true},
		{"duplicate version", fstest.MapFS{"0001_a.sql": file("A"), "0001_b.sql": file("B")}, "schema_version", 0, true},
		{"bad table", fstest.MapFS{"0001_a.sql": file("A")}, "v; DROP TABLE users", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := LoadMigrations(tc.fs, tc.table)
			if (err != nil) != tc.wantErr {
				t.Fatalf("LoadMigrations: err = %v, want error %v", err, tc.wantErr)
			}
			if err == nil && set.Latest() != tc.want {
				t.Errorf("Latest = %d, want %d", set.Latest(), tc.want)
			}
		})
	}
}

func TestUnixNano(t *testing.T) {
	tests := []struct {
		name string
		ns   int64
	}{{"zero", 0}, {"epoch+1", 1}, {"before epoch", -1}, {"now-ish", 1_790_000_000_123_456_789}}
	for _, tc := range tests {
		got := unixNano(fromUnixNano(tc.ns))
		if got != tc.ns {
			t.Errorf("%s: round trip %d -> %d", tc.name, tc.ns, got)
		}
	}
}
