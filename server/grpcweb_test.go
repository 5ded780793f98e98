package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
	"github.com/sealine/sealine/internal/testenv"
)

// TestGRPCWebProtocol: the API answers gRPC-Web (as browsers speak it,
// over HTTP/1.1, and over HTTP/2): a public call (Register), authenticated
// unary and streaming calls, and a refused token with its reason.
func TestGRPCWebProtocol(t *testing.T) {
	e := testenv.New(t)
	transports := []struct {
		name string
		http *http.Client
	}{
		{"http2", e.HTTP},
		{"http1", http1Client(t, e.Server.CertPEM())},
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			ctx := context.Background()
			web := connect.WithGRPCWeb()
			accounts := sealinev1connect.NewAccountServiceClient(tr.http, e.URL, web)
			reg, err := accounts.Register(ctx, connect.NewRequest(&sealinev1.RegisterRequest{
				Username: "web" + tr.name, Password: "correct horse battery", Device: testenv.NewDevice("browser"),
			}))
			if err != nil {
				t.Fatalf("Register over gRPC-Web: %v", err)
			}
			token := reg.Msg.GetSession().GetToken()
			devices := sealinev1connect.NewDeviceServiceClient(tr.http, e.URL, web, testenv.WithToken(token))
			list, err := devices.ListDevices(ctx, connect.NewRequest(&sealinev1.ListDevicesRequest{}))
			if err != nil {
				t.Fatalf("ListDevices over gRPC-Web: %v", err)
			}
			if ct := list.Header().Get("Content-Type"); ct != "application/grpc-web+proto" {
				t.Fatalf("ListDevices answered %q, want application/grpc-web+proto", ct)
			}
			if got := list.Msg.GetDevices(); len(got) != 1 || got[0].GetName() != "browser" {
				t.Fatalf("ListDevices = %v, want the one browser device", got)
			}
			watchReady(t, devices)
			bad := sealinev1connect.NewDeviceServiceClient(tr.http, e.URL, web, testenv.WithToken("nope"))
			_, err = bad.Ping(ctx, connect.NewRequest(&sealinev1.PingRequest{}))
			wantErr(t, err, connect.CodeUnauthenticated, "session_invalid")
		})
	}
}

// watchReady opens WatchDevices and reads its READY event.
func watchReady(t *testing.T, devices sealinev1connect.DeviceServiceClient) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := devices.WatchDevices(ctx, connect.NewRequest(&sealinev1.WatchDevicesRequest{}))
	if err != nil {
		t.Fatalf("WatchDevices over gRPC-Web: %v", err)
	}
	defer stream.Close()
	if !stream.Receive() {
		t.Fatalf("WatchDevices over gRPC-Web: no event: %v", stream.Err())
	}
	if k := stream.Msg().GetKind(); k != sealinev1.WatchDevicesResponse_KIND_READY {
		t.Fatalf("WatchDevices over gRPC-Web: first event %v, want READY", k)
	}
}

// http1Client is an HTTP/1.1-only client over TLS 1.3 trusting certPEM.
func http1Client(t *testing.T, certPEM []byte) *http.Client {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		t.Fatal("bad certificate PEM")
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13},
		Protocols:       protocols,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}
