package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/caskade/caskade/engine"
)

func (a *app) newLocalRestoreCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "restore FILE",
		Short: "Create the store in --data-dir from a snapshot file",
		Long: `Create the store in --data-dir from FILE, a snapshot written by
"caskade snapshot save" (or "-" for stdin). --data-dir must not exist or be
empty; it ends up holding the whole snapshot or nothing.`,
		Args: argsNamed("FILE"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			in := a.stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return usageErrorf("restore: %v", err)
				}
				defer f.Close()
				in = f
			}
			opts := a.options()
			if err := engine.Restore(cmd.Context(), a.local.dataDir, in, &opts); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "restored %s into %s\n", args[0], a.local.dataDir)
			return nil
		}),
	}
}
