package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sealine/sealine/client"
)

// chatPrompt is shown before the line being typed (on a terminal only).
const chatPrompt = "you> "

// maxChatLine bounds a line read from a pipe (the server bounds messages).
const maxChatLine = 1 << 20

const chatHelp = `Type a message and press Enter to send it.
  /help      this list
  /members   who is in this conversation
  /quit      leave the chat (or Ctrl-D; Ctrl-C also works)
  //text     send a message that starts with "/"`

func newChatCmd(a *app) *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use:   "chat USER|@USER|GROUP|CONV",
		Short: "Chat in the terminal: recent history, new messages live, and each line you type is sent",
		Long: "Open the conversation (a USER means the direct conversation with USER, created if needed;\n" +
			"a group's name or a conversation id also work), print its recent history, then show\n" +
			"new messages as they arrive and send each line typed. /help lists the commands;\n" +
			"/quit or Ctrl-D leaves. With stdin not a terminal, each line read is sent and the\n" +
			"chat ends at end of input, once the server has stored every message.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.chat(cmd.Context(), args[0], n)
		},
	}
	cmd.Flags().IntVarP(&n, "number", "n", 20, "how many messages of history to show")
	return cmd
}

// chatSession is one running `sealine chat`. Only the loop goroutine
// prints, sends and marks messages read.
type chatSession struct {
	a        *app
	m        *client.Messenger
	conv     string
	out      io.Writer // the line editor on a terminal, else stdout
	readLine func() (string, error)
	failed   int // messages not sent
}

// chat opens the conversation named by target and runs the session.
func (a *app) chat(ctx context.Context, target string, n int) error {
	var early []client.Event // arrived during the first sync
	m, err := a.openMessenger(ctx, func(_ *client.Messenger, ev client.Event) { early = append(early, ev) })
	if err != nil {
		return interrupted(ctx, err)
	}
	defer m.Close()
	conv, err := openConversation(ctx, m, target)
	if err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	s := &chatSession{a: a, m: m, conv: conv, out: a.stdout}
	restore := s.setupInput()
	defer restore()
	fmt.Fprintf(s.out, "chat with %s (conversation %s); /help for commands, /quit or Ctrl-D to leave\n",
		convLabel(m, conv), conv)
	for _, ev := range early {
		if me, ok := ev.(*client.MessageEvent); !ok || me.Message.ConvID != conv { // those are in the history
			s.event(ctx, ev)
		}
	}
	if err := s.history(ctx, n); err != nil {
		return err
	}
	return s.loop(ctx)
}

// setupInput reads lines through a line editor when stdin and stdout are
// terminals (the prompt is redrawn below incoming messages), else plainly.
// The returned function restores the terminal.
func (s *chatSession) setupInput() (restore func()) {
	in, okIn := s.a.stdin.(*os.File)
	out, okOut := s.a.stdout.(*os.File)
	if okIn && okOut && term.IsTerminal(int(in.Fd())) && term.IsTerminal(int(out.Fd())) {
		if state, err := term.MakeRaw(int(in.Fd())); err == nil {
			t := term.NewTerminal(struct {
				io.Reader
				io.Writer
			}{in, out}, chatPrompt)
			s.out, s.readLine = t, t.ReadLine
			return func() {
				fmt.Fprint(out, "\r\n") // below the last prompt
				_ = term.Restore(int(in.Fd()), state)
			}
		}
	}
	sc := bufio.NewScanner(s.a.stdin)
	sc.Buffer(make([]byte, 0, 4096), maxChatLine)
	s.readLine = func() (string, error) {
		if sc.Scan() {
			return strings.TrimSuffix(sc.Text(), "\r"), nil
		}
		if err := sc.Err(); err != nil {
			return "", err
		}
		return "", io.EOF
	}
	return func() {}
}

// history prints the last n messages and marks the others' as read.
func (s *chatSession) history(ctx context.Context, n int) error {
	msgs, err := s.m.History(s.conv, n)
	if err != nil {
		return fmt.Errorf("chat: history: %w", err)
	}
	var unread []client.MessageID
	for _, msg := range msgs {
		s.message(msg)
		if !msg.Outgoing {
			unread = append(unread, msg.ID)
		}
	}
	s.markRead(ctx, unread...)
	return nil
}

// loop shows events and sends typed lines until /quit, end of input, ctx's
// end or the session's end.
func (s *chatSession) loop(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lines, readErr := make(chan string), make(chan error, 1)
	go s.readLines(ctx, lines, readErr)
	runDone := make(chan error, 1)
	go func() { runDone <- s.m.Run(ctx) }()
	for {
		select {
		case ev := <-s.m.Events():
			s.event(ctx, ev)
		case line, ok := <-lines:
			if ok && s.input(ctx, line) {
				continue
			}
			cancel()
			err := errors.Join(<-runDone, s.inputErr(readErr))
			drain(s.m, func(_ *client.Messenger, ev client.Event) { s.event(ctx, ev) })
			return s.result(err)
		case err := <-runDone: // ctx ended (a signal) or the session is gone
			return s.result(err)
		}
	}
}

