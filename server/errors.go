package server

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
)

// Stable error reasons, sent in sealinev1.ErrorDetail.Reason.
const (
	ReasonUsernameTaken      = "username_taken"
	ReasonUsernameInvalid    = "username_invalid"
	ReasonUsernameConfusable = "username_confusable"
	ReasonPasswordWeak       = "password_weak"
	ReasonBadCredentials     = "bad_credentials"
	ReasonLockedOut          = "locked_out"
	ReasonRateLimited        = "rate_limited"
	ReasonSessionInvalid     = "session_invalid"
	ReasonSessionRevoked     = "session_revoked"
	ReasonDeviceNotFound     = "device_not_found"
	ReasonFieldTooLong       = "field_too_long"
	ReasonFieldInvalid       = "field_invalid"
	ReasonMessageTooLarge    = "message_too_large"
	ReasonMessageInvalid     = "message_invalid"
	ReasonShuttingDown       = "shutting_down"
	ReasonCanceled           = "canceled"
	ReasonInternal           = "internal"
	ReasonPhoneInvalid       = "phone_invalid"
	ReasonEmailInvalid       = "email_invalid"
	ReasonContactNotSet      = "contact_not_set"
)

// messages are the human texts of each reason. They never hold personal data.
func message(reason string) string {
	switch reason {
	case ReasonUsernameTaken:
		return "username is already taken"
	case ReasonUsernameInvalid:
		return "username must be 3..32 letters, digits, '_', '.' or '-', beginning and ending with a letter or digit"
	case ReasonUsernameConfusable:
		return "username mixes scripts or looks like another name"
	case ReasonPasswordWeak:
		return "password must be at least 8 bytes and not the username"
	case ReasonBadCredentials:
		return "wrong username or password"
	case ReasonLockedOut:
		return "too many failed logins; try again later"
	case ReasonRateLimited:
		return "too many requests; try again later"
	case ReasonSessionInvalid:
		return "missing, unknown or expired session"
	case ReasonSessionRevoked:
		return "this device was logged out"
	case ReasonDeviceNotFound:
		return "no such device"
	case ReasonFieldTooLong:
		return "field too long"
	case ReasonFieldInvalid:
		return "field invalid"
	case ReasonMessageTooLarge:
		return "request larger than 64 KiB"
	case ReasonMessageInvalid:
		return "request is not a valid message"
	case ReasonShuttingDown:
		return "server is shutting down"
	case ReasonCanceled:
		return "request canceled"
	case ReasonPhoneInvalid, ReasonEmailInvalid, ReasonContactNotSet:
		return lifecycleMessage(reason)
	}
	return "internal error"
}

// apiError builds the *connect.Error for reason, with its ErrorDetail.
func apiError(code connect.Code, reason, field string, retryAfter time.Time) *connect.Error {
	msg := message(reason)
	if field != "" {
		msg += ": " + field
	}
	e := connect.NewError(code, errors.New(msg))
	d := &sealinev1.ErrorDetail{Reason: reason, Field: field}
	if !retryAfter.IsZero() {
		d.RetryAfter = timestamppb.New(retryAfter)
	}
	if detail, err := connect.NewErrorDetail(d); err == nil {
		e.AddDetail(detail)
	}
	return e
}

func errReason(code connect.Code, reason string) *connect.Error {
	return apiError(code, reason, "", time.Time{})
}

func errField(reason, field string) *connect.Error {
	return apiError(connect.CodeInvalidArgument, reason, field, time.Time{})
}

func errRetry(reason string, at time.Time) *connect.Error {
	return apiError(connect.CodeResourceExhausted, reason, "", at)
}

// errInternal logs err (store and crypto errors carry no personal data)
// and returns a bare internal error; context errors map to their codes.
func (s *Server) errInternal(ctx context.Context, op string, err error) *connect.Error {
	switch {
	case errors.Is(err, context.Canceled):
		return errReason(connect.CodeCanceled, ReasonCanceled)
	case errors.Is(err, context.DeadlineExceeded):
		return errReason(connect.CodeDeadlineExceeded, ReasonCanceled)
	}
	s.logger(ctx).Error("internal error", "op", op, "err", err.Error())
	return errReason(connect.CodeInternal, ReasonInternal)
}

// reasonOf extracts the ErrorDetail reason of err, or "" when there is none.
func reasonOf(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return ""
	}
	for _, d := range ce.Details() {
		v, err := d.Value()
		if ed, ok := v.(*sealinev1.ErrorDetail); ok && err == nil {
			return ed.Reason
		}
	}
	return ""
}
