package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/migrations"
)

func migrateCommand(cfg *config, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending schema migrations (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(cfg, stderr)
			if err != nil {
				return err
			}
			if cfg.DatabaseURL == "" {
				return wire.ErrNoDatabase
			}
			res, err := migrations.Apply(cmd.Context(), cfg.DatabaseURL, log)
			if err != nil {
				return err
			}
			if res.Applied == 0 {
				fmt.Fprintf(stdout, "schema is current at version %d (%s)\n", res.To, res.Engine)
			} else {
				fmt.Fprintf(stdout, "applied %d migrations: version %d -> %d (%s)\n", res.Applied, res.From, res.To, res.Engine)
			}
			return nil
		},
	}
}
