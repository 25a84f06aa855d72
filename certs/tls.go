package certs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// ServerTLSConfig returns the TLS configuration of a node that serves with
// the certificate and key in certFile and keyFile: TLS 1.2 or newer (Go
// prefers 1.3), and on every connection a client certificate signed by a
// CA in caFile, required and verified. The files are read once, now.
func ServerTLSConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, pool, err := loadFiles("server", certFile, keyFile, caFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}, nil
}

// ClientTLSConfig returns the TLS configuration of a caller that presents
// the certificate and key in certFile and keyFile and trusts servers whose
// certificate a CA in caFile signed: TLS 1.2 or newer, server name
// verified (gRPC sets the name from the address dialed unless serverName
// overrides it). The files are read once, now.
func ClientTLSConfig(certFile, keyFile, caFile, serverName string) (*tls.Config, error) {
	cert, pool, err := loadFiles("client", certFile, keyFile, caFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ServerName:   serverName,
	}, nil
}

// loadFiles reads a certificate with its key (role names it in errors)
// and the CA certificates to trust.
func loadFiles(role, certFile, keyFile, caFile string) (tls.Certificate, *x509.CertPool, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("%s certificate %s and key %s: %w", role, certFile, keyFile, err)
	}
	pool, err := loadPool(caFile)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return cert, pool, nil
}

// loadPool reads the PEM certificates in caFile into a pool.
func loadPool(caFile string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA certificates %s: no PEM certificate in the file", caFile)
	}
	return pool, nil
}
