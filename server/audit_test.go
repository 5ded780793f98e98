package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/client/attachment"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/server"
)

// encodings returns the byte patterns under which marker could be stored:
// UTF-8, UTF-16 (both byte orders), hex (both cases), and base64 (standard
// and URL alphabets) at each of the three alignments a marker inside a
// longer encoded value can have.
func encodings(marker string) [][]byte {
	out := [][]byte{[]byte(marker)}
	u := utf16.Encode([]rune(marker))
	le, be := make([]byte, 0, 2*len(u)), make([]byte, 0, 2*len(u))
	for _, c := range u {
		le = append(le, byte(c), byte(c>>8))
		be = append(be, byte(c>>8), byte(c))
	}
	out = append(out, le, be, []byte(hex.EncodeToString([]byte(marker))),
		[]byte(strings.ToUpper(hex.EncodeToString([]byte(marker)))))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for pad := range 3 {
			s := enc.EncodeToString(append(make([]byte, pad), marker...))
			// Drop the characters that mix in the padding or the next byte.
			start, end := (pad*8+5)/6, len(s)-4
			if start < end {
				out = append(out, []byte(s[start:end]))
			}
		}
	}
	return out
}

// findMarkers returns "where: marker" for each marker found in data.
func findMarkers(where string, data []byte, markers []string) []string {
	var found []string
	for _, m := range markers {
		for _, pat := range encodings(m) {
			if bytes.Contains(data, pat) {
				found = append(found, where+": "+m)
				break
			}
		}
	}
	return found
}

// scanDir scans every file under dir.
func scanDir(t *testing.T, dir string, markers []string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		found = append(found, findMarkers(p, data, markers)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestScannerFindsPlantedMarkers: the scan does see a marker in each
// encoding, so the audit's zero means something.
func TestScannerFindsPlantedMarkers(t *testing.T) {
	for i, pat := range encodings("zq-audit-planted") {
		data := append(append([]byte("prefix-"[:i%7]), pat...), "-suffix"...)
		if len(findMarkers("x", data, []string{"zq-audit-planted"})) != 1 {
			t.Errorf("encoding %d (%q) not found", i, pat)
		}
	}
	b64 := base64.StdEncoding.EncodeToString([]byte("ab zq-audit-planted cd"))
	if len(findMarkers("x", []byte(b64), []string{"zq-audit-planted"})) != 1 {
		t.Error("marker inside a longer base64 value not found")
	}
}

// TestAudit: a session sets distinctive markers in every personal field,
// a message and a file (name and content), takes backups and withdraws a
// user; then the data dir (database, WAL, key store, blobs), the backups,
// the logs and the metrics hold none of them in any encoding.
func TestAudit(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t, func(c *server.Config) { c.MetricsAddr = "127.0.0.1:0" })
	g, inB, _ := newGroup(t, e, "zqauditname")
	phone, email := "+81 90-5550-4242", "ZqAudit.Mail@Example.org"
	lc := lifecycleAs(e, g.carol.Token)
	setContact(t, lc, sealinev1.ContactKind_CONTACT_KIND_PHONE, phone)
	setContact(t, lc, sealinev1.ContactKind_CONTACT_KIND_EMAIL, email)
	content := "zq-audit-file-content " + strings.Repeat("x", 1000)
	fileName := "zq-audit-file-name.pdf"
	if _, err := g.carol.send(t, "zq-audit-message-text, sending "+fileName); err != nil {
		t.Fatal(err)
	}
	g.bob.receive(t, inB)
	if _, err := uploadBlob(e, g.carol, g.carol.conv, encryptFile(t, content), 0); err != nil {
		t.Fatal(err)
	}
	backups := t.TempDir()
	withAdmin(t, e.Config, func(a *server.Admin) error {
		if err := a.Backup(ctx, filepath.Join(backups, "data.db"), nil); err != nil {
			return err
		}
		return a.BackupKeys(ctx, filepath.Join(backups, "keys.db"), nil)
	})
	if _, err := lc.ExportAccount(ctx, connectReq(&sealinev1.ExportAccountRequest{})); err != nil {
		t.Fatal(err)
	}
	dave := lifecycleAs(e, g.dave.Token)
	if _, err := dave.DeleteAccount(ctx, deleteReq(withdrawPassword)); err != nil {
		t.Fatal(err)
	}
	markers := []string{"zqauditname", "+819055504242", "90-5550-4242", "zqaudit.mail@example.org",
		"ZqAudit.Mail", "zq-audit-message-text", "zq-audit-file-name", "zq-audit-file-content"}
	found := scanDir(t, e.DataDir, markers)
	found = append(found, scanDir(t, backups, markers)...)
	found = append(found, findMarkers("logs", e.Logs(), markers)...)
	found = append(found, findMarkers("metrics", scrape(t, e), markers)...)
	for _, f := range found {
		t.Errorf("marker found: %s", f)
	}
}

func connectReq[T any](m *T) *connect.Request[T] { return connect.NewRequest(m) }

// encryptFile encrypts content as a client does before uploading it.
func encryptFile(t *testing.T, content string) []byte {
	t.Helper()
	key, err := attachment.NewKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := attachment.NewWriter(&buf, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, content); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func scrape(t *testing.T, e *testenv.Env) []byte {
	t.Helper()
	resp, err := http.Get(e.Server.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return body
}
