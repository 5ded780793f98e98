package server

import (
	"unicode"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/internal/username"
)

// Field bounds from api/sealine/v1/account.proto.
const (
	maxUsernameBytes    = username.MaxInputBytes
	minPasswordBytes    = 8
	maxPasswordBytes    = 1024
	maxDisplayNameBytes = 64
	maxDeviceNameBytes  = 64
	signatureKeyBytes   = 32
	maxDeviceIDBytes    = 64
)

// rule is one field check; the first failing rule decides the error.
type rule struct {
	field string
	bad   bool
	why   string
}

func firstViolation(rules ...rule) error {
	for _, r := range rules {
		if r.bad {
			return errField(r.why, r.field)
		}
	}
	return nil
}

func tooLong(field, v string, max int) rule {
	return rule{field, len(v) > max, ReasonFieldTooLong}
}

func validateDevice(d *sealinev1.NewDevice) error {
	if d == nil {
		return errField(ReasonFieldInvalid, "device")
	}
	return firstViolation(
		tooLong("device.name", d.GetName(), maxDeviceNameBytes),
		rule{"device.name", d.GetName() == "" || hasControl(d.GetName()), ReasonFieldInvalid},
		rule{"device.signature_key", len(d.GetSignatureKey()) != signatureKeyBytes, ReasonFieldInvalid},
	)
}

func validateRegister(m *sealinev1.RegisterRequest) error {
	err := firstViolation(
		tooLong("username", m.GetUsername(), maxUsernameBytes),
		tooLong("password", m.GetPassword(), maxPasswordBytes),
		rule{"password", len(m.GetPassword()) < minPasswordBytes, ReasonPasswordWeak},
		tooLong("display_name", m.GetDisplayName(), maxDisplayNameBytes),
		rule{"display_name", hasControl(m.GetDisplayName()), ReasonFieldInvalid},
	)
	if err != nil {
		return err
	}
	return validateDevice(m.GetDevice())
}

func validateLogin(m *sealinev1.LoginRequest) error {
	err := firstViolation(
		tooLong("username", m.GetUsername(), maxUsernameBytes),
		tooLong("password", m.GetPassword(), maxPasswordBytes),
	)
	if err != nil {
		return err
	}
	return validateDevice(m.GetDevice())
}

func validateChangePassword(m *sealinev1.ChangePasswordRequest) error {
	return firstViolation(
		tooLong("current_password", m.GetCurrentPassword(), maxPasswordBytes),
		tooLong("new_password", m.GetNewPassword(), maxPasswordBytes),
		rule{"new_password", len(m.GetNewPassword()) < minPasswordBytes, ReasonPasswordWeak},
	)
}

func validateRevoke(m *sealinev1.RevokeDeviceRequest) error {
	return firstViolation(
		tooLong("device_id", m.GetDeviceId(), maxDeviceIDBytes),
		rule{"device_id", m.GetDeviceId() == "", ReasonFieldInvalid},
	)
}

// hasControl reports control or format characters (e.g. bidi overrides),
// which have no place in a name shown to other people.
func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return true
		}
	}
	return false
}
