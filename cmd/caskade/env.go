package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// envPrefix starts the environment variable of every global flag.
const envPrefix = "CASKADE_"

// envName returns the environment variable that sets the flag called
// name: "data-dir" is read from CASKADE_DATA_DIR.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// annotateEnv appends each flag's environment variable to its usage text,
// so that --help shows it.
func annotateEnv(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		f.Usage += fmt.Sprintf(" [$%s]", envName(f.Name))
	})
}

// bindEnv sets each flag of fs that the command line left alone from its
// environment variable, when that is set and not empty. A flag set this
// way counts as changed, like one given on the command line. A value the
// flag refuses is reported with the variable's name.
func bindEnv(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return // the command line wins
		}
		name := envName(f.Name)
		v, ok := lookupEnv(name)
		if !ok || v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			var ive *pflag.InvalidValueError
			if errors.As(err, &ive) {
				err = ive.Unwrap()
			}
			errs = append(errs, usageErrorf("$%s=%q: %w", name, v, err))
		}
	})
	return errors.Join(errs...)
}
