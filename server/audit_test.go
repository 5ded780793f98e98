package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
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

// auditMarkers are distinctive values for every personal field the audit
// sets; none contains another, so each finding names one field.
var auditMarkers = struct {
	username, password, wrongPassword, displayName, deviceName, loginDevice string
	phone, phoneE164, phoneDigits, email, emailNorm, emailUser              string
	message, fileName, fileContent                                          string
}{
	username: "zqauditname", password: "zq-audit-password", wrongPassword: "zq-audit-wrong-password",
	displayName: "zq-audit-display-name", deviceName: "zq-audit-device-name", loginDevice: "zq-audit-login-device",
	phone: "+81 90-5550-4242", phoneE164: "+819055504242", phoneDigits: "90-5550-4242",
	email: "ZqAudit.Mail@Example.org", emailNorm: "zqaudit.mail@example.org", emailUser: "ZqAudit.Mail",
	message: "zq-audit-message-text", fileName: "zq-audit-file-name", fileContent: "zq-audit-file-content",
}

// TestAudit: a session sets distinctive markers in every personal field
// (username, password, a wrong password, display name, device names,
// phone, email), a message and a file (name and content), takes backups
// and withdraws a user; then the data dir (database, WAL, key store,
// blobs), the backups, the logs and the metrics hold none of them in any
// encoding.
func TestAudit(t *testing.T) {
	ctx := context.Background()
	mk := auditMarkers
	e := testenv.New(t, func(c *server.Config) { c.MetricsAddr = "127.0.0.1:0" })
	g, inB, _ := newGroupWith(t, e, registerAs(t, e, mk.username, mk.password, mk.displayName, mk.deviceName))
	_, err := e.Accounts().Login(ctx, connect.NewRequest(&sealinev1.LoginRequest{
		Username: mk.username, Password: mk.wrongPassword, Device: testenv.NewDevice(mk.loginDevice)}))
	if testenv.Reason(err) != server.ReasonBadCredentials {
		t.Fatalf("login with a wrong password: %v", err)
	}
	lc := lifecycleAs(e, g.carol.Token)
	setContact(t, lc, sealinev1.ContactKind_CONTACT_KIND_PHONE, mk.phone)
	setContact(t, lc, sealinev1.ContactKind_CONTACT_KIND_EMAIL, mk.email)
	content := mk.fileContent + " " + strings.Repeat("x", 1000)
	fileName := mk.fileName + ".pdf"
	if _, err := g.carol.send(t, mk.message+", sending "+fileName); err != nil {
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
	export, err := lc.ExportAccount(ctx, connectReq(&sealinev1.ExportAccountRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	// The server does hold each field (sealed), so finding none means something.
	x := export.Msg
	if x.GetUsername() != mk.username || x.GetDisplayName() != mk.displayName || x.GetPhone() != mk.phoneE164 ||
		x.GetEmail() != mk.emailNorm || len(x.GetDevices()) != 1 || x.GetDevices()[0].GetName() != mk.deviceName {
		t.Fatalf("export = %v; want every marked field", x)
	}
	dave := lifecycleAs(e, g.dave.Token)
	if _, err := dave.DeleteAccount(ctx, deleteReq(withdrawPassword)); err != nil {
		t.Fatal(err)
	}
	fields := []struct {
		name  string
		forms []string // the value as set, and as the server normalises it
	}{
		{"username", []string{mk.username}}, {"password", []string{mk.password}},
		{"wrong password", []string{mk.wrongPassword}}, {"display name", []string{mk.displayName}},
		{"device name", []string{mk.deviceName}}, {"login device name", []string{mk.loginDevice}},
		{"phone", []string{mk.phoneE164, mk.phoneDigits}}, {"email", []string{mk.emailNorm, mk.emailUser}},
		{"message text", []string{mk.message}}, {"file name", []string{mk.fileName}},
		{"file content", []string{mk.fileContent}},
	}
	var markers []string
	field := map[string]string{} // marker -> its field
	for _, f := range fields {
		for _, m := range f.forms {
			markers, field[m] = append(markers, m), f.name
		}
	}
	for _, a := range markers {
		for _, b := range markers {
			if field[a] != field[b] && strings.Contains(strings.ToLower(a), strings.ToLower(b)) {
				t.Fatalf("the %s marker %q contains the %s marker %q: a finding would not name one field", field[a], a, field[b], b)
			}
		}
	}
	found := scanDir(t, e.DataDir, markers)
	found = append(found, scanDir(t, backups, markers)...)
	found = append(found, findMarkers("logs", e.Logs(), markers)...)
	found = append(found, findMarkers("metrics", scrape(t, e), markers)...)
	for _, f := range found {
		t.Errorf("marker found: %s", f)
	}
}

// registerAs registers user with its own password, display name and
// device name, and returns the device.
func registerAs(t *testing.T, e *testenv.Env, user, pw, displayName, deviceName string) testenv.Device {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.Accounts().Register(context.Background(), connect.NewRequest(&sealinev1.RegisterRequest{
		Username: user, Password: pw, DisplayName: displayName,
		Device: &sealinev1.NewDevice{Name: deviceName, SignatureKey: pub}}))
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	s := resp.Msg.GetSession()
	return testenv.Device{UserID: s.GetUserId(), DeviceID: s.GetDeviceId(), Token: s.GetToken(), Key: priv}
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
