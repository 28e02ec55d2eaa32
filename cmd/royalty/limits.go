package main

import (
	"github.com/spf13/pflag"

	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
	"github.com/openroyalty/royalty/services"
)

// limitsConfig is serve's protection against callers that send too much: the calls per
// connection and the rate limits of the methods anyone may call or that cost much CPU.
type limitsConfig struct {
	MaxConcurrentStreams uint32
	Register             services.RateLimit
	Attribute            services.RateLimit
}

func addLimitFlags(fs *pflag.FlagSet, c *limitsConfig) {
	fs.Uint32Var(&c.MaxConcurrentStreams, "max-concurrent-streams", services.DefaultMaxConcurrentStreams, "calls in flight per client connection")
	fs.Float64Var(&c.Register.PerSecond, "rate-register", 1, "RegisterContributor calls per second per API key and per client address; 0 for no limit")
	fs.IntVar(&c.Register.Burst, "rate-register-burst", 10, "RegisterContributor calls allowed at once above --rate-register")
	fs.Float64Var(&c.Attribute.PerSecond, "rate-attribute", 10, "Attribute calls per second per API key and per client address (each costs up to ~0.3 s of CPU); 0 for no limit")
	fs.IntVar(&c.Attribute.Burst, "rate-attribute-burst", 20, "Attribute calls allowed at once above --rate-attribute")
}

// apply sets the limits on the server's options.
func (c limitsConfig) apply(o *services.Options) {
	o.MaxConcurrentStreams = c.MaxConcurrentStreams
	o.RateLimits = map[string]services.RateLimit{}
	for method, l := range map[string]services.RateLimit{
		v1.ContributorService_RegisterContributor_FullMethodName: c.Register,
		v1.AttributionService_Attribute_FullMethodName:           c.Attribute,
	} {
		if l.PerSecond > 0 {
			o.RateLimits[method] = l
		}
	}
}
