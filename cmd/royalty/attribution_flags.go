package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/services"
)

// maxResponseBytesLimit bounds --max-response-bytes: a usage report carrying a response text
// of that length must still fit in one gRPC message.
const maxResponseBytesLimit = services.DefaultMaxMessageBytes / 2

// attributionFlag is a serve flag setting one field of attribution.Config, defaulting to its
// environment variable and otherwise to the library's default.
type attributionFlag struct {
	name  string
	field string // the attribution.Config field, as named in its errors
	usage string
	ptr   func(*attribution.Config) *int
}

var attributionFlags = []attributionFlag{
	{"attribution-k", "K",
		"words per shingle (k) of the attribution fingerprints; must equal the index's",
		func(c *attribution.Config) *int { return &c.K }},
	{"attribution-window", "W",
		"winnowing window (w) of the attribution fingerprints; must equal the index's",
		func(c *attribution.Config) *int { return &c.W }},
	{"attribution-min-span", "MinSpanWords",
		"fewest words a response must share verbatim with a post to credit its author",
		func(c *attribution.Config) *int { return &c.MinSpanWords }},
	{"attribution-max-authors", "MaxAuthors",
		"boilerplate threshold: text found in posts of more distinct authors than this credits nobody",
		func(c *attribution.Config) *int { return &c.MaxAuthors }},
	{"attribution-candidates", "Candidates",
		"posts retrieved per chunk of a response",
		func(c *attribution.Config) *int { return &c.Candidates }},
	{"max-response-bytes", "MaxResponseBytes",
		fmt.Sprintf("longest response text (bytes) a usage report or an attribution may carry; at most %d", maxResponseBytesLimit),
		func(c *attribution.Config) *int { return &c.MaxResponseBytes }},
	{"max-response-words", "MaxResponseWords",
		"most words a response text may have",
		func(c *attribution.Config) *int { return &c.MaxResponseWords }},
}

// addAttributionFlags defines the attribution flags on fs, writing to c.
func addAttributionFlags(fs *pflag.FlagSet, c *attribution.Config) {
	defaults := attribution.DefaultConfig()
	for _, f := range attributionFlags {
		fs.IntVar(f.ptr(c), f.name, *f.ptr(&defaults), f.usage)
	}
}

// checkAttributionFlags validates the configuration the flags set: every value is at least 1
// (in attribution.Config 0 would mean the default, which the flags already show), the response
// limit fits a gRPC message, and attribution.Config.Validate accepts the whole.
func checkAttributionFlags(c attribution.Config) error {
	for _, f := range attributionFlags {
		if v := *f.ptr(&c); v < 1 {
			return fmt.Errorf("--%s (env %s): must be at least 1, got %d", f.name, envOf(f.name), v)
		}
	}
	if c.MaxResponseBytes > maxResponseBytesLimit {
		return fmt.Errorf("--max-response-bytes (env ROYALTY_MAX_RESPONSE_BYTES): at most %d (half the gRPC message limit), got %d",
			maxResponseBytesLimit, c.MaxResponseBytes)
	}
	return attributionFlagError(c.Validate())
}

// attributionFlagError names the flag of the attribution.Config field an error of Validate or
// CheckIndex is about.
func attributionFlagError(err error) error {
	var e *royalty.Error
	if err == nil || !errors.As(err, &e) {
		return err
	}
	msg := strings.TrimPrefix(e.Message, e.Field+": ")
	for _, f := range attributionFlags {
		if f.field == e.Field {
			return fmt.Errorf("--%s (env %s): %s", f.name, envOf(f.name), msg)
		}
	}
	return fmt.Errorf("attribution configuration: %s", e.Message)
}
