package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cloudflare/cfssl/config"
	"github.com/cloudflare/cfssl/csr"
	"github.com/cloudflare/cfssl/helpers"
	"github.com/cloudflare/cfssl/initca"
	cflog "github.com/cloudflare/cfssl/log"
	"github.com/cloudflare/cfssl/signer"
	"github.com/cloudflare/cfssl/signer/local"
)

func init() {
	// cfssl logs every step of every signature to stderr at info level
	// through a package-level setting; its errors are returned to us
	// anyway, so keep it quiet unless something is critical.
	cflog.Level = cflog.LevelCritical
}

// Validity defaults.
const (
	// DefaultCAExpiry is how long a CA made by NewCA is valid.
	DefaultCAExpiry = 5 * 365 * 24 * time.Hour
	// DefaultExpiry is how long a server or client certificate is valid.
	DefaultExpiry = 365 * 24 * time.Hour
)

// NodeIdentity is the common name of server certificates: the identity a
// node has when it calls other nodes with its certificate.
const NodeIdentity = "node"

// organization is the O of every certificate this package makes.
const organization = "caskade"

// Signing profiles of a CA.
const (
	profileServer = "server"
	profileClient = "client"
)

// CA signs server and client certificates. It is safe for concurrent use.
type CA struct {
	// Cert is the CA's certificate.
	Cert *x509.Certificate
	// CertPEM is Cert, PEM-encoded: what clients and servers trust.
	CertPEM []byte

	signer *local.Signer
}

// NewCA makes a CA key and a self-signed CA certificate with the common
// name cn, valid for expiry (0 means DefaultCAExpiry). It returns the CA
// and its private key, PEM-encoded.
func NewCA(cn string, expiry time.Duration) (*CA, []byte, error) {
	if expiry <= 0 {
		expiry = DefaultCAExpiry
	}
	req := &csr.CertificateRequest{
		CN:         cn,
		Names:      []csr.Name{{O: organization}},
		KeyRequest: csr.NewKeyRequest(),
		CA:         &csr.CAConfig{Expiry: expiry.String()},
	}
	certPEM, _, keyPEM, err := initca.New(req)
	if err != nil {
		return nil, nil, fmt.Errorf("make CA %q: %w", cn, err)
	}
	ca, err := ParseCA(certPEM, keyPEM)
	if err != nil {
		return nil, nil, err
	}
	return ca, keyPEM, nil
}

// ParseCA returns the CA whose certificate and key are certPEM and keyPEM.
// It refuses a key that does not belong to the certificate and a
// certificate that is not a CA.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return nil, fmt.Errorf("CA certificate and key: %w", err)
	}
	cert, err := helpers.ParseCertificatePEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("certificate %q is not a CA", cert.Subject.CommonName)
	}
	priv, err := helpers.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parse CA key: %w", err)
	}
	s, err := local.NewSigner(priv, cert, signer.DefaultSigAlgo(priv), signingPolicy())
	if err != nil {
		return nil, fmt.Errorf("CA signer: %w", err)
	}
	return &CA{Cert: cert, CertPEM: certPEM, signer: s}, nil
}

// signingPolicy is what the CA signs: server certificates good for server
// and client authentication (a node dials its peers with its server
// certificate), and client certificates good for client authentication
// only. Expiry is set per request.
func signingPolicy() *config.Signing {
	return &config.Signing{
		Default: &config.SigningProfile{
			Usage:        []string{"signing", "client auth"},
			Expiry:       DefaultExpiry,
			ExpiryString: DefaultExpiry.String(),
		},
		Profiles: map[string]*config.SigningProfile{
			profileServer: {
				Usage:        []string{"signing", "key encipherment", "server auth", "client auth"},
				Expiry:       DefaultExpiry,
				ExpiryString: DefaultExpiry.String(),
			},
			profileClient: {
				Usage:        []string{"signing", "client auth"},
				Expiry:       DefaultExpiry,
				ExpiryString: DefaultExpiry.String(),
			},
		},
	}
}

// Request describes a certificate for CA.Issue.
type Request struct {
	// CN is the common name: the identity of a client certificate.
	CN string
	// Server makes a certificate good for server authentication too,
	// with Hosts as its subject alternative names.
	Server bool
	// Hosts are the DNS names and IP addresses a server is reached at.
	// Required when Server is set; ignored otherwise.
	Hosts []string
	// Expiry is how long the certificate is valid from now (backdated by
	// 5 minutes for clock skew); 0 means DefaultExpiry.
	Expiry time.Duration
	// NotBefore and NotAfter, when set, replace the validity Expiry
	// gives. Tests use them to make certificates that have expired or are
	// not valid yet.
	NotBefore, NotAfter time.Time
}

// Issue makes a key and a certificate signed by ca for r, both
// PEM-encoded.
func (ca *CA) Issue(r Request) (certPEM, keyPEM []byte, err error) {
	profile := profileClient
	var hosts []string
	if r.Server {
		profile = profileServer
		hosts, err = cleanHosts(r.Hosts)
		if err != nil {
			return nil, nil, err
		}
	}
	if r.Expiry < 0 {
		return nil, nil, fmt.Errorf("certificate %q: negative expiry %v", r.CN, r.Expiry)
	}
	csrPEM, keyPEM, err := csr.ParseRequest(&csr.CertificateRequest{
		CN:         r.CN,
		Names:      []csr.Name{{O: organization}},
		Hosts:      hosts,
		KeyRequest: csr.NewKeyRequest(),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("certificate %q: make key and request: %w", r.CN, err)
	}
	notAfter := r.NotAfter
	if notAfter.IsZero() && r.Expiry > 0 {
		// Backdate as cfssl does when it picks the validity itself.
		notBefore := r.NotBefore
		if notBefore.IsZero() {
			notBefore = time.Now().Add(-5 * time.Minute)
		}
		notAfter = notBefore.Add(r.Expiry)
	}
	certPEM, err = ca.signer.Sign(signer.SignRequest{
		Request:   string(csrPEM),
		Profile:   profile,
		NotBefore: r.NotBefore,
		NotAfter:  notAfter,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("certificate %q: sign: %w", r.CN, err)
	}
	return certPEM, keyPEM, nil
}

// Verify checks that certPEM holds a certificate signed by ca.
func (ca *CA) Verify(certPEM []byte) error {
	cert, err := helpers.ParseCertificatePEM(certPEM)
	if err != nil {
		return fmt.Errorf("parse certificate: %w", err)
	}
	if err := cert.CheckSignatureFrom(ca.Cert); err != nil {
		return fmt.Errorf("certificate %q was not signed by CA %q: %w", cert.Subject.CommonName, ca.Cert.Subject.CommonName, err)
	}
	return nil
}

// CheckHosts reports whether hosts can be the names of a server
// certificate: at least one, none empty or holding spaces or commas.
func CheckHosts(hosts []string) error {
	_, err := cleanHosts(hosts)
	return err
}

// cleanHosts trims the hosts and refuses an empty list or an empty host.
func cleanHosts(hosts []string) ([]string, error) {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" || strings.ContainsAny(h, " \t\n,") {
			return nil, fmt.Errorf("host %q: want a DNS name or an IP address", h)
		}
		out = append(out, h)
	}
	if len(out) == 0 {
		return nil, errors.New("a server certificate needs at least one host")
	}
	return out, nil
}
