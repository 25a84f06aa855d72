package rpc

import (
	"context"
	_ "embed" // the default model and policy
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

//go:embed policy/model.conf
var defaultModel string

//go:embed policy/policy.csv
var defaultPolicy string

// DefaultModel returns the Casbin model a server uses when it is given no
// model file.
func DefaultModel() []byte { return []byte(defaultModel) }

// DefaultPolicy returns the policy a server uses when it is given no
// policy file: root and node may do everything, reader may read
// everything, app may read and write the keys under app/.
func DefaultPolicy() []byte { return []byte(defaultPolicy) }

// Authorizer decides with Casbin whether an identity may do an action on
// an object. It is safe for concurrent use: Reload builds a new enforcer
// and swaps it in whole, so calls in flight finish with the policy they
// started with and never see half of a reload.
type Authorizer struct {
	modelPath, policyPath string // "" means the embedded default; immutable

	current atomic.Pointer[policy] // replaced whole by Reload, never changed in place

	reloadMu sync.Mutex // serializes Reload, so the last files read win
}

// policy is one loaded model and policy.
type policy struct {
	enforcer *casbin.Enforcer // only Enforce is called on it once built
	known    map[string]bool  // every subject and role the policy names
}

// OpenAuthorizer reads the Casbin model and policy files; "" means the
// embedded default (DefaultModel, DefaultPolicy). The model must define
// requests as (subject, object, action) and the first field of a policy
// rule must be its subject. A policy line the model cannot use is an
// error, not skipped.
func OpenAuthorizer(modelPath, policyPath string) (*Authorizer, error) {
	a := &Authorizer{modelPath: modelPath, policyPath: policyPath}
	p, err := a.load()
	if err != nil {
		return nil, err
	}
	a.current.Store(p)
	return a, nil
}

// Reload reads the model and policy files again and, if they load, uses
// them for every call from now on. On error the policy in use stays.
func (a *Authorizer) Reload() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	p, err := a.load()
	if err != nil {
		return err
	}
	a.current.Store(p)
	return nil
}

// Sources names the model and policy in use, for logs.
func (a *Authorizer) Sources() (modelSource, policySource string) {
	modelSource, policySource = a.modelPath, a.policyPath
	if modelSource == "" {
		modelSource = "(built in)"
	}
	if policySource == "" {
		policySource = "(built in)"
	}
	return modelSource, policySource
}

// Allowed reports whether the policy lets identity do action on object.
// An error means the model could not be evaluated; treat it as a refusal.
func (a *Authorizer) Allowed(identity, object, action string) (bool, error) {
	ok, err := a.current.Load().enforcer.Enforce(identity, object, action)
	if err != nil {
		return false, fmt.Errorf("evaluate policy: %w", err)
	}
	return ok, nil
}

// Known reports whether the policy names identity (as a subject of a rule
// or in a role assignment).
func (a *Authorizer) Known(identity string) bool {
	return a.current.Load().known[identity]
}

// load reads and checks the model and the policy.
func (a *Authorizer) load() (*policy, error) {
	modelText, policyText := defaultModel, defaultPolicy
	modelName, policyName := a.Sources()
	if a.modelPath != "" {
		b, err := os.ReadFile(a.modelPath)
		if err != nil {
			return nil, fmt.Errorf("authorization model: %w", err)
		}
		modelText = string(b)
	}
	if a.policyPath != "" {
		b, err := os.ReadFile(a.policyPath)
		if err != nil {
			return nil, fmt.Errorf("authorization policy: %w", err)
		}
		policyText = string(b)
	}
	return newPolicy(modelText, modelName, policyText, policyName)
}

// newPolicy builds an enforcer from the text of a model and a policy and
// checks that it evaluates a request.
func newPolicy(modelText, modelName, policyText, policyName string) (*policy, error) {
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return nil, fmt.Errorf("authorization model %s: %w", modelName, err)
	}
	if r, ok := m["r"]["r"]; !ok || len(r.Tokens) != 3 {
		return nil, fmt.Errorf("authorization model %s: want request_definition r = sub, obj, act", modelName)
	}
	ad := &textAdapter{name: policyName, text: policyText}
	e, err := casbin.NewEnforcer(m, ad)
	if err != nil {
		return nil, fmt.Errorf("authorization policy %s: %w", policyName, err)
	}
	// A matcher that cannot be evaluated fails every call: find out now.
	if _, err := e.Enforce("", "", ""); err != nil {
		return nil, fmt.Errorf("authorization model %s: %w", modelName, err)
	}
	return &policy{enforcer: e, known: ad.known}, nil
}

