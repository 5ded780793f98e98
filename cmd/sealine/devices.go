package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealine/sealine/client"
)

func newDevicesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List this account's devices (* marks this device)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.newClient()
			if err != nil {
				return err
			}
			devs, err := c.Devices(cmd.Context())
			if err != nil {
				return fmt.Errorf("devices: %w", err)
			}
			return a.printDevices(devs)
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "revoke ID",
		Short: "Log a device out at once (remote logout)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.newClient()
			if err != nil {
				return err
			}
			s, err := c.Session()
			if err != nil {
				return err
			}
			if err := c.RevokeDevice(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("revoke %s: %w", printable(args[0]), err)
			}
			note := ""
			if args[0] == s.DeviceID {
				note = " (this device: logged out)"
			}
			fmt.Fprintf(a.stdout, "revoked device %s%s\n", printable(args[0]), note)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "watch",
		Short: "Print the account's device events (new logins, revocations) until interrupted",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.newClient()
			if err != nil {
				return err
			}
			return a.watch(cmd.Context(), c)
		},
	})
	return cmd
}

// watch prints one line per device event. An interrupt ends it cleanly.
func (a *app) watch(ctx context.Context, c *client.Client) error {
	w, err := c.WatchDevices(ctx)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer w.Close()
	fmt.Fprintln(a.stdout, "watching devices")
	for {
		ev, err := w.Next()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			return fmt.Errorf("watch: %w", err)
		}
		fmt.Fprintf(a.stdout, "%s %s %s %s\n", time.Now().Format(time.RFC3339), ev.Kind,
			printable(ev.Device.ID), printable(ev.Device.Name))
	}
}

// printDevices writes the device table.
func (a *app) printDevices(devs []client.Device) error {
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\tID\tNAME\tCREATED\tLAST SEEN")
	for _, d := range devs {
		mark := ""
		if d.Current {
			mark = "*"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", mark, printable(d.ID), printable(d.Name),
			stamp(d.CreatedAt), stamp(d.LastSeenAt))
	}
	return w.Flush()
}

// stamp formats t in local time to the minute, or "-" when unknown.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}
