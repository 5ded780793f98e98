package server

import (
	"context"
	"net/http"

	"connectrpc.com/connect"

	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
)

// maxRequestBytes is the largest request message accepted (account.proto).
const maxRequestBytes = 64 << 10

// routes mounts the API services and /healthz.
func (s *Server) routes() http.Handler {
	opts := append(codecs(),
		connect.WithReadMaxBytes(hardMaxBytes),
		// Compressing small replies costs more CPU (gzip writer reset) than
		// it saves bytes.
		connect.WithCompressMinBytes(1024),
		connect.WithInterceptors(interceptor{s}),
		connect.WithRecover(s.recovered),
	)
	mux := http.NewServeMux()
	mux.Handle(sealinev1connect.NewAccountServiceHandler(accountService{s}, opts...))
	mux.Handle(sealinev1connect.NewDeviceServiceHandler(deviceService{s}, opts...))
	mux.Handle(sealinev1connect.NewUserServiceHandler(userService{s}, opts...))
	s.messagingRoutes(mux)
	mux.Handle(sealinev1connect.NewLifecycleServiceHandler(lifecycleService{s}, opts...))
	mux.HandleFunc("GET /healthz", s.healthz)
	return mux
}

// recovered turns a handler panic into an internal error. The panic value
// is not logged: it might hold request data.
func (s *Server) recovered(ctx context.Context, spec connect.Spec, _ http.Header, _ any) error {
	s.logger(ctx).Error("handler panicked", "procedure", spec.Procedure)
	return errReason(connect.CodeInternal, ReasonInternal)
}
