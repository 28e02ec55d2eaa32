package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/openroyalty/royalty/auth"
	authpg "github.com/openroyalty/royalty/auth/postgres"
	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/internal/termtext"
)

// keysCommand manages principals and API keys directly in the database, so that an operator can
// bootstrap the first admin key before any key exists.
func keysCommand(cfg *config, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list and revoke API keys (directly in the database)",
		Long: "Manage principals and their API keys directly in the database at --database-url, for example\n" +
			"to create the first admin key. A key is shown once; only its SHA-256 is stored.",
	}
	withStore := func(ctx context.Context, fn func(auth.Store) error) error {
		// The schema check turns "relation does not exist" into "run royalty migrate".
		pool, err := wire.OpenDatabase(ctx, cfg.DatabaseURL, true)
		if err != nil {
			return err
		}
		defer pool.Close()
		return fn(authpg.New(pool))
	}

	var role, name, principal, output string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a principal with a role and its first key, or another key for --principal",
		Example: "  royalty keys create --role admin --name ops\n" +
			"  royalty keys create --principal 5b0c…",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output: want text or json, got %q", output)
			}
			return withStore(cmd.Context(), func(s auth.Store) error {
				var p auth.Principal
				var k auth.APIKey
				var secret string
				var err error
				if principal != "" {
					if role != "" || name != "" {
						return errors.New("--principal adds a key to an existing principal; leave out --role and --name")
					}
					if p, err = s.GetPrincipal(cmd.Context(), principal); err != nil {
						return err
					}
					k, secret, err = s.CreateKey(cmd.Context(), principal)
				} else {
					if role == "" || name == "" {
						return errors.New("--role and --name are required (or --principal for another key)")
					}
					r, perr := auth.ParseRole("--role", role)
					if perr != nil {
						return perr
					}
					p, k, secret, err = s.CreatePrincipal(cmd.Context(), name, r)
				}
				if err != nil {
					return err
				}
				if output == "json" {
					// For scripts: one JSON object on one line.
					return json.NewEncoder(stdout).Encode(struct {
						PrincipalID string `json:"principal_id"`
						Name        string `json:"name"`
						Role        string `json:"role"`
						KeyID       string `json:"key_id"`
						Key         string `json:"key"`
					}{p.ID, p.Name, string(p.Role), k.ID, secret})
				}
				fmt.Fprintf(stdout, "principal %s (%s, %s)\nkey id    %s\napi key   %s\n", p.ID, oneLine(termtext.Clean(p.Name)), p.Role, k.ID, secret)
				fmt.Fprintln(stdout, "The key is shown only now; send it as `authorization: Bearer <key>`.")
				return nil
			})
		},
	}
	create.Flags().StringVar(&role, "role", "", "provider, contributor, auditor or admin")
	create.Flags().StringVar(&name, "name", "", "principal name")
	create.Flags().StringVar(&principal, "principal", "", "add a key to this existing principal id")
	create.Flags().StringVarP(&output, "output", "o", "text", "output format: text, or json ({\"principal_id\", \"name\", \"role\", \"key_id\", \"key\"} on one line)")

	var listPrincipal string
	list := &cobra.Command{
		Use:   "list",
		Short: "List keys (without secrets) with their principals",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd.Context(), func(s auth.Store) error {
				keys, err := s.ListKeys(cmd.Context(), listPrincipal)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "KEY ID\tPREFIX\tPRINCIPAL\tNAME\tROLE\tCREATED\tREVOKED")
				names := map[string]auth.Principal{}
				for _, k := range keys {
					p, ok := names[k.PrincipalID]
					if !ok {
						if p, err = s.GetPrincipal(cmd.Context(), k.PrincipalID); err != nil {
							return err
						}
						names[k.PrincipalID] = p
					}
					revoked := "-"
					if k.RevokedAt != nil {
						revoked = k.RevokedAt.UTC().Format(time.RFC3339)
					}
					// Names are set over AdminService by anyone with the admin role.
					fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, k.PrincipalID, oneLine(termtext.Clean(p.Name)), p.Role, k.CreatedAt.UTC().Format(time.RFC3339), revoked)
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().StringVar(&listPrincipal, "principal", "", "only this principal's keys")

	revoke := &cobra.Command{
		Use:   "revoke KEY_ID",
		Short: "Revoke a key; calls with it fail with UNAUTHENTICATED from then on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd.Context(), func(s auth.Store) error {
				k, err := s.RevokeKey(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "revoked key %s (%s…) at %s\n", k.ID, k.Prefix, k.RevokedAt.UTC().Format(time.RFC3339))
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
