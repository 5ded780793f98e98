package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/internal/username"
)

// newAccountCmd groups the commands on the account's personal data.
func newAccountCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "account",
		Short: "Manage your account's personal data: phone, email, export, delete",
		Args:  noArgs,
	}
	cmd.AddCommand(
		newSetContactCmd(a, "set-phone NUMBER", "Set your phone number (international form, e.g. +81 90 1234 5678)", client.Phone),
		newSetContactCmd(a, "set-email ADDRESS", "Set your email address", client.Email),
		newClearContactCmd(a, "clear-phone", "Remove your phone number from the server", client.Phone),
		newClearContactCmd(a, "clear-email", "Remove your email address from the server", client.Email),
		newExportCmd(a), newDeleteAccountCmd(a),
	)
	return cmd
}

func newSetContactCmd(a *app, use, short string, kind client.ContactKind) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.newClient()
			if err != nil {
				return err
			}
			norm, err := c.SetContact(cmd.Context(), kind, args[0])
			if err != nil {
				return fmt.Errorf("set %s: %w", kind, err)
			}
			fmt.Fprintf(a.stdout, "%s set to %s (stored encrypted)\n", kind, printable(norm))
			return nil
		},
	}
}

func newClearContactCmd(a *app, use, short string, kind client.ContactKind) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.newClient()
			if err != nil {
				return err
			}
			if err := c.ClearContact(cmd.Context(), kind); err != nil {
				return fmt.Errorf("clear %s: %w", kind, err)
			}
			fmt.Fprintf(a.stdout, "%s removed\n", kind)
			return nil
		},
	}
}

// newExportCmd writes what the server holds about the account as JSON.
func newExportCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "export OUT",
		Short: "Write what the server holds about your account (profile, devices, settings) as JSON; OUT '-' is stdout",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.newClient()
			if err != nil {
				return err
			}
			x, err := c.ExportAccount(cmd.Context())
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			data, err := json.MarshalIndent(x, "", "  ")
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			return writeNew(a, args[0], append(data, '\n'))
		},
	}
}

// writeNew writes data to a new 0600 file (never over an existing one),
// or to stdout for "-".
func writeNew(a *app, path string, data []byte) error {
	if path == "-" {
		_, err := a.stdout.Write(data)
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	_, err = f.Write(data)
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		os.Remove(path)
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(a.stderr, "wrote %s\n", path)
	return nil
}

// newDeleteAccountCmd withdraws the account after a typed confirmation
// (the username) and the password.
func newDeleteAccountCmd(a *app) *cobra.Command {
	var confirm string
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete your account for good: its key is destroyed, so nothing of it can be recovered, not even from backups",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.deleteAccount(cmd.Context(), confirm, fromStdin)
		},
	}
	cmd.Flags().StringVar(&confirm, "yes-delete-my-account", "", "confirm without a prompt by giving the account's username (for scripts)")
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the confirmation (unless given as a flag) and then the password from stdin, one per line")
	return cmd
}

func (a *app) deleteAccount(ctx context.Context, confirm string, fromStdin bool) error {
	c, err := a.newClient()
	if err != nil {
		return err
	}
	s, err := c.Session()
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	pws, err := a.passwords(ctx, fromStdin)
	if err != nil {
		return err
	}
	if confirm == "" {
		fmt.Fprintf(a.stderr, "This deletes the account %s and everything the server holds about it, for good.\nType the username to confirm: ", printable(s.Username))
		if confirm, err = confirmLine(a, pws); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
	}
	if !sameUser(confirm, s.Username) {
		return usageError{fmt.Errorf("delete: %q is not the username of this account; nothing was deleted", printable(confirm))}
	}
	pw, err := pws.next("Password", false)
	if err != nil {
		return err
	}
	w, err := c.DeleteAccount(ctx, pw)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	fmt.Fprintf(a.stdout, "account %s deleted (%d devices, %d queued messages, %d files); this device's local state was removed\n",
		printable(s.Username), w.Devices, w.QueuedMessages, w.Blobs)
	return nil
}

// confirmLine reads one line: from the password stream when it is stdin,
// else from the terminal.
func confirmLine(a *app, pws *passwords) (string, error) {
	br := pws.lines
	if br == nil {
		br = bufio.NewReader(io.LimitReader(a.stdin, 256))
	}
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// sameUser compares usernames as the server does, after normalisation.
func sameUser(typed, account string) bool {
	x, err1 := username.Normalize(typed)
	y, err2 := username.Normalize(account)
	return err1 == nil && err2 == nil && x == y
}
