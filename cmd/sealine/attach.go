package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/client/attachment"
)

// Attachments: `attach send` encrypts a file with a fresh key while it
// uploads it, then sends the key and hash to the conversation in an MLS
// message; `attach list` shows the attachment messages with their ids;
// `attach get` finds one, downloads, verifies and decrypts the file. Progress goes to stderr: a live line on a terminal,
// otherwise one summary line.

func newAttachCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "attach",
		Short: "Send and fetch end-to-end encrypted files",
		Args:  noArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "send PEER|GROUP FILE",
		Short: "Encrypt FILE, upload it and send it to a user or group (by conversation id or name)",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.attachSend(cmd.Context(), args[0], args[1])
		},
	}, &cobra.Command{
		Use:   "list [CONV]",
		Short: "List received and sent attachments with their message ids",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.attachList(cmd.Context(), args)
		},
	}, &cobra.Command{
		Use:   "get ID OUT",
		Short: "Download, verify and decrypt the attachment of message ID into the new file OUT",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.attachGet(cmd.Context(), args[0], args[1])
		},
	})
	return cmd
}

// attachSend uploads path and sends its metadata to target.
func (a *app) attachSend(ctx context.Context, target, path string) error {
	f, size, err := openAttachment(path)
	if err != nil {
		return err
	}
	defer f.Close()
	name := filepath.Base(path)
	if !attachment.ValidName(name) {
		return usageError{fmt.Errorf("attach send: the file name %q cannot be sent (control characters, or too long)", name)}
	}
	c, m, err := a.attachMessenger(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	conv, err := attachTarget(ctx, m, target)
	if err != nil {
		return err
	}
	p := a.newAttachProgress("sending "+name, size)
	md, err := c.UploadAttachment(ctx, conv, f, size, name, p.update)
	p.finish(err)
	if err != nil {
		return fmt.Errorf("attach send: %w", err)
	}
	id, err := m.SendAttachment(ctx, conv, md)
	if err != nil {
		return fmt.Errorf("attach send: uploaded, but the message was not sent: %w", err)
	}
	fmt.Fprintf(a.stdout, "sent %s (%s) as message %s\n", printable(name), sizeIEC(size), hex.EncodeToString(id[:]))
	return nil
}

// openAttachment opens a regular file for reading and returns its size.
func openAttachment(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, usageError{fmt.Errorf("attach send: %w", err)}
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", path)
	}
	if err != nil {
		f.Close()
		return nil, 0, usageError{fmt.Errorf("attach send: %w", err)}
	}
	return f, info.Size(), nil
}

// attachMessenger opens the logged-in client and its messaging state,
// tops up its KeyPackages and catches up with everything queued for this
// device. The messages received meanwhile go to the local history (see
// `sealine history`); security warnings are printed to stderr.
func (a *app) attachMessenger(ctx context.Context) (*client.Client, *client.Messenger, error) {
	c, err := a.newClient()
	if err != nil {
		return nil, nil, err
	}
	m, err := c.Messenger(client.MessengerConfig{Passphrase: a.getenv("SEALINE_PASSPHRASE")})
	if err != nil {
		return nil, nil, err
	}
	if _, err := m.TopUpKeyPackages(ctx); err != nil {
		m.Close()
		return nil, nil, err
	}
	done := make(chan struct{})
	go a.attachWarnings(m, done)
	err = m.Sync(ctx)
	close(done)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("sync: %w", err)
	}
	return c, m, nil
}

// attachWarnings reads m's events until done (the receive loop blocks
// when nobody reads them) and prints the security warnings.
func (a *app) attachWarnings(m *client.Messenger, done <-chan struct{}) {
	for {
		select {
		case ev := <-m.Events():
			if w, ok := ev.(*client.SecurityWarning); ok {
				fmt.Fprintf(a.stderr, "SECURITY WARNING %s in %s: %s\n", w.Kind, w.ConvID, printable(w.Detail))
			}
		case <-done:
			return
		}
	}
}

// attachTarget resolves "@USER" or USER (the direct conversation with
// USER, created if needed), a conversation id, or a group's name.
func attachTarget(ctx context.Context, m *client.Messenger, target string) (string, error) {
	user, at := strings.CutPrefix(target, "@")
	var named []string
	for _, cv := range m.Conversations() {
		if !at && cv.ID == target {
			return cv.ID, nil
		}
		if !at && !cv.Direct && cv.Name == target {
			named = append(named, cv.ID)
		}
	}
	switch len(named) {
	case 1:
		return named[0], nil
	case 0:
		conv, err := m.Direct(ctx, user)
		if err != nil {
			return "", fmt.Errorf("attach send: %s: %w", printable(target), err)
		}
		return conv, nil
	}
	return "", usageError{fmt.Errorf("attach send: %d groups are named %q; use a conversation id", len(named), target)}
}

