package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealine/sealine/client"
)

// Messaging commands. A conversation is named by its id, a group's name,
// or, for a direct conversation, by "@USERNAME" or USERNAME. The local
// database is protected by SEALINE_PASSPHRASE when set (it must then be set
// on every run, from register on), else by <home>/storage.key.

func newMessagingCmds(a *app) []*cobra.Command {
	return []*cobra.Command{newChatCmd(a), newGroupCmd(a), newConversationsCmd(a), newSendCmd(a),
		newReadCmd(a), newSyncCmd(a), newListenCmd(a), newHistoryCmd(a)}
}

// eventFunc handles one event of the receive loop.
type eventFunc func(m *client.Messenger, ev client.Event)

// withMessenger opens the messenger, processes what is queued for this
// device while printing the events, runs fn, and prints what fn produced.
func (a *app) withMessenger(ctx context.Context, fn func(m *client.Messenger) error) error {
	m, err := a.openMessenger(ctx, a.printEvent)
	if err != nil {
		return err
	}
	defer m.Close()
	if fn == nil {
		return nil
	}
	err = fn(m)
	drain(m, named(ctx, a.printEvent))
	return err
}

// openMessenger opens this device's messenger, tops up its KeyPackages and
// processes everything queued for it, handing each event to onEvent as it
// arrives. Then it looks up the usernames of every conversation's users it
// does not know yet (say, someone who added this device), so that they can
// be named on the command line.
func (a *app) openMessenger(ctx context.Context, onEvent eventFunc) (*client.Messenger, error) {
	c, err := a.newClient()
	if err != nil {
		return nil, err
	}
	m, err := c.Messenger(client.MessengerConfig{Passphrase: a.getenv("SEALINE_PASSPHRASE")})
	if err != nil {
		return nil, err
	}
	if _, err := m.TopUpKeyPackages(ctx); err != nil {
		m.Close()
		return nil, err
	}
	if err := syncDraining(ctx, m, onEvent); err != nil {
		m.Close()
		return nil, fmt.Errorf("sync: %w", err)
	}
	m.ResolveUsernames(ctx, conversationUsers(m)...) // unnamed users show as ids
	return m, nil
}

// syncDraining runs m.Sync while one goroutine hands the events to onEvent:
// the receive loop blocks when the events channel is full, so a device with
// more queued events than the channel holds would otherwise never finish.
// onEvent runs on one goroutine at a time, so its output stays serialized.
func syncDraining(ctx context.Context, m *client.Messenger, onEvent eventFunc) error {
	onEvent = named(ctx, onEvent)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case ev := <-m.Events():
				onEvent(m, ev)
			case <-stop:
				return
			}
		}
	})
	err := m.Sync(ctx)
	close(stop)
	wg.Wait()
	drain(m, onEvent)
	return err
}

// drain hands the events already delivered to onEvent.
func drain(m *client.Messenger, onEvent eventFunc) {
	for {
		select {
		case ev := <-m.Events():
			onEvent(m, ev)
		default:
			return
		}
	}
}

// follow runs the receive loop until ctx ends (a clean exit) or the session
// is gone, handing each event to onEvent.
func follow(ctx context.Context, m *client.Messenger, onEvent eventFunc) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	onEvent = named(ctx, onEvent)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	for {
		select {
		case ev := <-m.Events():
			onEvent(m, ev)
		case err := <-done:
			if err == nil || errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
	}
}

// named hands each event to onEvent once the usernames it mentions are
// looked up: the SDK queued the unknown ones when it emitted the event. A
// user the server does not name (or a failed lookup) shows as an id.
func named(ctx context.Context, onEvent eventFunc) eventFunc {
	return func(m *client.Messenger, ev client.Event) {
		m.ResolveUsernames(ctx)
		onEvent(m, ev)
	}
}

// conversationUsers lists the user ids of every conversation's peer and
// members.
func conversationUsers(m *client.Messenger) []string {
	var ids []string
	for _, cv := range m.Conversations() {
		if cv.Peer != "" {
			ids = append(ids, cv.Peer)
		}
		for _, mem := range cv.Members {
			ids = append(ids, mem.UserID)
		}
	}
	return ids
}

// interrupted is nil when ctx was canceled (Ctrl-C ends a chat or a
// follow cleanly, even during its first sync), else err.
func interrupted(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return err
}

// findConversation returns the conversation target names, creating none:
// a conversation id, a group's name, or "@USER" or USER for the direct
// conversation with USER.
func findConversation(m *client.Messenger, target string) (string, error) {
	user, at := strings.CutPrefix(target, "@")
	var named, direct []string
	for _, cv := range m.Conversations() {
		switch {
		case !at && cv.ID == target:
			return cv.ID, nil
		case cv.Direct && user != "" && strings.EqualFold(m.Username(cv.Peer), user):
			direct = append(direct, cv.ID)
		case !at && !cv.Direct && cv.Name == target:
			named = append(named, cv.ID)
		}
	}
	if len(named) > 1 {
		return "", usageError{fmt.Errorf("%d groups are named %q; use a conversation id", len(named), printable(target))}
	}
	if ids := append(named, direct...); len(ids) > 0 {
		return ids[0], nil
	}
	return "", fmt.Errorf("%w: %s", client.ErrNoConversation, printable(target))
}