// errReadOnly is returned by the adapter's write methods: the server never
// changes the operator's policy file.
var errReadOnly = errors.New("the policy file is read-only to the server")

// textAdapter loads a policy from CSV text, one rule per line, like
// Casbin's file adapter but refusing, with the line number, a line the
// model cannot use (Casbin's own adapters skip it or fail later, at the
// first call). It records every subject and role the rules name.
type textAdapter struct {
	name, text string
	known      map[string]bool // filled by LoadPolicy
}

// LoadPolicy implements persist.Adapter.
func (ad *textAdapter) LoadPolicy(m model.Model) error {
	ad.known = map[string]bool{}
	for i, line := range strings.Split(ad.text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := csv.NewReader(strings.NewReader(line))
		r.TrimLeadingSpace = true
		rule, err := r.Read()
		if err != nil {
			return fmt.Errorf("line %d: %w", i+1, err)
		}
		for j := range rule {
			rule[j] = strings.TrimSpace(rule[j])
		}
		if err := ad.check(m, rule); err != nil {
			return fmt.Errorf("line %d: %w", i+1, err)
		}
		if err := persist.LoadPolicyArray(rule, m); err != nil {
			return fmt.Errorf("line %d: %w", i+1, err)
		}
	}
	return nil
}

// check refuses a rule of a type the model lacks, with the wrong number
// of fields or with an empty field, and records the names it gives.
func (ad *textAdapter) check(m model.Model, rule []string) error {
	ptype := rule[0]
	var want int
	switch {
	case m["p"][ptype] != nil:
		want = len(m["p"][ptype].Tokens)
	case m["g"][ptype] != nil:
		want = strings.Count(m["g"][ptype].Value, "_")
	default:
		return fmt.Errorf("rule type %q is not in the model", ptype)
	}
	fields := rule[1:]
	if len(fields) != want {
		return fmt.Errorf("%s rule has %d fields, the model wants %d", ptype, len(fields), want)
	}
	for _, f := range fields {
		if f == "" {
			return fmt.Errorf("%s rule has an empty field", ptype)
		}
	}
	if m["g"][ptype] != nil {
		ad.known[fields[0]] = true
		ad.known[fields[1]] = true
	} else {
		ad.known[fields[0]] = true
	}
	return nil
}

// SavePolicy implements persist.Adapter; the server never saves.
func (ad *textAdapter) SavePolicy(model.Model) error { return errReadOnly }

// AddPolicy implements persist.Adapter; the server never saves.
func (ad *textAdapter) AddPolicy(string, string, []string) error { return errReadOnly }

// RemovePolicy implements persist.Adapter; the server never saves.
func (ad *textAdapter) RemovePolicy(string, string, []string) error { return errReadOnly }

// RemoveFilteredPolicy implements persist.Adapter; the server never saves.
func (ad *textAdapter) RemoveFilteredPolicy(string, string, int, ...string) error {
	return errReadOnly
}

// errNoIdentity refuses a call that carries no verified client
// certificate with a common name: over plaintext, or a certificate
// without a name.
var errNoIdentity = errors.New("the call carries no verified client certificate with a common name")

// unknownIdentityError refuses a caller whose certificate is valid but
// whom the policy does not name.
type unknownIdentityError struct{ Identity string }

func (e *unknownIdentityError) Error() string {
	return fmt.Sprintf("identity %s is not in the authorization policy", quoteShort(e.Identity))
}

// permissionError refuses a call the policy does not allow.
type permissionError struct{ Identity, Action, Object string }

func (e *permissionError) Error() string {
	return fmt.Sprintf("identity %s may not %s %s", quoteShort(e.Identity), e.Action, quoteShort(e.Object))
}

// maxShown is the most bytes of an identity or object an error shows.
const maxShown = 200

