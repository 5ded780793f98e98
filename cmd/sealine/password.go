package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// maxPassword is the API's bound on a password, in bytes.
const maxPassword = 1024

// passwords reads passwords for one command: successive lines of stdin
// with --password-stdin, otherwise prompts on the terminal without echo.
// A password is never echoed or logged.
type passwords struct {
	a     *app
	ctx   context.Context
	lines *bufio.Reader // nil when prompting on the terminal
	fd    int
}

// passwords returns the source for this command, or a usage error when
// stdin is neither chosen nor a terminal.
func (a *app) passwords(ctx context.Context, fromStdin bool) (*passwords, error) {
	p := &passwords{a: a, ctx: ctx}
	if fromStdin {
		p.lines = lineReader(a.stdin)
		return p, nil
	}
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, usageError{errors.New("stdin is not a terminal: pass the password on stdin with --password-stdin")}
	}
	p.fd = int(f.Fd())
	return p, nil
}

// next returns the next password. On a terminal it prompts with label, and
// with confirm asks a second time and checks that both match.
func (p *passwords) next(label string, confirm bool) (string, error) {
	if p.lines != nil {
		return readLine(p.lines)
	}
	pw, err := p.prompt(label + ": ")
	if err != nil || !confirm {
		return pw, err
	}
	again, err := p.prompt("Repeat " + strings.ToLower(label[:1]) + label[1:] + ": ")
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", errors.New("the passwords do not match")
	}
	return pw, nil
}

// lineReader bounds what is read from r: a few passwords' worth.
func lineReader(r io.Reader) *bufio.Reader {
	return bufio.NewReader(io.LimitReader(r, 4*(maxPassword+2)))
}

// readLine reads one line (without its line ending).
func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	switch {
	case line == "":
		return "", errors.New("read password from stdin: empty")
	case len(line) > maxPassword:
		return "", fmt.Errorf("read password from stdin: longer than %d bytes", maxPassword)
	}
	return line, nil
}

// prompt reads one password from the terminal. If the context ends first
// (Ctrl-C), it restores the terminal's echo before returning.
func (p *passwords) prompt(label string) (string, error) {
	state, err := term.GetState(p.fd)
	if err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	fmt.Fprint(p.a.stderr, label)
	type result struct {
		pw  []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		pw, err := term.ReadPassword(p.fd)
		done <- result{pw, err}
	}()
	select {
	case r := <-done:
		fmt.Fprintln(p.a.stderr)
		if r.err != nil {
			return "", fmt.Errorf("read password: %w", r.err)
		}
		if len(r.pw) == 0 {
			return "", errors.New("empty password")
		}
		return string(r.pw), nil
	case <-p.ctx.Done():
		_ = term.Restore(p.fd, state)
		fmt.Fprintln(p.a.stderr)
		return "", p.ctx.Err()
	}
}
