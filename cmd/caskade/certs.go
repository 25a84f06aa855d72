package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/caskade/caskade/certs"
	"github.com/caskade/caskade/rpc"
)

// defaultCertsDir is where "certs" writes when --dir is not given.
const defaultCertsDir = "caskade-certs"

// Names of the example authorization files "certs init" writes next to the
// certificates.
const (
	modelFileName  = "model.conf"
	policyFileName = "policy.csv"
)

func (a *app) newCertsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Make the certificates of mutual TLS (a CA, server and client certificates)",
		Long: `Make the certificates a secure caskade deployment needs, with no outside
tool: a CA, a server certificate for the nodes and client certificates whose
common name is the caller's identity in the authorization policy.

    caskade certs init --dir certs --hosts node1.example.com,10.0.0.5
    caskade serve --tls-cert certs/server.pem --tls-key certs/server-key.pem --tls-ca certs/ca.pem
    caskade get k --cert certs/client-root.pem --key certs/client-root-key.pem --ca certs/ca.pem

Keys are written with mode 0600. Files that exist are kept unless --force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newCertsInitCmd(), a.newCertsNewCmd())
	return cmd
}

func (a *app) newCertsInitCmd() *cobra.Command {
	var (
		dir     string
		hosts   []string
		clients []string
		force   bool
		expiry  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Make a CA, a server certificate and client certificates in --dir",
		Long: `Make in --dir (created with mode 0700):

    ca.pem, ca-key.pem                  the CA every node and client trusts
    server.pem, server-key.pem          the nodes' certificate: --hosts as its
                                        names, good for serving and for dialing
                                        other nodes (identity "node")
    client-NAME.pem, client-NAME-key.pem  a client certificate for root and for
                                        each of --clients; NAME is the identity
    model.conf, policy.csv              the default authorization model and
                                        policy, as examples to edit and pass to
                                        serve --auth-model and --auth-policy

Files that exist are kept (a certificate must come with its key and be
signed by the CA in --dir), so running it again with more --clients adds
only those. --force makes every file anew, the CA included: certificates
made before with the old CA no longer verify.`,
		Args: cobra.NoArgs,
		RunE: runE(func(*cobra.Command, []string) error {
			for _, c := range clients {
				if err := certs.CheckIdentity(c); err != nil {
					return usageErrorf("--clients: %w", err)
				}
			}
			if err := certs.CheckHosts(hosts); err != nil {
				return usageErrorf("--hosts: %w", err)
			}
			if expiry < 0 {
				return usageErrorf("--expiry %v: must be positive", expiry)
			}
			files, err := certs.Init(dir, &certs.Options{
				Hosts:   hosts,
				Clients: clients,
				Force:   force,
				Expiry:  expiry,
				Extra: map[string][]byte{
					modelFileName:  rpc.DefaultModel(),
					policyFileName: rpc.DefaultPolicy(),
				},
			})
			a.printFiles(files)
			if err != nil {
				return failuref("certs init: %w", err)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", defaultCertsDir, "directory to write the certificates to")
	f.StringSliceVar(&hosts, "hosts", certs.DefaultHosts(), "DNS names and IP addresses the nodes are reached at (the server certificate's names), comma-separated")
	f.StringSliceVar(&clients, "clients", nil, "identities to make client certificates for besides root, comma-separated")
	f.BoolVar(&force, "force", false, "make every file anew, the CA included, instead of keeping those that exist")
	f.DurationVar(&expiry, "expiry", certs.DefaultExpiry, "how long the server and client certificates are valid")
	return cmd
}

func (a *app) newCertsNewCmd() *cobra.Command {
	var (
		dir    string
		cn     string
		force  bool
		expiry time.Duration
	)
	cmd := &cobra.Command{
		Use:   "new --cn NAME",
		Short: "Add a client certificate for identity NAME, signed by the CA in --dir",
		Long: `Add a client certificate (client-NAME.pem, client-NAME-key.pem) for the
identity NAME to --dir, signed by the CA "certs init" made there. Grant the
identity permissions in the server's policy (p, NAME, OBJECT, ACTION) and
reload it with SIGHUP. An existing certificate for NAME is kept unless
--force.`,
		Args: cobra.NoArgs,
		RunE: runE(func(*cobra.Command, []string) error {
			if cn == "" {
				return usageErrorf("--cn is required: the identity to make a certificate for")
			}
			if err := certs.CheckIdentity(cn); err != nil {
				return usageErrorf("--cn: %w", err)
			}
			if expiry < 0 {
				return usageErrorf("--expiry %v: must be positive", expiry)
			}
			files, err := certs.NewClient(dir, cn, &certs.Options{Force: force, Expiry: expiry})
			a.printFiles(files)
			if err != nil {
				return failuref("certs new: %w", err)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&cn, "cn", "", "the identity: the certificate's common name (letters, digits, '.', '_', '-')")
	f.StringVar(&dir, "dir", defaultCertsDir, "directory of the CA (made by certs init); the certificate is written there")
	f.BoolVar(&force, "force", false, "replace an existing certificate for --cn")
	f.DurationVar(&expiry, "expiry", certs.DefaultExpiry, "how long the certificate is valid")
	return cmd
}

// printFiles prints one line per file: created or kept, and its path.
func (a *app) printFiles(files []certs.File) {
	for _, f := range files {
		what := "kept   "
		if f.Created {
			what = "created"
		}
		fmt.Fprintf(a.stdout, "%s %s\n", what, f.Path)
	}
}
