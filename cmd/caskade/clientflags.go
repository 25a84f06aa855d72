package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/caskade/caskade/client"
)

// defaultEndpoint is where client commands look for a server: where
// `caskade serve` listens by default.
const defaultEndpoint = "127.0.0.1:7070"

// clientConfig holds the flags every client command shares.
type clientConfig struct {
	endpoints []string
	timeout   time.Duration
	output    outputFlag

	// Mutual TLS: all three files or none (plaintext).
	cert, key, ca string
	serverName    string // verify every server against this name; "" means its host
}

// outputFlag is a pflag.Value: text or json.
type outputFlag struct{ json bool }

// Set implements pflag.Value.
func (o *outputFlag) Set(v string) error {
	switch strings.ToLower(v) {
	case "text":
		o.json = false
	case "json":
		o.json = true
	default:
		return fmt.Errorf("%q is not an output format (want text or json)", v)
	}
	return nil
}

// String implements pflag.Value.
func (o *outputFlag) String() string {
	if o.json {
		return "json"
	}
	return "text"
}

// Type implements pflag.Value.
func (o *outputFlag) Type() string { return "format" }

// addClientCommands adds to root the commands that talk to a server, in a
// help group of their own. They share --endpoints, --timeout, --output and
// the mutual-TLS flags --cert, --key, --ca and --server-name, which the
// environment can set too (CASKADE_ENDPOINTS, CASKADE_TIMEOUT,
// CASKADE_OUTPUT, CASKADE_CERT, CASKADE_KEY, CASKADE_CA,
// CASKADE_SERVER_NAME).
func (a *app) addClientCommands(root *cobra.Command) {
	cc := &clientConfig{}
	fs := pflag.NewFlagSet("client", pflag.ContinueOnError)
	fs.StringSliceVar(&cc.endpoints, "endpoints", []string{defaultEndpoint}, "servers to talk to, host:port, comma-separated")
	fs.DurationVar(&cc.timeout, "timeout", client.DefaultTimeout, "bound on each request (streams: consume, produce, snapshot are not bounded); 0 means none")
	fs.VarP(&cc.output, "output", "o", "output format: text or json")
	fs.StringVar(&cc.cert, "cert", "", "client certificate (PEM) for mutual TLS; its common name is your identity")
	fs.StringVar(&cc.key, "key", "", "private key (PEM) of --cert")
	fs.StringVar(&cc.ca, "ca", "", "CA certificates (PEM) that signed the servers' certificates")
	fs.StringVar(&cc.serverName, "server-name", "", "name to verify every server's certificate against (default: the host of each endpoint)")
	annotateEnv(fs)

	cmds := []*cobra.Command{
		a.newClientPutCmd(cc), a.newClientGetCmd(cc), a.newClientDelCmd(cc), a.newClientCASCmd(cc),
		a.newClientScanCmd(cc),
		a.newClientProduceCmd(cc), a.newClientConsumeCmd(cc),
		a.newClientStatusCmd(cc), a.newClientCompactCmd(cc), a.newClientSnapshotCmd(cc),
		a.newBenchCmd(cc),
	}
	for _, cmd := range cmds {
		cmd.GroupID = clientGroup
		cmd.PersistentFlags().AddFlagSet(fs)
		cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
			if err := bindEnv(fs, a.lookupEnv); err != nil {
				return err
			}
			return cc.validate()
		}
	}
	root.AddGroup(&cobra.Group{ID: clientGroup, Title: "Client commands (talk to a server; see --endpoints):"})
	root.AddCommand(cmds...)
}

// clientGroup is the help group of the client commands.
const clientGroup = "client"

// validate checks the shared flags; the messages name the flag.
func (cc *clientConfig) validate() error {
	if len(cc.endpoints) == 0 {
		return usageErrorf("--endpoints is empty: want host:port[,host:port...]")
	}
	for _, ep := range cc.endpoints {
		host, port, err := net.SplitHostPort(ep)
		if err != nil || host == "" || port == "" {
			return usageErrorf("--endpoints: %q is not host:port", ep)
		}
	}
	if cc.timeout < 0 {
		return usageErrorf("--timeout %v: want a positive duration, or 0 for none", cc.timeout)
	}
	if all, none := cc.cert != "" && cc.key != "" && cc.ca != "", cc.cert+cc.key+cc.ca == ""; !all && !none {
		return usageErrorf("--cert, --key and --ca go together: give all three for mutual TLS, or none for plaintext")
	}
	if cc.serverName != "" && !cc.tls() {
		return usageErrorf("--server-name needs --cert, --key and --ca: it names the server a TLS connection verifies")
	}
	return nil
}

// tls reports whether the client commands use mutual TLS.
func (cc *clientConfig) tls() bool { return cc.cert != "" }

// security is the client option that secures the connections: mutual TLS
// with the certificate files, or plaintext without them.
func (cc *clientConfig) security() (client.Option, error) {
	if !cc.tls() {
		return client.WithInsecure(), nil
	}
	cfg, err := client.LoadTLSConfig(cc.cert, cc.key, cc.ca)
	if err != nil {
		return nil, usageErrorf("--cert, --key, --ca: %w", err)
	}
	cfg.ServerName = cc.serverName
	return client.WithTLSConfig(cfg), nil
}

// withClient dials the servers, runs fn and closes the client.
func (a *app) withClient(ctx context.Context, cc *clientConfig, fn func(c *client.Client) error) (err error) {
	sec, err := cc.security()
	if err != nil {
		return err
	}
	c, err := client.Dial(ctx, cc.endpoints, sec, client.WithTimeout(cc.timeout))
	if err != nil {
		return failuref("%w", err)
	}
	defer func() {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	return cc.explain(fn(c))
}

// explain adds to err what the user needs to act on it: the endpoints
// for a server that cannot be reached, the --timeout for a request that
// ran out of time.
func (cc *clientConfig) explain(err error) error {
	var ce *cliError
	switch {
	case err == nil || errors.As(err, &ce):
		return err
	case errors.Is(err, client.ErrUnavailable) && !cc.tls():
		return fmt.Errorf("%w (--endpoints %s) (plaintext: a server with TLS needs --cert, --key and --ca)", err, strings.Join(cc.endpoints, ","))
	case errors.Is(err, client.ErrUnavailable):
		return fmt.Errorf("%w (--endpoints %s)", err, strings.Join(cc.endpoints, ","))
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w (--timeout %v)", err, cc.timeout)
	}
	return err
}
