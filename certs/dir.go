package certs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"
)

// Names of the files in a certificate directory.
const (
	CAFile        = "ca.pem"
	CAKeyFile     = "ca-key.pem"
	ServerFile    = "server.pem"
	ServerKeyFile = "server-key.pem"
)

const (
	caCommonName   = "caskade CA"
	certFileMode   = 0o644
	keyFileMode    = 0o600
	dirMode        = 0o700
	tempFilePrefix = ".tmp-"
)

// RootIdentity is the client identity Init always makes a certificate for:
// the one the default policy lets do everything.
const RootIdentity = "root"

// DefaultHosts returns the server certificate's SANs when none are
// given: a node on this machine.
func DefaultHosts() []string { return []string{"localhost", "127.0.0.1"} }

// ClientFile returns the name of the certificate file of client identity
// name; ClientKeyFile that of its key.
func ClientFile(name string) string { return "client-" + name + ".pem" }

// ClientKeyFile returns the name of the key file of client identity name.
func ClientKeyFile(name string) string { return "client-" + name + "-key.pem" }

// identityRE is what Init and NewClient accept as a client identity: it
// names files, so no separators, no leading dot and nothing a shell or a
// CSV policy file would need quoted.
var identityRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckIdentity reports whether name can be a client identity made by
// Init or NewClient: 1 to 64 letters, digits, '.', '_' or '-', starting
// with a letter or a digit.
func CheckIdentity(name string) error {
	if !identityRE.MatchString(name) {
		return fmt.Errorf("identity %q: want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Options configure Init and NewClient. The zero value gives the defaults.
type Options struct {
	// Hosts are the server certificate's SANs (DNS names and IPs); nil
	// means DefaultHosts().
	Hosts []string
	// Clients are identities to make client certificates for, besides
	// RootIdentity.
	Clients []string
	// Force makes every file anew, the CA included; otherwise files that
	// exist are kept.
	Force bool
	// Expiry is the validity of server and client certificates; 0 means
	// DefaultExpiry.
	Expiry time.Duration
	// CAExpiry is the validity of a new CA; 0 means DefaultCAExpiry.
	CAExpiry time.Duration
	// Extra are more files to write next to the certificates (the example
	// authorization model and policy), by name, mode 0644. Like the
	// certificates they are kept when they exist, unless Force.
	Extra map[string][]byte
}

// File is a file Init or NewClient looked at.
type File struct {
	Path    string // the file's path: the directory joined with its name
	Created bool   // written now; false: it existed and was kept
}

// Init makes the certificates of a deployment in dir (created 0700 if
// missing): a CA, a server certificate for o.Hosts and a client
// certificate for RootIdentity and each of o.Clients, plus o.Extra. It
// keeps what exists unless o.Force: a certificate that exists must come
// with its key and be signed by the CA in dir. It returns every file, in
// the order above.
func Init(dir string, o *Options) ([]File, error) {
	if o == nil {
		o = &Options{}
	}
	clients := append([]string{RootIdentity}, o.Clients...)
	for _, c := range clients {
		if err := CheckIdentity(c); err != nil {
			return nil, err
		}
	}
	hosts := o.Hosts
	if hosts == nil {
		hosts = DefaultHosts()
	}
	if _, err := cleanHosts(hosts); err != nil {
		return nil, err
	}
	leaves := []pair{{cert: ServerFile, key: ServerKeyFile, req: Request{CN: NodeIdentity, Server: true, Hosts: hosts, Expiry: o.Expiry}}}
	seen := map[string]bool{}
	for _, c := range clients {
		if !seen[c] {
			seen[c] = true
			leaves = append(leaves, pair{cert: ClientFile(c), key: ClientKeyFile(c), req: Request{CN: c, Expiry: o.Expiry}})
		}
	}
	// Look at every file before writing any, so that a refusal leaves the
	// directory as it was. Force makes every file anew: nothing to look at.
	var (
		files []File
		ca    *CA
		err   error
	)
	if !o.Force {
		caExists, err := pairExists(dir, CAFile, CAKeyFile)
		if err != nil {
			return nil, err
		}
		if caExists {
			if ca, err = LoadCA(dir); err != nil {
				return nil, err
			}
		}
		for i := range leaves {
			if leaves[i].exists, err = pairExists(dir, leaves[i].cert, leaves[i].key); err != nil {
				return nil, err
			}
			if !leaves[i].exists {
				continue
			}
			if ca == nil {
				return nil, fmt.Errorf("%s exists but the CA that signed it (%s) does not: pass --force to make every certificate anew",
					filepath.Join(dir, leaves[i].cert), filepath.Join(dir, CAFile))
			}
			if err := leaves[i].check(dir, ca); err != nil {
				return nil, err
			}
		}
	}

	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("certificate directory: %w", err)
	}
	if ca != nil {
		files = append(files, File{Path: filepath.Join(dir, CAFile)}, File{Path: filepath.Join(dir, CAKeyFile)})
	} else {
		var keyPEM []byte
		if ca, keyPEM, err = NewCA(caCommonName, o.CAExpiry); err != nil {
			return nil, err
		}
		if err := writeFile(dir, CAKeyFile, keyPEM, keyFileMode); err != nil {
			return nil, err
		}
		if err := writeFile(dir, CAFile, ca.CertPEM, certFileMode); err != nil {
			return nil, err
		}
		files = append(files, File{Path: filepath.Join(dir, CAFile), Created: true}, File{Path: filepath.Join(dir, CAKeyFile), Created: true})
	}
	for _, p := range leaves {
		made, err := p.make(dir, ca)
		if err != nil {
			return files, err
		}
		files = append(files, made...)
	}
	names := make([]string, 0, len(o.Extra))
	for name := range o.Extra {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		path := filepath.Join(dir, name)
		_, err := os.Stat(path)
		switch {
		case err == nil && !o.Force:
			files = append(files, File{Path: path})
			continue
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return files, fmt.Errorf("stat %s: %w", path, err)
		}
		if err := writeFile(dir, name, o.Extra[name], certFileMode); err != nil {
			return files, err
		}
		files = append(files, File{Path: path, Created: true})
	}
	return files, nil
}

// NewClient adds a client certificate for identity name to dir, signed
// by the CA there. An existing certificate for name is kept unless
// o.Force. Only o.Force and o.Expiry are used.
func NewClient(dir, name string, o *Options) ([]File, error) {
	if o == nil {
		o = &Options{}
	}
	if err := CheckIdentity(name); err != nil {
		return nil, err
	}
	ca, err := LoadCA(dir)
	if err != nil {
		return nil, err
	}
	p := pair{cert: ClientFile(name), key: ClientKeyFile(name), req: Request{CN: name, Expiry: o.Expiry}}
	if !o.Force {
		if p.exists, err = pairExists(dir, p.cert, p.key); err != nil {
			return nil, err
		}
		if p.exists {
			if err := p.check(dir, ca); err != nil {
				return nil, err
			}
		}
	}
	return p.make(dir, ca)
}

// LoadCA reads the CA (ca.pem and ca-key.pem) in dir.
func LoadCA(dir string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, fmt.Errorf("read CA key: %w", err)
	}
	ca, err := ParseCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, CAFile), err)
	}
	return ca, nil
}

