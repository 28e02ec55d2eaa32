// Package version says which build of royalty a binary is, from the module and VCS information
// the Go toolchain embeds (runtime/debug.ReadBuildInfo), for every binary's --version.
package version

import (
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
)

// String describes the running binary's build: "royalty v1.2.3 (rev 0123456789ab, 2026-01-02T03:04:05Z, modified, go1.26.8)".
// name is the binary's name.
func String(name string) string {
	bi, _ := debug.ReadBuildInfo()
	return Describe(name, bi)
}

// Describe is String for the given build information (nil when there is none).
func Describe(name string, bi *debug.BuildInfo) string {
	if bi == nil {
		return name + " (unknown build)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	var details []string
	if rev != "" {
		details = append(details, "rev "+rev[:min(len(rev), 12)])
	}
	if at != "" {
		details = append(details, at)
	}
	if modified {
		details = append(details, "modified")
	}
	if bi.GoVersion != "" {
		details = append(details, bi.GoVersion)
	}
	out := name + " " + v
	if len(details) > 0 {
		out += " (" + strings.Join(details, ", ") + ")"
	}
	return out
}

// Flag defines -version on the program's flag.CommandLine: given, it prints String(name) and
// exits with status 0. Call it before flag.Parse.
func Flag(name string) {
	flag.CommandLine.Var(printFlag(name), "version", "print the version and exit")
}

// printFlag is a boolean flag whose setting prints the version and exits.
type printFlag string

func (f printFlag) String() string   { return "false" }
func (f printFlag) IsBoolFlag() bool { return true }
func (f printFlag) Set(v string) error {
	if v != "true" {
		return nil
	}
	fmt.Fprintln(os.Stdout, String(string(f)))
	os.Exit(0)
	return nil
}