// quoteShort quotes s for a message in at most maxShown bytes of quoted
// text (escapes count: a byte that is not UTF-8 takes four), marking a
// cut with "...": keys may be long and hold any bytes, and the result is
// valid UTF-8.
func quoteShort(s string) string {
	q := strconv.Quote(s)
	if len(q) <= maxShown+2 {
		return q
	}
	// Quote a prefix that fits; the prefix ends on a rune boundary, so no
	// escape is cut in half.
	n := min(len(s), maxShown)
	for n > 0 {
		for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
			n--
		}
		if q = strconv.Quote(s[:n]); len(q) <= maxShown+2 {
			break
		}
		n--
	}
	return q + "..."
}

// validShort is s as valid UTF-8 (invalid bytes replaced), cut to at most
// maxShown bytes on a rune boundary: for error metadata, which is a proto
// string.
func validShort(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxShown {
		return s
	}
	n := maxShown
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// identityOf returns the common name of the verified client certificate
// of the call in ctx.
func identityOf(ctx context.Context) (string, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", errNoIdentity
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return "", errNoIdentity
	}
	// VerifiedChains holds chains only once the certificate was verified
	// against the server's client CAs; the leaf comes first.
	chains := ti.State.VerifiedChains
	if len(chains) == 0 || len(chains[0]) == 0 || chains[0][0].Subject.CommonName == "" {
		return "", errNoIdentity
	}
	return chains[0][0].Subject.CommonName, nil
}

// authorize returns nil if identity may call method with req (nil for a
// stream), or the error that refuses the call.
func (a *Authorizer) authorize(identity, method string, req any) error {
	if !a.Known(identity) {
		return &unknownIdentityError{Identity: identity}
	}
	acc, ok := methodAccess[method]
	if !ok {
		return &permissionError{Identity: identity, Action: "call", Object: method}
	}
	obj, err := acc.object(req)
	if err != nil {
		return fmt.Errorf("authorize %s: %w", method, err)
	}
	allowed, err := a.Allowed(identity, obj, acc.action)
	if err != nil {
		return fmt.Errorf("authorize %s: %w", method, err)
	}
	if !allowed {
		return &permissionError{Identity: identity, Action: acc.action, Object: obj}
	}
	return nil
}

// check authorizes the call in ctx.
func (a *Authorizer) check(ctx context.Context, method string, req any) error {
	if isOpen(method) {
		// Open services need only the verified certificate that the
		// transport already asked for.
		return nil
	}
	identity, err := identityOf(ctx)
	if err != nil {
		return err
	}
	return a.authorize(identity, method, req)
}

// refuse logs a refused call and returns the status the client gets.
func refuse(ctx context.Context, l *slog.Logger, method string, err error) error {
	st, internal := statusOf(err)
	level := slog.LevelInfo
	if internal {
		level = slog.LevelError
	}
	l.LogAttrs(ctx, level, "call refused", slog.String("method", method),
		slog.String("code", st.Code().String()), slog.String("reason", validShort(err.Error())))
	return st.Err()
}

// authUnary authorizes each unary call before its handler runs, so a
// refused call reads and writes nothing.
func authUnary(a *Authorizer, l *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := a.check(ctx, info.FullMethod, req); err != nil {
			return nil, refuse(ctx, l, info.FullMethod, err)
		}
		return handler(ctx, req)
	}
}

// authStream authorizes each stream before its handler runs. The object
// of a stream cannot depend on its requests, which come later.
func authStream(a *Authorizer, l *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := a.check(ss.Context(), info.FullMethod, nil); err != nil {
			return refuse(ss.Context(), l, info.FullMethod, err)
		}
		return handler(srv, ss)
	}
}

// errAuthorizationOff is returned by Server.Reload without an Authorizer.
var errAuthorizationOff = errors.New("authorization is off: no policy to reload")

// Reload reads the authorization model and policy files again (see
// Authorizer.Reload); calls already authorized go on. `caskade serve`
// calls it on SIGHUP. Without Options.Authorizer it returns an error.
func (s *Server) Reload() error {
	if s.opts.Authorizer == nil {
		return errAuthorizationOff
	}
	return s.opts.Authorizer.Reload()
}

// ensure textAdapter is a persist.Adapter.
var _ persist.Adapter = (*textAdapter)(nil)
