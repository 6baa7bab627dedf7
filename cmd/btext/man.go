package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newGenManCmd writes a man page per command (btext.1,
// btext-fetch-metadata.1, ...) into a directory: `make man`. Hidden: it is
// for packagers, not users.
func newGenManCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "gen-man DIR",
		Short:  "Write the man pages into a directory",
		Hidden: true,
		Args:   exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o777); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true // reproducible pages: no generation date
			// btext.1 carries what btext --help prints after the flags.
			root.Long += "\n\n" + exitCodesHelp + "\n\n" + limitsHelp
			hdr := &doc.GenManHeader{Title: "BTEXT", Section: "1", Source: "btext " + btextVersion(), Manual: "btext manual"}
			if err := doc.GenManTree(root, hdr, args[0]); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			return nil
		},
	}
}
