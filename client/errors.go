package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
)

// Sentinel errors that callers branch on with errors.Is.
var (
	// Local outcomes, decided before any request is sent.
	ErrNotLoggedIn     = errors.New("not logged in")
	ErrAlreadyLoggedIn = errors.New("already logged in (log out first)")
	ErrInsecureURL     = errors.New("server URL must use https")
	ErrBadURL          = errors.New("malformed server URL")
	ErrBadCA           = errors.New("CA file holds no PEM certificate")
	ErrInsecureState   = errors.New("client state is readable by other users")

	// ErrUntrustedServer: the server's certificate did not verify against
	// the trusted CAs (for a self-signed server, pass its cert as CAPEM).
	ErrUntrustedServer = errors.New("server certificate is not trusted")

	// Server refusals, matched from ErrorDetail.reason.
	ErrBadCredentials      = errors.New("wrong username or password")
	ErrLockedOut           = errors.New("account temporarily locked after failed logins")
	ErrRateLimited         = errors.New("too many requests")
	ErrUsernameTaken       = errors.New("username is taken")
	ErrUsernameInvalid     = errors.New("username is not allowed")
	ErrPasswordWeak        = errors.New("password is too weak")
	ErrNewDevicesForbidden = errors.New("the account forbids new devices")
	ErrSessionInvalid      = errors.New("session is no longer valid (revoked or expired)")
	ErrDeviceNotFound      = errors.New("no such device")
	ErrInvalidInput        = errors.New("invalid input")
	// ErrUnavailable: the server is shutting down; retry, perhaps elsewhere.
	ErrUnavailable = errors.New("server is shutting down")
)

// reasons maps each stable ErrorDetail.reason to its sentinel.
var reasons = map[string]error{
	"bad_credentials":       ErrBadCredentials,
	"locked_out":            ErrLockedOut,
	"rate_limited":          ErrRateLimited,
	"username_taken":        ErrUsernameTaken,
	"username_invalid":      ErrUsernameInvalid,
	"username_confusable":   ErrUsernameInvalid,
	"password_weak":         ErrPasswordWeak,
	"new_devices_forbidden": ErrNewDevicesForbidden,
	"session_invalid":       ErrSessionInvalid,
	"session_revoked":       ErrSessionInvalid,
	"session_expired":       ErrSessionInvalid,
	"device_not_found":      ErrDeviceNotFound,
	"field_too_long":        ErrInvalidInput,
	"field_invalid":         ErrInvalidInput,
	"message_too_large":     ErrInvalidInput,
	"message_invalid":       ErrInvalidInput,
	"shutting_down":         ErrUnavailable,
}

// Error is a refusal from the server. errors.Is matches it against the
// sentinel for its Reason, and errors.As reaches the underlying
// *connect.Error.
type Error struct {
	Code       connect.Code
	Reason     string    // stable reason from ErrorDetail; may be empty
	Field      string    // offending request field, if any
	RetryAfter time.Time // zero unless the server said when to retry
	kind       error     // sentinel for Reason, or nil
	cause      error
}

func (e *Error) Error() string {
	var b strings.Builder
	msg := ""
	if ce := new(connect.Error); errors.As(e.cause, &ce) {
		msg = ce.Message()
	}
	if e.kind == nil {
		b.WriteString(e.Code.String())
	} else {
		b.WriteString(e.kind.Error())
	}
	if msg != "" && (e.kind == nil || explained[e.kind]) {
		b.WriteString(": " + msg)
	}
	if e.Field != "" && (e.kind == nil || e.kind == ErrInvalidInput) && !strings.Contains(msg, e.Field) {
		b.WriteString(" (field " + e.Field + ")")
	}
	if !e.RetryAfter.IsZero() {
		b.WriteString("; retry after " + e.RetryAfter.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// explained lists the refusals whose server message states a rule the user
// needs (what a valid username or password looks like).
var explained = map[error]bool{ErrUsernameInvalid: true, ErrPasswordWeak: true, ErrInvalidInput: true}

// Unwrap returns the sentinel (when the reason is known) and the Connect error.
func (e *Error) Unwrap() []error {
	if e.kind == nil {
		return []error{e.cause}
	}
	return []error{e.kind, e.cause}
}

// mapError turns an error from a Connect call into one callers can branch on.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	var ue x509.UnknownAuthorityError
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ue) || errors.As(err, &ve) {
		return fmt.Errorf("%w: %w", ErrUntrustedServer, err)
	}
	ce := new(connect.Error)
	if !errors.As(err, &ce) {
		return err
	}
	e := &Error{Code: ce.Code(), cause: err}
	if d := errorDetail(ce); d != nil {
		e.Reason, e.Field = d.GetReason(), d.GetField()
		if d.GetRetryAfter() != nil {
			e.RetryAfter = d.GetRetryAfter().AsTime()
		}
		e.kind = reasons[e.Reason]
	}
	if e.kind == nil && !connect.IsWireError(err) {
		return err // a transport failure, not a server refusal
	}
	return e
}

// errorDetail returns the first sealinev1.ErrorDetail attached to ce.
func errorDetail(ce *connect.Error) *sealinev1.ErrorDetail {
	for _, d := range ce.Details() {
		v, err := d.Value()
		if err != nil {
			continue
		}
		if ed, ok := v.(*sealinev1.ErrorDetail); ok {
			return ed
		}
	}
	return nil
}