// openConversation is findConversation, but opens the direct conversation
// with a user when target names no conversation of this device.
func openConversation(ctx context.Context, m *client.Messenger, target string) (string, error) {
	conv, err := findConversation(m, target)
	if !errors.Is(err, client.ErrNoConversation) {
		return conv, err
	}
	user := strings.TrimPrefix(target, "@")
	conv, err = m.Direct(ctx, user)
	if err != nil {
		return "", fmt.Errorf("no conversation %q, and no direct conversation with a user of that name: %w", printable(target), err)
	}
	return conv, nil
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
						kind, name = "direct", "@"+userName(m, c.Peer)
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
		Use:   "send CONV|GROUP|@USER TEXT...",
		Short: "Send an end-to-end encrypted message",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageError{fmt.Errorf("%s: want a conversation and a message", c.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withMessenger(cmd.Context(), func(m *client.Messenger) error {
				text := strings.Join(args[1:], " ")
				if strings.TrimSpace(text) == "" {
					return usageError{errors.New("send: empty message")}
				}
				conv, err := openConversation(cmd.Context(), m, args[0])
				if err != nil {
					return fmt.Errorf("send: %w", err)
				}
				if _, err := m.Send(cmd.Context(), conv, text); err != nil {
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
				fmt.Fprintln(a.stdout, "listening")
				return follow(cmd.Context(), m, a.printEvent)
			})
		},
	}
}

func newHistoryCmd(a *app) *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use:   "history CONV|GROUP|@USER",
		Short: "Print a conversation's last messages from the local encrypted store",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withMessenger(cmd.Context(), func(m *client.Messenger) error {
				conv, err := findConversation(m, args[0])
				if err != nil {
					return fmt.Errorf("history: %w", err)
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

// userName returns a user's username when known, else its id; this
// account is "me".
func userName(m *client.Messenger, userID string) string {
	if userID == m.Me().UserID {
		return "me"
	}
	if name := m.Username(userID); name != "" {
		return name
	}
	return userID
}

func (a *app) printMessage(m *client.Messenger, msg client.Message) { writeMessage(a.stdout, m, msg) }

// writeMessage writes "CONV TIME FROM: BODY" for msg to w.
func writeMessage(w io.Writer, m *client.Messenger, msg client.Message) {
	from, body := messageLine(m, msg)
	fmt.Fprintf(w, "%s %s %s: %s\n", msg.ConvID, msg.SentAt.Local().Format(time.DateTime), from, body)
}

// messageLine returns a message's sender and body, made printable.
func messageLine(m *client.Messenger, msg client.Message) (from, body string) {
	from = userName(m, msg.From.UserID)
	body = msg.Text
	if md := msg.Attachment; md != nil {
		body = "[attachment " + md.Name + ", " + strconv.FormatInt(md.PlaintextSize, 10) + " bytes, id " +
			hex.EncodeToString(msg.ID[:])[:8] + "]"
	}
	return printable(from), printable(body)
}

// printEvent prints one line per event; security warnings are never hidden.
func (a *app) printEvent(m *client.Messenger, ev client.Event) { writeEvent(a.stdout, m, ev) }

// writeEvent writes one line for ev to w.
func writeEvent(w io.Writer, m *client.Messenger, ev client.Event) {
	switch ev := ev.(type) {
	case *client.MessageEvent:
		writeMessage(w, m, ev.Message)
	case *client.JoinedEvent:
		fmt.Fprintf(w, "%s joined (added by %s)\n", ev.ConvID, printable(userName(m, ev.By.UserID)))
	case *client.LeftEvent:
		fmt.Fprintf(w, "%s left\n", ev.ConvID)
	case *client.MemberEvent:
		fmt.Fprintf(w, "%s members: %d added, %d removed by %s\n", ev.ConvID, len(ev.Added), len(ev.Removed),
			printable(userName(m, ev.By.UserID)))
	case *client.ReceiptEvent:
		kind := "delivered"
		if ev.Kind == client.ReceiptRead {
			kind = "read"
		}
		fmt.Fprintf(w, "%s %s by %s (%d messages)\n", ev.ConvID, kind, printable(userName(m, ev.From.UserID)), len(ev.IDs))
	case *client.RenamedEvent:
		fmt.Fprintf(w, "%s named %q by %s\n", ev.ConvID, printable(ev.Name), printable(userName(m, ev.By.UserID)))
	case *client.SecurityWarning:
		fmt.Fprintf(w, "SECURITY WARNING %s in %s: %s\n", ev.Kind, ev.ConvID, printable(ev.Detail))
	}
}
