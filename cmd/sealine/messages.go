package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealine/sealine/client"
)

// Messaging commands. A conversation is named by its id or, for a direct
// conversation, by "@USERNAME". The local database is protected by
// SEALINE_PASSPHRASE when set (it must then be set on every run), else by
// <home>/storage.key.

func newMessagingCmds(a *app) []*cobra.Command {
	return []*cobra.Command{newChatCmd(a), newGroupCmd(a), newConversationsCmd(a), newSendCmd(a),
		newSyncCmd(a), newListenCmd(a), newHistoryCmd(a)}
}

// withMessenger opens the messenger, processes what is queued for this
// device, prints the events, runs fn, and prints what fn produced.
func (a *app) withMessenger(ctx context.Context, fn func(m *client.Messenger) error) error {
	c, err := a.newClient()
	if err != nil {
		return err
	}
	m, err := c.Messenger(client.MessengerConfig{Passphrase: a.getenv("SEALINE_PASSPHRASE")})
	if err != nil {
		return err
	}
	defer m.Close()
	if _, err := m.TopUpKeyPackages(ctx); err != nil {
		return err
	}
	if err := m.Sync(ctx); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	a.drain(m)
	if fn == nil {
		return nil
	}
	err = fn(m)
	a.drain(m)
	return err
}

// drain prints the events already delivered.
func (a *app) drain(m *client.Messenger) {
	for {
		select {
		case ev := <-m.Events():
			a.printEvent(m, ev)
		default:
			return
		}
	}
}

// resolve turns "@USER" into the direct conversation with USER.
func resolve(ctx context.Context, m *client.Messenger, conv string) (string, error) {
	if user, ok := strings.CutPrefix(conv, "@"); ok {
		return m.Direct(ctx, user)
	}
	return conv, nil
}

func newChatCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "chat USER",
		Short: "Open (or find) the end-to-end encrypted direct conversation with USER; prints its id",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withMessenger(cmd.Context(), func(m *client.Messenger) error {
				id, err := m.Direct(cmd.Context(), args[0])
				if err != nil {
					return fmt.Errorf("chat %s: %w", printable(args[0]), err)
				}
				fmt.Fprintf(a.stdout, "conversation %s with %s\n", id, printable(args[0]))
				return nil
			})
		},
	}
}

func newGroupCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Create group conversations and change their members"}
	sub := func(use, short string, minArgs int, run func(ctx context.Context, m *client.Messenger, args []string) error) {
		cmd.AddCommand(&cobra.Command{
			Use: use, Short: short,
			Args: func(c *cobra.Command, args []string) error {
				if len(args) < minArgs {
					return usageError{fmt.Errorf("%s: want at least %d argument(s)", c.CommandPath(), minArgs)}
				}
				return nil
			},
			RunE: func(c *cobra.Command, args []string) error {
				return a.withMessenger(c.Context(), func(m *client.Messenger) error { return run(c.Context(), m, args) })
			},
		})
	}
	sub("create NAME USER...", "Create a group with every device of each USER", 2, func(ctx context.Context, m *client.Messenger, args []string) error {
		id, err := m.CreateGroup(ctx, args[0], args[1:]...)
		if err != nil {
			return fmt.Errorf("group create: %w", err)
		}
		fmt.Fprintf(a.stdout, "conversation %s\n", id)
		return nil
	})
	sub("add CONV USER...", "Add every device of each USER", 2, func(ctx context.Context, m *client.Messenger, args []string) error {
		return m.Add(ctx, args[0], args[1:]...)
	})
	sub("remove CONV USER...", "Remove every device of each USER", 2, func(ctx context.Context, m *client.Messenger, args []string) error {
		return m.Remove(ctx, args[0], args[1:]...)
	})
	sub("rename CONV NAME...", "Set a group's name for every member", 2, func(ctx context.Context, m *client.Messenger, args []string) error {
		return m.Rename(ctx, args[0], strings.Join(args[1:], " "))
	})
	sub("leave CONV", "Leave a conversation", 1, func(ctx context.Context, m *client.Messenger, args []string) error {
		return m.Leave(ctx, args[0])
	})
	return cmd
}

func newConversationsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "conversations",
		Short: "List this device's conversations",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withMessenger(cmd.Context(), func(m *client.Messenger) error {
				tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tKIND\tNAME\tMEMBERS\tEPOCH")
				for _, c := range m.Conversations() {
					kind, name := "group", c.Name
					if c.Direct {
						kind, name = "direct", "@"+a.userName(m, c.Peer)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", c.ID, kind, printable(name), len(c.Members), c.Epoch)
				}
				return tw.Flush()
			})
		},
	}
}

func newSendCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "send CONV|@USER TEXT...",
		Short: "Send an end-to-end encrypted message",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageError{fmt.Errorf("%s: want a conversation and a message", c.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withMessenger(cmd.Context(), func(m *client.Messenger) error {
				conv, err := resolve(cmd.Context(), m, args[0])
				if err != nil {
					return err
				}
				if _, err := m.Send(cmd.Context(), conv, strings.Join(args[1:], " ")); err != nil {
					return fmt.Errorf("send: %w", err)
				}
				fmt.Fprintf(a.stdout, "sent to %s\n", conv)
				return nil
			})
		},
	}
}

func newSyncCmd(a *app) *cobra.Command {
	var devices bool
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Receive and print what arrived for this device, then exit",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !devices {
				return a.withMessenger(cmd.Context(), nil)
			}
			return a.withMessenger(cmd.Context(), func(m *client.Messenger) error {
				n, err := m.SyncOwnDevices(cmd.Context())
				if err != nil {
					return fmt.Errorf("sync devices: %w", err)
				}
				fmt.Fprintf(a.stdout, "updated this account's devices in %d conversation(s)\n", n)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&devices, "devices", false,
		"also add this account's new devices to every conversation and remove revoked ones")
	return cmd
}

func newListenCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "listen",
		Short: "Receive and print messages and events until interrupted",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withMessenger(cmd.Context(), func(m *client.Messenger) error {
				ctx, cancel := context.WithCancel(cmd.Context())
				defer cancel()
				done := make(chan error, 1)
				go func() { done <- m.Run(ctx) }()
				fmt.Fprintln(a.stdout, "listening")
				for {
					select {
					case ev := <-m.Events():
						a.printEvent(m, ev)
					case err := <-done:
						if errors.Is(err, context.Canceled) {
							return nil
						}
						return err
					}
				}
			})
		},
	}
}

func newHistoryCmd(a *app) *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use:   "history CONV|@USER",
		Short: "Print a conversation's last messages from the local encrypted store",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withMessenger(cmd.Context(), func(m *client.Messenger) error {
				conv, err := resolve(cmd.Context(), m, args[0])
				if err != nil {
					return err
				}
				msgs, err := m.History(conv, n)
				if err != nil {
					return err
				}
				for _, msg := range msgs {
					a.printMessage(m, msg)
				}
				return nil
			})
		},
	}
	cmd.Flags().IntVarP(&n, "number", "n", 20, "how many messages")
	return cmd
}

// userName returns a user's username when known, else its id.
func (a *app) userName(m *client.Messenger, userID string) string {
	if name := m.Username(userID); name != "" {
		return name
	}
	return userID
}

func (a *app) printMessage(m *client.Messenger, msg client.Message) {
	from := a.userName(m, msg.From.UserID)
	if msg.Outgoing {
		from = "me"
	}
	body := msg.Text
	if msg.Attachment != nil {
		body = "[attachment " + msg.Attachment.Name + ", " + strconv.FormatInt(msg.Attachment.PlaintextSize, 10) + " bytes]"
	}
	fmt.Fprintf(a.stdout, "%s %s %s: %s\n", msg.ConvID, msg.SentAt.Local().Format(time.DateTime), printable(from), printable(body))
}

// printEvent prints one line per event; security warnings are never hidden.
func (a *app) printEvent(m *client.Messenger, ev client.Event) {
	switch ev := ev.(type) {
	case *client.MessageEvent:
		a.printMessage(m, ev.Message)
	case *client.JoinedEvent:
		fmt.Fprintf(a.stdout, "%s joined (added by %s)\n", ev.ConvID, printable(a.userName(m, ev.By.UserID)))
	case *client.LeftEvent:
		fmt.Fprintf(a.stdout, "%s left\n", ev.ConvID)
	case *client.MemberEvent:
		fmt.Fprintf(a.stdout, "%s members: %d added, %d removed by %s\n", ev.ConvID, len(ev.Added), len(ev.Removed),
			printable(a.userName(m, ev.By.UserID)))
	case *client.ReceiptEvent:
		kind := "delivered"
		if ev.Kind == client.ReceiptRead {
			kind = "read"
		}
		fmt.Fprintf(a.stdout, "%s %s by %s (%d messages)\n", ev.ConvID, kind, printable(a.userName(m, ev.From.UserID)), len(ev.IDs))
	case *client.RenamedEvent:
		fmt.Fprintf(a.stdout, "%s named %q by %s\n", ev.ConvID, printable(ev.Name), printable(a.userName(m, ev.By.UserID)))
	case *client.SecurityWarning:
		fmt.Fprintf(a.stdout, "SECURITY WARNING %s in %s: %s\n", ev.Kind, ev.ConvID, printable(ev.Detail))
	}
}
