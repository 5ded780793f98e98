package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealine/sealine/client"
)

// maxDeviceName is the API's bound on a device name, in bytes.
const maxDeviceName = 64

// enrollFunc creates this device's session for user with password pw.
type enrollFunc func(ctx context.Context, c *client.Client, user, pw, device string) (client.Session, error)

// newEnrollCmd builds register or login: both take USER, a device name and
// a password (confirmed when registering), and print the new device's id.
func newEnrollCmd(a *app, use, short, done string, confirm bool, enroll enrollFunc) *cobra.Command {
	var device string
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   use + " USER",
		Short: short,
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.newClient()
			if err != nil {
				return err
			}
			if c.LoggedIn() { // before asking for a password
				return fmt.Errorf("%s: %w: %s holds a session", use, client.ErrAlreadyLoggedIn, c.Home())
			}
			pw, err := a.password(cmd.Context(), fromStdin, confirm)
			if err != nil {
				return err
			}
			s, err := enroll(cmd.Context(), c, args[0], pw, device)
			if err != nil {
				return fmt.Errorf("%s: %w", use, err)
			}
			fmt.Fprintf(a.stdout, "%s %s; this device is %s\n", done, printable(s.Username), s.DeviceID)
			a.publishKeyPackages(cmd.Context(), c)
			return nil
		},
	}
	cmd.Flags().StringVar(&device, "device-name", defaultDeviceName(), "name of this device in device lists")
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of stdin")
	return cmd
}

// keyPackageTimeout bounds the KeyPackage upload after register and login.
const keyPackageTimeout = 30 * time.Second

// publishKeyPackages uploads the new device's MLS KeyPackages, so that
// others can add it to conversations at once. The account exists either
// way, so a failure is only a warning: any messaging command retries.
func (a *app) publishKeyPackages(ctx context.Context, c *client.Client) {
	ctx, cancel := context.WithTimeout(ctx, keyPackageTimeout)
	defer cancel()
	m, err := c.Messenger(client.MessengerConfig{Passphrase: a.getenv("SEALINE_PASSPHRASE")})
	if err == nil {
		_, err = m.TopUpKeyPackages(ctx)
		m.Close()
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "sealine: warning: KeyPackages not published yet (%s); 'sealine sync' retries\n",
			printable(err.Error()))
	}
}

func newRegisterCmd(a *app) *cobra.Command {
	var displayName string
	cmd := newEnrollCmd(a, "register", "Create an account with this device as its first device", "registered", true,
		func(ctx context.Context, c *client.Client, user, pw, device string) (client.Session, error) {
			return c.Register(ctx, client.RegisterParams{Username: user, Password: pw, DisplayName: displayName, DeviceName: device})
		})
	cmd.Flags().StringVar(&displayName, "display-name", "", "name shown to others (stored encrypted)")
	return cmd
}

func newLoginCmd(a *app) *cobra.Command {
	return newEnrollCmd(a, "login", "Log this device in to an existing account (a new device)", "logged in as", false,
		func(ctx context.Context, c *client.Client, user, pw, device string) (client.Session, error) {
			return c.Login(ctx, client.LoginParams{Username: user, Password: pw, DeviceName: device})
		})
}

func newLogoutCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "End this device's session and delete its local state",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.newClient()
			if err != nil {
				return err
			}
			if err := c.Logout(cmd.Context()); err != nil {
				return fmt.Errorf("logout: %w", err)
			}
			fmt.Fprintln(a.stdout, "logged out")
			return nil
		},
	}
}

func newPasswordCmd(a *app) *cobra.Command {
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   "password",
		Short: "Change the account's password; every other device is logged out",
		Long: "Change the account's password. Every other device of the account is logged out.\n" +
			"With --password-stdin, the first line of stdin is the current password and the second the new one.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.newClient()
			if err != nil {
				return err
			}
			if _, err := c.Session(); err != nil { // before asking for passwords
				return err
			}
			pws, err := a.passwords(cmd.Context(), fromStdin)
			if err != nil {
				return err
			}
			current, err := pws.next("Current password", false)
			if err != nil {
				return err
			}
			next, err := pws.next("New password", true)
			if err != nil {
				return err
			}
			n, err := c.ChangePassword(cmd.Context(), current, next)
			if err != nil {
				return fmt.Errorf("password: %w", err)
			}
			fmt.Fprintf(a.stdout, "password changed; %d other device(s) logged out\n", n)
			return nil
		},
	}
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the current and the new password from the first two lines of stdin")
	return cmd
}

// password reads one password for register (confirmed) or login.
func (a *app) password(ctx context.Context, fromStdin, confirm bool) (string, error) {
	pws, err := a.passwords(ctx, fromStdin)
	if err != nil {
		return "", err
	}
	return pws.next("Password", confirm)
}

// defaultDeviceName is the host name, cut to the API's bound.
func defaultDeviceName() string {
	name, err := os.Hostname()
	if err != nil || name == "" {
		return "cli"
	}
	if len(name) > maxDeviceName {
		name = name[:maxDeviceName] // host names are ASCII
	}
	return name
}
