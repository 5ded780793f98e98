package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"
)

// requestIDHeader carries the request id back to the caller.
const requestIDHeader = "Sealine-Request-Id"

type requestIDKey struct{}

// requestID returns the request's id.
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// logger returns the request's logger (with request id), or the server's.
// It is built when asked for, on the rare paths that log, rather than for
// every RPC.
func (s *Server) logger(ctx context.Context) *slog.Logger {
	if id := requestID(ctx); id != "" {
		return s.log.With("request_id", id)
	}
	return s.log
}

// interceptor authenticates, logs and measures every RPC.
type interceptor struct{ s *Server }

func (i interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		var resp connect.AnyResponse
		err := i.s.around(ctx, req.Spec().Procedure, req.Header(), func(ctx context.Context) error {
			var err error
			resp, err = next(ctx, req)
			if err == nil {
				resp.Header().Set(requestIDHeader, requestID(ctx))
			}
			return err
		}, req.Any())
		if err != nil {
			return nil, err
		}
		return resp, nil
	}
}

func (i interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return i.s.around(ctx, conn.Spec().Procedure, conn.RequestHeader(), func(ctx context.Context) error {
			conn.ResponseHeader().Set(requestIDHeader, requestID(ctx))
			return next(ctx, checkedConn{conn})
		}, nil)
	}
}

// around runs one RPC: request id, authentication, then call; afterwards it
// makes sure the error carries a reason, and logs and counts the outcome.
// Logs hold the procedure, code, reason and duration, never a message.
// msg is the unary request (nil for streams, whose messages checkedConn checks).
func (s *Server) around(ctx context.Context, procedure string, h http.Header, call func(context.Context) error, msg any) error {
	start := time.Now()
	id := newRequestID()
	ctx = context.WithValue(ctx, requestIDKey{}, id)
	err := decodeError(msg)
	if err == nil {
		err = s.authorize(ctx, procedure, h, call)
	}
	err = withReason(err)
	code, reason := "ok", ""
	if err != nil {
		code, reason = connect.CodeOf(err).String(), reasonOf(err)
		var ce *connect.Error
		if errors.As(err, &ce) {
			ce.Meta().Set(requestIDHeader, id)
		}
	}
	elapsed := time.Since(start)
	s.metrics.observe(procedure, code, reason, elapsed)
	s.log.LogAttrs(ctx, levelFor(code), "rpc", slog.String("request_id", id), slog.String("procedure", procedure),
		slog.String("code", code), slog.String("reason", reason), slog.Duration("duration", elapsed))
	return err
}

// authorize checks the session of non-public procedures, then calls.
func (s *Server) authorize(ctx context.Context, procedure string, h http.Header, call func(context.Context) error) error {
	if !public(procedure) {
		c, err := s.authenticate(ctx, h)
		if err != nil {
			return err
		}
		ctx = withCaller(ctx, c)
	}
	return call(ctx)
}

// withReason turns an error without an ErrorDetail into one with a reason.
func withReason(err error) error {
	if err == nil || reasonOf(err) != "" {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled), connect.CodeOf(err) == connect.CodeCanceled:
		return errReason(connect.CodeCanceled, ReasonCanceled)
	case errors.Is(err, context.DeadlineExceeded), connect.CodeOf(err) == connect.CodeDeadlineExceeded:
		return errReason(connect.CodeDeadlineExceeded, ReasonCanceled)
	case connect.CodeOf(err) == connect.CodeResourceExhausted: // beyond hardMaxBytes
		return errReason(connect.CodeResourceExhausted, ReasonMessageTooLarge)
	case connect.CodeOf(err) == connect.CodeInvalidArgument:
		return errReason(connect.CodeInvalidArgument, ReasonMessageInvalid)
	}
	return errReason(connect.CodeInternal, ReasonInternal)
}

func levelFor(code string) slog.Level {
	switch code {
	case "ok", "canceled":
		return slog.LevelInfo
	case "internal", "unknown", "data_loss":
		return slog.LevelError
	}
	return slog.LevelWarn
}

// newRequestID returns 8 random bytes in hex. It uses crypto/rand directly:
// request ids are not secrets and must not drain an injected test reader.
func newRequestID() string {
	b := make([]byte, 8)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b)
}