// readLines sends each input line to lines; at the end it reports the
// read error (io.EOF at end of input) and closes lines.
func (s *chatSession) readLines(ctx context.Context, lines chan<- string, readErr chan<- error) {
	defer close(lines)
	for {
		line, err := s.readLine()
		if err != nil {
			readErr <- err
			return
		}
		select {
		case lines <- line:
		case <-ctx.Done():
			return
		}
	}
}

// inputErr is the input's error, if it ended by one (not by /quit or EOF).
func (s *chatSession) inputErr(readErr <-chan error) error {
	select {
	case err := <-readErr:
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("chat: reading input: %w", err)
	default:
		return nil
	}
}

// result is the chat's exit: an error of the receive loop or the input,
// or the count of messages that were not sent.
func (s *chatSession) result(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		err = nil
	case err == nil && s.failed > 0:
		err = fmt.Errorf("chat: %d message(s) not sent", s.failed)
	}
	return err
}

// input handles one typed line; it returns false to leave the chat.
func (s *chatSession) input(ctx context.Context, line string) bool {
	text := strings.TrimSpace(line)
	switch {
	case text == "":
		return true
	case text == "/quit" || text == "/exit":
		return false
	case text == "/help":
		fmt.Fprintln(s.out, chatHelp)
		return true
	case text == "/members":
		s.members()
		return true
	case strings.HasPrefix(text, "//"):
		text = text[1:]
	case strings.HasPrefix(text, "/"):
		fmt.Fprintf(s.out, "unknown command %s; /help lists the commands\n", printable(strings.Fields(text)[0]))
		return true
	}
	if _, err := s.m.Send(ctx, s.conv, text); err != nil {
		s.failed++
		fmt.Fprintf(s.out, "not sent: %s\n", printable(err.Error()))
	}
	return true
}

// members lists the users in the conversation with their device counts.
func (s *chatSession) members() {
	ms, err := s.m.Members(s.conv)
	if err != nil {
		fmt.Fprintf(s.out, "members: %s\n", printable(err.Error()))
		return
	}
	devices := map[string]int{}
	var users []string
	for _, mb := range ms {
		if devices[mb.UserID] == 0 {
			users = append(users, mb.UserID)
		}
		devices[mb.UserID]++
	}
	for _, u := range users {
		fmt.Fprintf(s.out, "  %s (%d device(s))\n", printable(userName(s.m, u)), devices[u])
	}
}

// event prints one event briefly; security warnings stand out.
func (s *chatSession) event(ctx context.Context, ev client.Event) {
	s.m.ResolveUsernames(ctx) // the users ev names, when unknown
	switch ev := ev.(type) {
	case *client.MessageEvent:
		s.message(ev.Message)
		if ev.Message.ConvID == s.conv && !ev.Message.Outgoing {
			s.markRead(ctx, ev.Message.ID)
		}
	case *client.ReceiptEvent:
		if ev.ConvID == s.conv && ev.Kind == client.ReceiptRead {
			fmt.Fprintf(s.out, "(%s read %d message(s))\n", printable(userName(s.m, ev.From.UserID)), len(ev.IDs))
		}
	case *client.TypingEvent:
		if ev.ConvID == s.conv && ev.Typing {
			fmt.Fprintf(s.out, "(%s is typing)\n", printable(userName(s.m, ev.From.UserID)))
		}
	case *client.MemberEvent:
		if ev.By != s.m.Me() { // this device's own changes are no news here
			writeEvent(s.out, s.m, ev)
		}
	case *client.SecurityWarning:
		fmt.Fprintf(s.out, "!!! SECURITY WARNING %s in %s: %s !!!\n", ev.Kind, convLabel(s.m, ev.ConvID), printable(ev.Detail))
	default:
		writeEvent(s.out, s.m, ev)
	}
}

// message prints a message: "[15:04] bob: hi", with the conversation
// named when it is not this chat's.
func (s *chatSession) message(msg client.Message) {
	from, body := messageLine(s.m, msg)
	where := ""
	if msg.ConvID != s.conv {
		where = " (in " + convLabel(s.m, msg.ConvID) + ")"
	}
	fmt.Fprintf(s.out, "[%s]%s %s: %s\n", chatTime(msg.SentAt), where, from, body)
}

// markRead sends a read receipt, best effort (the chat goes on without).
func (s *chatSession) markRead(ctx context.Context, ids ...client.MessageID) {
	if len(ids) == 0 || ctx.Err() != nil {
		return
	}
	_ = s.m.MarkRead(ctx, s.conv, ids...)
}

// chatTime shows the time of day for today's messages, else the date too.
func chatTime(t time.Time) string {
	t = t.Local()
	if t.Format(time.DateOnly) == time.Now().Format(time.DateOnly) {
		return t.Format("15:04")
	}
	return t.Format("2006-01-02 15:04")
}

// convLabel names a conversation for people: "@bob", a group's name, or
// its id.
func convLabel(m *client.Messenger, conv string) string {
	for _, cv := range m.Conversations() {
		switch {
		case cv.ID != conv:
		case cv.Direct:
			return "@" + printable(userName(m, cv.Peer))
		case cv.Name != "":
			return printable(cv.Name)
		}
	}
	return conv
}
