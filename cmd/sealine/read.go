package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealine/sealine/client"
)

// jsonMessage is one line of `sealine read --json`.
type jsonMessage struct {
	Conversation string          `json:"conversation"`
	ID           string          `json:"id"`
	Sender       string          `json:"sender"` // username, or user id when unknown
	Outgoing     bool            `json:"outgoing,omitempty"`
	Time         time.Time       `json:"time"` // the sender's clock
	Kind         string          `json:"kind"` // "text" or "attachment"
	Text         string          `json:"text,omitempty"`
	Attachment   *jsonAttachment `json:"attachment,omitempty"`
}

// jsonAttachment describes an attachment message; `sealine attach get ID`
// downloads it.
type jsonAttachment struct {
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	MediaType string `json:"media_type,omitempty"`
}

func newReadCmd(a *app) *cobra.Command {
	var follow, asJSON bool
	cmd := &cobra.Command{
		Use:   "read [CONV|GROUP|@USER]",
		Short: "Receive and print new messages (of one conversation, or all), then exit or --follow",
		Long: "Receive what is queued for this device and print its messages, of every conversation\n" +
			"or of the one named. With --follow, keep printing new messages until interrupted.\n" +
			"With --json, print one JSON object per message: conversation, id, sender, time, kind, text.\n" +
			"Security warnings are printed to stderr.",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("%s: want at most 1 argument, got %d", c.CommandPath(), len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			r := &reader{a: a, json: asJSON}
			if len(args) == 1 {
				r.target = args[0]
			}
			return r.run(cmd.Context(), follow)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new messages until interrupted")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line")
	return cmd
}

// reader prints the messages of `sealine read`.
type reader struct {
	a      *app
	json   bool
	target string // "" for every conversation
	conv   string // the conversation target names
	me     string // this account's username
}

// run syncs, prints what arrived, and with follow keeps receiving. The
// conversation is looked up after the sync, which may have joined it.
func (r *reader) run(ctx context.Context, followOn bool) error {
	var got []client.Message
	m, err := r.a.openMessenger(ctx, func(m *client.Messenger, ev client.Event) {
		if me, ok := ev.(*client.MessageEvent); ok {
			got = append(got, me.Message)
			return
		}
		r.a.warn(ev)
	})
	if err != nil && followOn {
		return interrupted(ctx, err)
	}
	if err != nil {
		return err
	}
	defer m.Close()
	r.me = r.a.username()
	if r.target != "" {
		if r.conv, err = findConversation(m, r.target); err != nil {
			return fmt.Errorf("read: %w", err)
		}
	}
	for _, msg := range got {
		r.print(m, msg)
	}
	if !followOn {
		return nil
	}
	return follow(ctx, m, r.event)
}

// event prints a message event of the followed conversation(s).
func (r *reader) event(m *client.Messenger, ev client.Event) {
	if me, ok := ev.(*client.MessageEvent); ok {
		r.print(m, me.Message)
		return
	}
	r.a.warn(ev)
}

// print prints msg if it belongs to the conversation read.
func (r *reader) print(m *client.Messenger, msg client.Message) {
	if r.conv != "" && msg.ConvID != r.conv {
		return
	}
	if !r.json {
		r.a.printMessage(m, msg)
		return
	}
	jm := toJSON(m, msg)
	if msg.From.UserID == m.Me().UserID {
		jm.Sender = r.me
	}
	b, err := json.Marshal(jm)
	if err != nil { // cannot happen: strings, numbers and a time
		fmt.Fprintf(r.a.stderr, "sealine: read: %v\n", err)
		return
	}
	fmt.Fprintf(r.a.stdout, "%s\n", b)
}

// toJSON converts a message for `read --json` (JSON escapes control
// characters, so the text is kept as sent).
func toJSON(m *client.Messenger, msg client.Message) jsonMessage {
	jm := jsonMessage{
		Conversation: msg.ConvID, ID: hex.EncodeToString(msg.ID[:]), Sender: userName(m, msg.From.UserID),
		Outgoing: msg.Outgoing, Time: msg.SentAt.UTC(), Kind: "text", Text: msg.Text,
	}
	if md := msg.Attachment; md != nil {
		jm.Kind = "attachment"
		jm.Attachment = &jsonAttachment{Name: md.Name, Size: md.PlaintextSize, MediaType: md.MediaType}
	}
	return jm
}

// username returns this device's account name from its session, or "me".
func (a *app) username() string {
	if c, err := a.newClient(); err == nil {
		if s, err := c.Session(); err == nil {
			return s.Username
		}
	}
	return "me"
}

// warn prints a security warning to stderr; it is never hidden.
func (a *app) warn(ev client.Event) {
	if w, ok := ev.(*client.SecurityWarning); ok {
		fmt.Fprintf(a.stderr, "SECURITY WARNING %s in %s: %s\n", w.Kind, w.ConvID, printable(w.Detail))
	}
}
