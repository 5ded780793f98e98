package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/server"
)

// Distinctive personal values that must never appear on disk or in logs.
const (
	secretUser     = "Quetzalcoatl_Zyx"
	secretDisplay  = "Wilhelmina Xylophone"
	secretDevice   = "Grandmas-Kumquat-Tablet"
	secretPassword = "Marmalade-Sasquatch-42"
)

// exercise runs every RPC with the distinctive values, including failures.
func exercise(t *testing.T, e *testenv.Env) {
	ctx := context.Background()
	s := e.Register(t, secretUser, secretPassword, secretDisplay, secretDevice)
	s2 := e.Login(t, strings.ToUpper(secretUser), secretPassword, secretDevice+"-2")
	_, err := e.Accounts().Login(ctx, connect.NewRequest(&sealinev1.LoginRequest{Username: secretUser, Password: secretPassword + "x", Device: testenv.NewDevice(secretDevice)}))
	wantErr(t, err, connect.CodeUnauthenticated, "bad_credentials")
	_, err = e.Accounts().Register(ctx, connect.NewRequest(&sealinev1.RegisterRequest{Username: secretUser, Password: secretPassword, DisplayName: secretDisplay, Device: testenv.NewDevice(secretDevice)}))
	wantErr(t, err, connect.CodeAlreadyExists, "username_taken")
	if _, err := e.Devices(s.GetToken()).ListDevices(ctx, connect.NewRequest(&sealinev1.ListDevicesRequest{})); err != nil {
		t.Fatal(err)
	}
	// LookupUsers answers with the username; nothing of it may be logged.
	names, err := lookup(e, s.GetToken(), s.GetUserId(), "u-unknown")
	if err != nil || !strings.HasPrefix(names[s.GetUserId()], strings.ToLower(secretUser)) {
		t.Fatalf("LookupUsers = %v, %v", names, err)
	}
	if _, err := e.Devices(s.GetToken()).RevokeDevice(ctx, connect.NewRequest(&sealinev1.RevokeDeviceRequest{DeviceId: s2.GetDeviceId()})); err != nil {
		t.Fatal(err)
	}
}

// TestNoPlaintextPersonalData scans the SQLite file, its WAL and the logs
// for the distinctive values (raw and lower-case) after exercising the API.
func TestNoPlaintextPersonalData(t *testing.T) {
	e := testenv.New(t)
	exercise(t, e)
	var haystacks = map[string][]byte{"logs": e.Logs()}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(e.DBPath() + suffix)
		if err != nil && suffix == "" {
			t.Fatal(err)
		}
		haystacks["sealine.db"+suffix] = b
	}
	if len(haystacks["sealine.db-wal"])+len(haystacks["sealine.db"]) == 0 {
		t.Fatal("nothing to scan")
	}
	for name, hay := range haystacks {
		for _, needle := range []string{secretUser, secretDisplay, secretDevice, secretPassword} {
			for _, form := range []string{needle, strings.ToLower(needle)} {
				if bytes.Contains(hay, []byte(form)) {
					t.Errorf("%s contains %q", name, form)
				}
			}
		}
	}
}

// TestLogsCarryRequestAndNodeIDs: each RPC logs one JSON line with a request
// id, the node id, the procedure and the outcome.
func TestLogsCarryRequestAndNodeIDs(t *testing.T) {
	e := testenv.New(t, func(c *server.Config) { c.NodeID = "node-7" })
	exercise(t, e)
	ids := map[string]bool{}
	lines := bytes.Split(bytes.TrimSpace(e.Logs()), []byte("\n"))
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["node"] != "node-7" {
			t.Fatalf("log line without node id: %s", line)
		}
		if rec["msg"] == "rpc" {
			id, _ := rec["request_id"].(string)
			if id == "" || ids[id] || rec["procedure"] == nil || rec["code"] == nil {
				t.Fatalf("bad rpc log line: %s", line)
			}
			ids[id] = true
		}
	}
	if len(ids) < 6 {
		t.Fatalf("%d rpc log lines; want one per call", len(ids))
	}
}

func TestMetrics(t *testing.T) {
	e := testenv.New(t, func(c *server.Config) { c.MetricsAddr = "127.0.0.1:0" })
	exercise(t, e)
	resp, err := http.Get(e.Server.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`sealine_rpc_requests_total{code="ok",node=`,
		`procedure="/sealine.v1.AccountService/Login"`,
		`sealine_rpc_duration_seconds_bucket`,
		`sealine_rpc_errors_total{node=`,
		`reason="bad_credentials"`,
		`sealine_logins_total{node=`,
		`result="ok"`,
		`sealine_lockouts_total`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if bytes.Contains(body, []byte("go_goroutines")) {
		t.Error("metrics use the global registry")
	}
}

// metricValue scrapes the first sample whose line starts with prefix.
func metricValue(t *testing.T, e *testenv.Env, prefix string) string {
	t.Helper()
	resp, err := http.Get(e.Server.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, prefix) {
			return line[strings.LastIndexByte(line, ' ')+1:]
		}
	}
	t.Fatalf("no metric %s", prefix)
	return ""
}

// TestUnknownUserCostsOneHash: a login for an unknown or invalid username
// runs Argon2id once, exactly like a wrong password for a real account, and
// gets the same error.
func TestUnknownUserCostsOneHash(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t, func(c *server.Config) { c.MetricsAddr = "127.0.0.1:0" })
	e.Register(t, "trent", "correct horse battery", "", "laptop")
	hashes := func() string { return metricValue(t, e, "sealine_password_hash_seconds_count") }
	for _, user := range []string{"trent", "nosuchuser", "not valid!"} {
		before := hashes()
		_, err := e.Accounts().Login(ctx, connect.NewRequest(&sealinev1.LoginRequest{Username: user, Password: "wrong password", Device: testenv.NewDevice("x")}))
		wantErr(t, err, connect.CodeUnauthenticated, "bad_credentials")
		var b, a int
		fmt.Sscan(before, &b)
		fmt.Sscan(hashes(), &a)
		if a-b != 1 {
			t.Fatalf("login as %q ran Argon2id %d times; want 1", user, a-b)
		}
	}
}