// pair is a certificate and its key file.
type pair struct {
	cert, key string
	req       Request
	exists    bool // both files exist
}

// check verifies that ca signed the pair's certificate.
func (p pair) check(dir string, ca *CA) error {
	certPath := filepath.Join(dir, p.cert)
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return fmt.Errorf("read %s: %w", certPath, err)
	}
	if err := ca.Verify(certPEM); err != nil {
		return fmt.Errorf("%s: %w (pass --force to make it anew)", certPath, err)
	}
	return nil
}

// make writes the pair, signed by ca, unless it exists (and was checked).
func (p pair) make(dir string, ca *CA) ([]File, error) {
	certPath, keyPath := filepath.Join(dir, p.cert), filepath.Join(dir, p.key)
	if p.exists {
		return []File{{Path: certPath}, {Path: keyPath}}, nil
	}
	certPEM, keyPEM, err := ca.Issue(p.req)
	if err != nil {
		return nil, err
	}
	if err := writeFile(dir, p.key, keyPEM, keyFileMode); err != nil {
		return nil, err
	}
	if err := writeFile(dir, p.cert, certPEM, certFileMode); err != nil {
		return nil, err
	}
	return []File{{Path: certPath, Created: true}, {Path: keyPath, Created: true}}, nil
}

// pairExists reports whether both files exist, and refuses one without
// the other.
func pairExists(dir, cert, key string) (bool, error) {
	c, err := exists(filepath.Join(dir, cert))
	if err != nil {
		return false, err
	}
	k, err := exists(filepath.Join(dir, key))
	if err != nil {
		return false, err
	}
	switch {
	case c && !k:
		return false, fmt.Errorf("%s exists without its key %s: remove it or pass --force", filepath.Join(dir, cert), key)
	case k && !c:
		return false, fmt.Errorf("%s exists without its certificate %s: remove it or pass --force", filepath.Join(dir, key), cert)
	}
	return c, nil
}

// exists reports whether path exists.
func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("stat %s: %w", path, err)
}

// writeFile writes data to dir/name with mode perm through a temporary
// file and a rename, so that a reader never sees half a file and a key
// is never readable by others, not even for a moment.
func writeFile(dir, name string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(dir, tempFilePrefix+name+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	// CreateTemp makes the file 0600; a certificate may be read by all.
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", filepath.Join(dir, name), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", filepath.Join(dir, name), err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	return nil
}