// attachGet saves the attachment of message id into the new file out.
func (a *app) attachGet(ctx context.Context, id, out string) error {
	if _, err := os.Lstat(out); err == nil {
		return usageError{fmt.Errorf("attach get: %s already exists", out)}
	}
	c, m, err := a.attachMessenger(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	msg, err := findAttachment(m, id)
	if err != nil {
		return err
	}
	md := *msg.Attachment
	p := a.newAttachProgress("receiving "+md.Name, md.PlaintextSize)
	err = saveAttachment(out, func(w io.Writer) error { return c.DownloadAttachment(ctx, md, w, p.update) })
	p.finish(err)
	if err != nil {
		return fmt.Errorf("attach get: %w", err)
	}
	fmt.Fprintf(a.stdout, "saved %q (%s, %s) from %s to %s\n", printable(md.Name), sizeIEC(md.PlaintextSize),
		orUnknownType(md.MediaType), sender(m, msg), out)
	return nil
}

// maxAttachSearch bounds the messages per conversation searched.
const maxAttachSearch = 100_000

// attachments returns the attachment messages of conv ("" for every
// conversation), oldest first within each conversation.
func attachments(m *client.Messenger, conv string) ([]client.Message, error) {
	var out []client.Message
	for _, cv := range m.Conversations() {
		if conv != "" && cv.ID != conv {
			continue
		}
		msgs, err := m.History(cv.ID, maxAttachSearch)
		if err != nil {
			return nil, err
		}
		for _, msg := range msgs {
			if msg.Attachment != nil {
				out = append(out, msg)
			}
		}
	}
	return out, nil
}

// attachList prints one line per attachment message.
func (a *app) attachList(ctx context.Context, args []string) error {
	_, m, err := a.attachMessenger(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	conv := ""
	if len(args) == 1 {
		conv = args[0]
	}
	msgs, err := attachments(m, conv)
	if err != nil {
		return fmt.Errorf("attach list: %w", err)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCONVERSATION\tFROM\tSENT\tSIZE\tTYPE\tNAME")
	for _, msg := range msgs {
		md := msg.Attachment
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", hex.EncodeToString(msg.ID[:]), msg.ConvID, sender(m, msg),
			msg.SentAt.Local().Format(time.DateTime), sizeIEC(md.PlaintextSize), orUnknownType(md.MediaType), printable(md.Name))
	}
	return tw.Flush()
}

// sender names who sent msg: "me", a username, or a user id.
func sender(m *client.Messenger, msg client.Message) string {
	switch name := m.Username(msg.From.UserID); {
	case msg.Outgoing:
		return "me"
	case name != "":
		return printable(name)
	}
	return printable(msg.From.UserID)
}

// findAttachment finds the attachment message whose hex id is id, or
// starts with id (at least 8 hex digits, matching one message only).
func findAttachment(m *client.Messenger, id string) (client.Message, error) {
	id = strings.ToLower(id)
	if _, err := hex.DecodeString(id + strings.Repeat("0", len(id)%2)); err != nil || len(id) < 8 || len(id) > 32 {
		return client.Message{}, usageError{fmt.Errorf("attach get: %q is not a message id (8 to 32 hex digits)", id)}
	}
	msgs, err := attachments(m, "")
	if err != nil {
		return client.Message{}, fmt.Errorf("attach get: %w", err)
	}
	var found []client.Message
	for _, msg := range msgs {
		if strings.HasPrefix(hex.EncodeToString(msg.ID[:]), id) {
			found = append(found, msg)
		}
	}
	switch len(found) {
	case 0:
		return client.Message{}, fmt.Errorf("attach get: no attachment message %s (see 'sealine attach list')", id)
	case 1:
		return found[0], nil
	}
	return client.Message{}, usageError{fmt.Errorf("attach get: %s matches %d messages; give more digits", id, len(found))}
}

// saveAttachment writes a new file at path through a temporary file in the same
// directory, so that path appears only complete and verified.
func saveAttachment(path string, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sealine-attach-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil { // fails if path exists
		return err
	}
	return os.Remove(tmp.Name())
}

func orUnknownType(s string) string {
	if s == "" {
		return "unknown type"
	}
	return s
}

// attachProgress reports a transfer on stderr: a line redrawn in place on a
// terminal, otherwise a summary when it ends.
type attachProgress struct {
	w     io.Writer
	tty   bool
	label string
	size  int64 // plaintext bytes; the SDK reports ciphertext bytes
	start time.Time
	shown int // last percentage drawn
}

func (a *app) newAttachProgress(label string, size int64) *attachProgress {
	f, ok := a.stderr.(*os.File)
	tty := ok && term.IsTerminal(int(f.Fd()))
	return &attachProgress{w: a.stderr, tty: tty, label: printable(label), size: size, start: time.Now(), shown: -1}
}

// update takes the SDK's ciphertext counts and redraws the line when the
// percentage changes.
func (p *attachProgress) update(done, total int64) {
	pct := 100
	if total > 0 {
		pct = int(done * 100 / total)
	}
	if !p.tty || pct == p.shown {
		return
	}
	p.shown = pct
	fmt.Fprintf(p.w, "\r%s: %3d%% of %s", p.label, pct, sizeIEC(p.size))
}

// finish ends the line on a terminal, or prints the summary.
func (p *attachProgress) finish(err error) {
	if p.tty {
		if p.shown >= 0 {
			fmt.Fprintln(p.w)
		}
		return
	}
	if err != nil {
		return
	}
	d := time.Since(p.start)
	fmt.Fprintf(p.w, "%s: %s in %s (%s/s)\n", p.label, sizeIEC(p.size), d.Round(time.Millisecond),
		sizeIEC(int64(float64(p.size)/max(d.Seconds(), 1e-3))))
}

// sizeIEC formats n with a binary unit.
func sizeIEC(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for ; v >= unit && i < 4; i++ {
		v /= unit
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}
