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

// readPassword gets a password: the first line of stdin with --password-stdin,
// otherwise a prompt on the terminal without echo (twice when confirm is
// set). The password is never echoed or logged.
func (a *app) readPassword(ctx context.Context, fromStdin, confirm bool) (string, error) {
	if fromStdin {
		return firstLine(a.stdin)
	}
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usageError{errors.New("stdin is not a terminal: pass the password on stdin with --password-stdin")}
	}
	pw, err := a.prompt(ctx, int(f.Fd()), "Password: ")
	if err != nil || !confirm {
		return pw, err
	}
	again, err := a.prompt(ctx, int(f.Fd()), "Repeat password: ")
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", errors.New("the passwords do not match")
	}
	return pw, nil
}

// firstLine reads the first line of r (without its line ending).
func firstLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, maxPassword+2)).ReadString('\n')
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

// prompt reads one password from the terminal fd. If ctx ends first (Ctrl-C),
// it restores the terminal's echo before returning.
func (a *app) prompt(ctx context.Context, fd int, label string) (string, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	fmt.Fprint(a.stderr, label)
	type result struct {
		pw  []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		pw, err := term.ReadPassword(fd)
		done <- result{pw, err}
	}()
	select {
	case r := <-done:
		fmt.Fprintln(a.stderr)
		if r.err != nil {
			return "", fmt.Errorf("read password: %w", r.err)
		}
		if len(r.pw) == 0 {
			return "", errors.New("empty password")
		}
		return string(r.pw), nil
	case <-ctx.Done():
		_ = term.Restore(fd, state)
		fmt.Fprintln(a.stderr)
		return "", ctx.Err()
	}
}
