package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Every flag of every command is bound to an environment variable by this one mechanism: the
// variable is ROYALTY_ and the flag's name in upper case with '-' as '_' (--database-url:
// ROYALTY_DATABASE_URL), unless the flag's envAnnotation names another. A flag given on the
// command line wins over its variable; a variable wins over the flag's default. Defaults stay
// the flags' own, so --help never shows a value taken from the environment (a secret such as a
// database password or an API key).

// envAnnotation is the pflag annotation that names a flag's variable when it is not the
// derived one.
const envAnnotation = "royalty_env"

// envOf is the environment variable of the flag named name.
func envOf(name string) string {
	return "ROYALTY_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// flagEnv is the environment variable of f.
func flagEnv(f *pflag.Flag) string {
	if v := f.Annotations[envAnnotation]; len(v) == 1 {
		return v[0]
	}
	return envOf(f.Name)
}

// setFlagEnv gives the flag named name of fs the variable env instead of the derived one.
func setFlagEnv(fs *pflag.FlagSet, name, env string) {
	if err := fs.SetAnnotation(name, envAnnotation, []string{env}); err != nil {
		panic(err) // a programming error: the flag is defined right before
	}
}

// documentEnv appends "(env NAME)" to the usage of every flag of c and its subcommands.
func documentEnv(c *cobra.Command) {
	visit := func(f *pflag.Flag) {
		if env := flagEnv(f); !strings.Contains(f.Usage, "(env "+env+")") {
			f.Usage += " (env " + env + ")"
		}
	}
	c.LocalFlags().VisitAll(visit)
	c.PersistentFlags().VisitAll(visit)
	for _, sub := range c.Commands() {
		documentEnv(sub)
	}
}

// applyEnv sets every flag of the command about to run (its own and those it inherits) that the
// command line left unset from its environment variable.
func applyEnv(cmd *cobra.Command) error {
	var err error
	set := func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		env := flagEnv(f)
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return
		}
		if serr := f.Value.Set(v); serr != nil {
			err = fmt.Errorf("%s=%q (for --%s): want %s", env, v, f.Name, kindOf(f))
		}
	}
	cmd.Flags().VisitAll(set)
	cmd.InheritedFlags().VisitAll(set)
	return err
}

// kindOf says what a flag's value must be, for errors.
func kindOf(f *pflag.Flag) string {
	switch t := f.Value.Type(); {
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case t == "duration":
		return "a duration such as 30s or 5m"
	case t == "bool":
		return "true or false"
	default:
		return "a " + t
	}
}
