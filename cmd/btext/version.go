package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// version, when set with -ldflags "-X main.version=...", overrides the
// module version (-X needs a variable with a constant initial value).
var version = ""

// btextVersion is the version the binary was built as: "v1.2.3" from go
// install ...@v1.2.3, a pseudo-version (with +dirty) from a VCS checkout,
// "(devel)" otherwise.
func btextVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// writeVersion prints what `go version -m` shows of the binary: the
// module version, the VCS revision and whether the tree was modified, and
// the Go version.
func writeVersion(w io.Writer) {
	fmt.Fprintf(w, "btext %s\n", btextVersion())
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	fmt.Fprintf(w, "  module   %s %s\n", bi.Main.Path, orDash(bi.Main.Version))
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		state := "clean"
		if settings["vcs.modified"] == "true" {
			state = "dirty"
		}
		when := ""
		if t := settings["vcs.time"]; t != "" {
			when = " " + t
		}
		fmt.Fprintf(w, "  revision %s (%s)%s\n", rev, state, when)
	} else {
		fmt.Fprintf(w, "  revision unknown (not built from a VCS checkout)\n")
	}
	fmt.Fprintf(w, "  go       %s %s\n", strings.TrimSpace(bi.GoVersion), settings["GOOS"]+"/"+settings["GOARCH"])
}
