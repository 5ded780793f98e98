package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"github.com/sealine/sealine/server"
)

// Embedding the server: New prepares everything and listens, Run serves
// until the context ends.
func ExampleNew() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	srv, err := server.New(ctx, server.Config{
		Addr:    "127.0.0.1:8443",
		DataDir: "/var/lib/sealine",
		Logger:  slog.New(slog.NewJSONHandler(os.Stderr, nil)),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(srv.StartLine())
	if err := srv.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}
