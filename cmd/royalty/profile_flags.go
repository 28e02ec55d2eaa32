package main

import (
	"github.com/spf13/pflag"

	"github.com/openroyalty/royalty/claims/profile"
)

// addProfileFlags binds the profile fetchers' configuration (CheckClaim) to flags, and so to
// ROYALTY_PROFILE_* variables.
func addProfileFlags(fs *pflag.FlagSet, c *profile.Config) {
	fs.StringVar(&c.StackExchangeURL, "profile-stackexchange-url", profile.DefaultStackExchangeURL,
		"Stack Exchange profile page read by CheckClaim: {host} is the site's host, {site} its name, {id} the user id")
	fs.StringVar(&c.HackerNewsURL, "profile-hackernews-url", profile.DefaultHackerNewsURL, "Hacker News profile page read by CheckClaim; {id} is the user name")
	fs.StringVar(&c.RedditURL, "profile-reddit-url", profile.DefaultRedditURL, "Reddit about.json read by CheckClaim; {id} is the user name")
	fs.DurationVar(&c.Timeout, "profile-timeout", profile.DefaultTimeout, "deadline of one profile fetch")
	fs.Int64Var(&c.MaxBytes, "profile-max-bytes", profile.DefaultMaxBytes, "largest profile page read")
	fs.Float64Var(&c.Rate, "profile-rate", profile.DefaultRate, "profile fetches per second per site (token bucket)")
	fs.IntVar(&c.Burst, "profile-burst", profile.DefaultBurst, "profile fetches allowed at once per site")
}
