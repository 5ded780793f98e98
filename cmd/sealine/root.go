package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/client/localstore"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// app holds the process's streams, environment and global client flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	server, ca, home string
}

func newApp(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
}

// usageError is a mistake on the command line (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// execute runs the command line args and returns the exit code. Errors are
// printed on one line to stderr, with a hint where one helps.
func execute(ctx context.Context, a *app, args []string) int {
	cmd := newRootCmd(a)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(a.stderr, "sealine: %s\n", printable(err.Error())) // may quote the server
	if h := hint(err); h != "" {
		fmt.Fprintf(a.stderr, "hint: %s\n", h)
	}
	if ue := (usageError{}); errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") {
		return exitUsage
	}
	return exitError
}

// newRootCmd builds the command tree.
func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "sealine",
		Short:         "Sealine: end-to-end encrypted messaging you can host yourself",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyEnv(cmd.Flags(), a.getenv)
		},
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	envFlag(pf, &a.server, "server", "SEALINE_SERVER", "https://127.0.0.1:8443", "server URL (https only)")
	envFlag(pf, &a.ca, "ca", "SEALINE_CA", "", "PEM file of the CA or self-signed certificate to trust, e.g. <data-dir>/tls/cert.pem")
	envFlag(pf, &a.home, "home", "SEALINE_HOME", "", "client state directory (default $XDG_CONFIG_HOME/sealine or ~/.config/sealine)")
	root.AddCommand(newVersionCmd(a), newServeCmd(a), newRegisterCmd(a), newLoginCmd(a),
		newLogoutCmd(a), newPasswordCmd(a), newDevicesCmd(a), newBenchCmd(a))
	root.AddCommand(newAccountCmd(a), newAdminCmd(a), newAttachCmd(a))
	root.AddCommand(newMessagingCmds(a)...)
	return root
}

// envFlag defines a string flag whose default comes from an environment
// variable when the flag is not given (the flag wins over the variable).
func envFlag(fs *pflag.FlagSet, p *string, name, env, def, usage string) {
	fs.StringVar(p, name, def, usage+" (env "+env+")")
	_ = fs.SetAnnotation(name, "env", []string{env})
}

// applyEnv sets each unset flag that has an env annotation from getenv. It
// runs at execution, not at definition, so help output never shows an
// environment value (SEALINE_DB may hold a password).
func applyEnv(fs *pflag.FlagSet, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		env := f.Annotations["env"]
		if err != nil || f.Changed || len(env) == 0 || getenv(env[0]) == "" {
			return
		}
		if serr := f.Value.Set(getenv(env[0])); serr != nil {
			err = usageError{fmt.Errorf("%s: %w", env[0], serr)}
		}
	})
	return err
}

// newClient builds an SDK client from the global flags; bad flag values
// are usage errors.
func (a *app) newClient() (*client.Client, error) {
	var caPEM []byte
	if a.ca != "" {
		raw, err := os.ReadFile(a.ca)
		if err != nil {
			return nil, usageError{fmt.Errorf("--ca: %w", err)}
		}
		if _, err := client.ParseCA(raw); err != nil {
			return nil, usageError{fmt.Errorf("--ca %s: %w", a.ca, err)}
		}
		caPEM = raw
	}
	c, err := client.New(client.Config{ServerURL: a.server, CAPEM: caPEM, Home: a.home})
	if err != nil {
		return nil, usageError{fmt.Errorf("--server: %w", err)}
	}
	return c, nil
}

// hint suggests the next step for errors people commonly hit.
func hint(err error) string {
	switch {
	case errors.Is(err, client.ErrUntrustedServer):
		return "trust the server's certificate with --ca FILE (for a self-signed server: <data-dir>/tls/cert.pem)"
	case errors.Is(err, client.ErrSessionInvalid):
		return "this device's session ended and its local state was removed; run 'sealine login USER'"
	case errors.Is(err, client.ErrNotLoggedIn):
		return "run 'sealine register USER' or 'sealine login USER' first"
	case errors.Is(err, localstore.ErrInUse):
		return "another sealine process (a chat or read --follow) has this --home open; a device's state has one user at a time: use that one, or close it first"
	case errors.Is(err, client.ErrAlreadyLoggedIn):
		return "run 'sealine logout' first, or use another --home"
	case errors.As(err, new(usageError)):
		return "see 'sealine --help'"
	}
	return ""
}

// noArgs and exactArgs check positional arguments, as usage errors.
func noArgs(cmd *cobra.Command, args []string) error { return exactArgs(0)(cmd, args) }

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s: want %d argument(s), got %d", cmd.CommandPath(), n, len(args))}
		}
		return nil
	}
}

// printable replaces white space with a space and other non-printing
// characters with '?', so that text chosen by someone else (a device name,
// a server's error message) stays on one line and cannot drive the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsPrint(r):
			return r
		case unicode.IsSpace(r):
			return ' '
		}
		return '?'
	}, s)
}
