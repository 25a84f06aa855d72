// Package certs makes and loads the certificates of a caskade deployment,
// so that no outside tool is needed to start a secure node or cluster
// (DESIGN.md §8). It uses the cfssl library (initca, csr, signer/local):
//
//   - a CA (ca.pem, ca-key.pem) that every node and client trusts;
//   - a server certificate (server.pem, server-key.pem) whose SANs are the
//     hosts and IP addresses the node is reached at. It is good for both
//     server and client authentication, so a node presents the same
//     certificate when it dials its peers; its common name is NodeIdentity;
//   - client certificates (client-NAME.pem, client-NAME-key.pem) whose
//     common name NAME is the caller's identity: the subject the server's
//     Casbin policy grants permissions to.
//
// Keys are ECDSA P-256 and written with mode 0600; certificates 0644.
// Files that exist are kept (and checked against the CA) unless Force is
// set, so running Init again only adds what is missing.
//
// ServerTLSConfig and ClientTLSConfig turn those files into mutual-TLS
// configurations: TLS 1.2 or newer, and on the server a verified client
// certificate required on every connection.
//
// The package imports nothing of caskade; the command and tests use it.
// Its functions are safe for concurrent use, except that two writers to
// one directory race (the last rename wins).
package certs
