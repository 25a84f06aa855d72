package main

import (
	"crypto/tls"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/caskade/caskade/certs"
	"github.com/caskade/caskade/rpc"
)

// tlsFlags are the security flags of "serve": mutual TLS and the
// authorization model and policy.
type tlsFlags struct {
	cert, key, ca         string
	authModel, authPolicy string // "" means the built-in default
}

// addFlags defines the flags on f.
func (t *tlsFlags) addFlags(f *pflag.FlagSet) {
	f.StringVar(&t.cert, "tls-cert", "", "server certificate (PEM); with --tls-key and --tls-ca, serve mutual TLS and authorize every call")
	f.StringVar(&t.key, "tls-key", "", "private key (PEM) of --tls-cert")
	f.StringVar(&t.ca, "tls-ca", "", "CA certificates (PEM) that client certificates must be signed by")
	f.StringVar(&t.authModel, "auth-model", "", "Casbin model file of the authorization policy (default: built in; needs TLS)")
	f.StringVar(&t.authPolicy, "auth-policy", "", "Casbin policy file: who may read, write or admin what (default: built in; needs TLS; SIGHUP reloads it)")
}

// on reports whether the server serves mutual TLS.
func (t *tlsFlags) on() bool { return t.cert != "" || t.key != "" || t.ca != "" }

// validate checks that the flags go together; the messages name them.
func (t *tlsFlags) validate(insecure bool) error {
	switch {
	case t.on() && (t.cert == "" || t.key == "" || t.ca == ""):
		return usageErrorf("--tls-cert, --tls-key and --tls-ca go together: give all three for mutual TLS")
	case !t.on() && (t.authModel != "" || t.authPolicy != ""):
		return usageErrorf("--auth-model and --auth-policy need --tls-cert, --tls-key and --tls-ca: without client certificates there is no identity to authorize")
	case t.on() && insecure:
		return usageErrorf("--insecure allows plaintext: it does not go with --tls-cert, --tls-key and --tls-ca")
	}
	return nil
}

// load reads the certificates and the authorization policy; with TLS off
// it returns nils: plaintext, every call allowed.
func (t *tlsFlags) load() (*tls.Config, *rpc.Authorizer, error) {
	if !t.on() {
		return nil, nil, nil
	}
	cfg, err := certs.ServerTLSConfig(t.cert, t.key, t.ca)
	if err != nil {
		return nil, nil, usageErrorf("--tls-cert, --tls-key, --tls-ca: %w", err)
	}
	auth, err := rpc.OpenAuthorizer(t.authModel, t.authPolicy)
	if err != nil {
		return nil, nil, usageErrorf("--auth-model, --auth-policy: %w", err)
	}
	return cfg, auth, nil
}

// logMode logs how callers are authenticated: a warning without TLS.
func (t *tlsFlags) logMode(logger *slog.Logger, auth *rpc.Authorizer) {
	if auth == nil {
		logger.Warn("serving plaintext gRPC without TLS: callers are not authenticated and every call is allowed; " +
			"serve mutual TLS with --tls-cert, --tls-key and --tls-ca (caskade certs init makes them)")
		return
	}
	model, policy := auth.Sources()
	logger.Info("serving mutual TLS; every call is authorized", "tls_cert", t.cert, "tls_ca", t.ca,
		"auth_model", model, "auth_policy", policy)
}

// handleHangups reloads the authorization policy of srv (auth, nil when
// authorization is off) on every SIGHUP until the returned function is
// called; that function stops and waits
// for the goroutine it starts. SIGHUP is caught from the moment
// handleHangups returns, so it never ends the process.
func (t *tlsFlags) handleHangups(logger *slog.Logger, srv *rpc.Server, auth *rpc.Authorizer) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
				if auth == nil {
					logger.Warn("SIGHUP: nothing to reload: authorization is off without TLS")
					continue
				}
				if err := srv.Reload(); err != nil {
					logger.Error("SIGHUP: the authorization policy did not load; the policy in use stays", "err", err)
					continue
				}
				model, policy := auth.Sources()
				logger.Info("SIGHUP: authorization policy reloaded", "auth_model", model, "auth_policy", policy)
			}
		}
	})
	return func() {
		signal.Stop(hup)
		close(done)
		wg.Wait()
	}
}
