package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// newGenManCmd writes a man page per command (btext.1,
// btext-fetch-metadata.1, ...) into a directory: `make man`. Hidden: it is
// for packagers, not users.
//
// The pages are written here rather than by cobra/doc: that package brings
// a Markdown renderer and a YAML encoder whose package initialisation, and
// the pages they touch, cost every btext process about 2 ms of start-up
// (issue 11: the tiny fetch is measured against `btext --version`).
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
			// btext.1 carries what btext --help prints after the flags.
			root.Long += "\n\n" + exitCodesHelp + "\n\n" + limitsHelp
			if err := writeManTree(root, args[0]); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			return nil
		},
	}
}

// writeManTree writes the page of cmd and of each command below it that a
// user can run (hidden ones and help topics are left out).
func writeManTree(cmd *cobra.Command, dir string) error {
	cmd.InitDefaultHelpFlag() // cobra adds these two only when a command runs
	cmd.InitDefaultVersionFlag()
	for _, c := range cmd.Commands() {
		if !c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand() {
			continue
		}
		if err := writeManTree(c, dir); err != nil {
			return err
		}
	}
	name := strings.ReplaceAll(cmd.CommandPath(), " ", "-") + ".1"
	return os.WriteFile(filepath.Join(dir, name), manPage(cmd), 0o666)
}

// manPage renders one command as a roff man(7) page. It has no date, so
// that the same tree always gives the same bytes.
func manPage(cmd *cobra.Command) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, ".nh\n.TH \"BTEXT\" \"1\" \"\" %q \"btext manual\"\n", "btext "+btextVersion())
	name := strings.ReplaceAll(cmd.CommandPath(), " ", "-")
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", roffEscape(name), roffEscape(cmd.Short))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n\\fB%s\\fP\n", roffEscape(cmd.UseLine()))
	long := cmd.Long
	if long == "" {
		long = cmd.Short
	}
	b.WriteString(".SH DESCRIPTION\n")
	manText(&b, long)
	manFlags(&b, "OPTIONS", cmd.NonInheritedFlags())
	manFlags(&b, "OPTIONS INHERITED FROM PARENT COMMANDS", cmd.InheritedFlags())
	var see []string
	if cmd.HasParent() {
		see = append(see, strings.ReplaceAll(cmd.Parent().CommandPath(), " ", "-"))
	}
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() && !c.IsAdditionalHelpTopicCommand() {
			see = append(see, strings.ReplaceAll(c.CommandPath(), " ", "-"))
		}
	}
	if len(see) > 0 {
		b.WriteString(".SH SEE ALSO\n")
		for i, s := range see {
			sep := ","
			if i == len(see)-1 {
				sep = ""
			}
			fmt.Fprintf(&b, "\\fB%s\\fP(1)%s\n", roffEscape(s), sep)
		}
	}
	return b.Bytes()
}

// manText renders help text: paragraphs are separated by blank lines, and
// a paragraph whose lines are indented (examples, tables) keeps its lines.
func manText(b *bytes.Buffer, text string) {
	for _, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		para = strings.Trim(para, "\n")
		if para == "" {
			continue
		}
		lines := strings.Split(para, "\n")
		literal := false
		for _, l := range lines[1:] {
			literal = literal || strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")
		}
		literal = literal || strings.HasPrefix(lines[0], " ") || strings.HasPrefix(lines[0], "\t")
		if literal {
			b.WriteString(".PP\n.nf\n.RS 2\n")
		} else {
			b.WriteString(".PP\n")
		}
		for _, l := range lines {
			b.WriteString(roffLine(l))
			b.WriteByte('\n')
		}
		if literal {
			b.WriteString(".RE\n.fi\n")
		}
	}
}

// manFlags lists the visible flags of fs under a section heading.
func manFlags(b *bytes.Buffer, heading string, fs *pflag.FlagSet) {
	first := true
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		if first {
			fmt.Fprintf(b, ".SH %s\n", heading)
			first = false
		}
		varname, usage := pflag.UnquoteUsage(f)
		b.WriteString(".TP\n")
		if f.Shorthand != "" {
			fmt.Fprintf(b, "\\fB\\-%s\\fP, ", f.Shorthand)
		}
		fmt.Fprintf(b, "\\fB\\-\\-%s\\fP", f.Name)
		if varname != "" {
			fmt.Fprintf(b, " \\fI%s\\fP", roffEscape(varname))
		}
		b.WriteByte('\n')
		switch f.DefValue {
		case "", "false", "[]", "0", "0s":
		default:
			usage += " (default " + f.DefValue + ")"
		}
		b.WriteString(roffLine(usage))
		b.WriteByte('\n')
	})
}

// roffEscape makes text safe inside a roff line: a backslash would start
// an escape sequence.
func roffEscape(s string) string { return strings.ReplaceAll(s, `\`, `\e`) }

// roffLine is roffEscape for a whole line, which must not begin with a
// control character (a dot or an apostrophe) either.
func roffLine(s string) string {
	s = roffEscape(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
