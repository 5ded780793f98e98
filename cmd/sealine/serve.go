package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/sealine/sealine/server"
)

// serveFlags are the flags of `sealine serve`.
type serveFlags struct {
	addr, dataDir, db, tlsCert, tlsKey, metricsAddr, kekFile, logLevel string
	retention                                                          string
}

func newServeCmd(a *app) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Sealine server (HTTPS only; a self-signed certificate when none is given)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(a)
			if err != nil {
				return err
			}
			srv, err := server.New(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, srv.StartLine())
			return srv.Run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	envFlag(fs, &f.addr, "addr", "SEALINE_ADDR", "127.0.0.1:8443", "HTTPS listen address (port 0 picks a free port)")
	envFlag(fs, &f.dataDir, "data-dir", "SEALINE_DATA_DIR", server.DefaultDataDir(), "data directory: database, KEK, self-signed certificate")
	envFlag(fs, &f.db, "db", "SEALINE_DB", "", `database: empty for SQLite in the data dir, "sqlite:PATH", or a postgres:// URL`)
	envFlag(fs, &f.tlsCert, "tls-cert", "SEALINE_TLS_CERT", "", "TLS certificate PEM file (with --tls-key)")
	envFlag(fs, &f.tlsKey, "tls-key", "SEALINE_TLS_KEY", "", "TLS private key PEM file (with --tls-cert)")
	envFlag(fs, &f.metricsAddr, "metrics-addr", "SEALINE_METRICS_ADDR", "", "loopback address for Prometheus /metrics over plain HTTP (empty: off)")
	envFlag(fs, &f.kekFile, "kek-file", "SEALINE_KEK_FILE", "", "key-encryption key file (default <data-dir>/kek.key, created on first start)")
	envFlag(fs, &f.logLevel, "log-level", "SEALINE_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	envFlag(fs, &f.retention, "retention", "SEALINE_RETENTION", "", retentionUsage)
	return cmd
}

// config turns the flags into a server.Config with JSON logs on stderr.
func (f serveFlags) config(a *app) (server.Config, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return server.Config{}, usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel)}
	}
	retention, err := server.ParseRetention(f.retention)
	if err != nil {
		return server.Config{}, usageError{fmt.Errorf("--retention: %w", err)}
	}
	return server.Config{
		Lifecycle: server.LifecycleConfig{Retention: retention},
		Addr:      f.addr, DataDir: f.dataDir, DB: f.db, TLSCertFile: f.tlsCert, TLSKeyFile: f.tlsKey,
		MetricsAddr: f.metricsAddr, KEKFile: f.kekFile, Version: version,
		Logger: slog.New(slog.NewJSONHandler(a.stderr, &slog.HandlerOptions{Level: level})),
	}, nil
}
