package main

import (
	"github.com/spf13/cobra"
)

func (a *app) newLocalRestoreCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Create the store in --data-dir from a snapshot file",
		Long: `Create the store in --data-dir from FILE, a snapshot written by
"caskade snapshot save" (or "-" for stdin), as "caskade snapshot restore"
does: every file is checked against the snapshot's manifest, --data-dir
must be new or empty, and it ends up holding the whole snapshot or
nothing. A cluster node's --data-dir is refused.`,
		Args: argsNamed("FILE"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			js, err := a.restoreSnapshot(cmd.Context(), args[0], a.local.dataDir, a.options())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, js)
			}
			return js.writeRestored(a.stdout)
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
