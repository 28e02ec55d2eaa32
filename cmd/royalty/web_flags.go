package main

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/openroyalty/royalty/cmd/wire"
)

// addWebFlags defines serve's flags of the web app's sessions.
func addWebFlags(fs *pflag.FlagSet, c *wire.WebConfig) {
	fs.DurationVar(&c.SessionTTL, "web-session-ttl", 12*time.Hour, "how long a web session lasts at most after logging in")
	fs.DurationVar(&c.IdleTimeout, "web-idle-timeout", 30*time.Minute, "a web session unused for this long ends")
	fs.DurationVar(&c.ReauthWithin, "web-reauth-within", 10*time.Minute, "how recently the API key must have been entered in a web session to change the payout destination; older sessions are asked for it again")
	fs.IntVar(&c.LoginsPerMinute, "web-logins-per-minute", 10, "web login attempts per minute per client address, counted across every serve process on the database")
}
