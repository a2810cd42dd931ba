package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Errors of Handshake and Authenticate. Each means the caller is not
// authenticated; the message says why and what to do.
var (
	// ErrNoCredentials: the call carries no authorization at all.
	ErrNoCredentials = errors.New("no credentials")
	// ErrBadCredentials: an unknown user or a wrong password.
	ErrBadCredentials = errors.New("wrong user name or password")
	// ErrInvalidToken: a malformed token, one signed with another key
	// (another node without a shared auth.token_secret, or before a
	// restart), or one of a user no longer configured.
	ErrInvalidToken = errors.New("invalid token")
	// ErrTokenExpired: a well-signed token past its expiry.
	ErrTokenExpired = errors.New("token expired")
)

// DefaultTokenTTL is the lifetime of a token when Config.TokenTTL is 0.
const DefaultTokenTTL = time.Hour

// tokenPrefix starts every token; it names the format version.
const tokenPrefix = "mt1."

// User is one configured user.
type User struct {
	// Name is the user name; not empty, no ':' (HTTP Basic uses it as the
	// separator).
	Name string
	// PasswordHash is a bcrypt hash ("$2a$...", "$2b$..." or "$2y$...").
	PasswordHash string
}

// Config configures an Authenticator.
type Config struct {
	// Users may authenticate; names are unique.
	Users []User
	// OpenUsers may authenticate with any password; names are unique
	// among them and Users. For a node without [auth] that must still
	// issue tokens: Databend's protocol always handshakes and sends the
	// token back, and databend-meta then accepts root whatever the
	// password.
	OpenUsers []string
	// TokenSecret signs tokens (HMAC-SHA256). Give every node of a
	// cluster the same one so that a token works on each. Empty: a random
	// key for this Authenticator only.
	TokenSecret []byte
	// TokenTTL is how long a token stays valid. Default DefaultTokenTTL.
	TokenTTL time.Duration
	// Now is the clock tokens are stamped and checked with; nil = time.Now.
	Now func() time.Time
}

// Token is the outcome of a successful Handshake.
type Token struct {
	// Token is sent as "authorization: Bearer <Token>".
	Token string
	// ExpiresAt is when Authenticate stops accepting it.
	ExpiresAt time.Time
	// TTL is the lifetime it was issued with.
	TTL time.Duration
}

// Authenticator checks passwords and issues and verifies tokens. It is safe
// for concurrent use.
type Authenticator struct {
	users map[string][]byte // name -> bcrypt hash; nil: any password
	key   []byte
	ttl   time.Duration
	now   func() time.Time

	// dummyHash is compared against for an unknown user, so that a wrong
	// name costs as much time as a wrong password: it has the highest cost
	// of the users' hashes.
	dummyCost int
	dummyOnce sync.Once
	dummyHash []byte
}

// New checks cfg and returns an Authenticator.
func New(cfg Config) (*Authenticator, error) {
	a := &Authenticator{
		users: make(map[string][]byte, len(cfg.Users)),
		key:   append([]byte(nil), cfg.TokenSecret...),
		ttl:   cfg.TokenTTL,
		now:   cfg.Now,
	}
	if a.ttl == 0 {
		a.ttl = DefaultTokenTTL
	}
	if a.ttl < 0 {
		return nil, fmt.Errorf("auth: negative token TTL %v", a.ttl)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if len(a.key) == 0 {
		a.key = make([]byte, 32)
		if _, err := rand.Read(a.key); err != nil {
			return nil, fmt.Errorf("auth: draw a token key: %w", err)
		}
	}
	for _, u := range cfg.Users {
		if err := CheckUserName(u.Name); err != nil {
			return nil, err
		}
		if _, dup := a.users[u.Name]; dup {
			return nil, fmt.Errorf("auth: user %q is configured twice", u.Name)
		}
		if err := CheckHash(u.PasswordHash); err != nil {
			return nil, fmt.Errorf("auth: user %q: %w", u.Name, err)
		}
		a.users[u.Name] = []byte(u.PasswordHash)
		cost, _ := bcrypt.Cost([]byte(u.PasswordHash))
		a.dummyCost = max(a.dummyCost, cost)
	}
	for _, name := range cfg.OpenUsers {
		if err := CheckUserName(name); err != nil {
			return nil, err
		}
		if _, dup := a.users[name]; dup {
			return nil, fmt.Errorf("auth: user %q is configured twice", name)
		}
		a.users[name] = nil
	}
	if a.dummyCost == 0 {
		a.dummyCost = bcrypt.DefaultCost
	}
	return a, nil
}

// CheckUserName reports whether name can be a user name: not empty, no
// ':' and no control characters.
func CheckUserName(name string) error {
	if name == "" {
		return errors.New("the user name is empty")
	}
	for _, r := range name {
		if r == ':' || r < 0x20 || r == 0x7f {
			return fmt.Errorf("user name %q holds %q: use letters, digits and punctuation other than ':'", name, r)
		}
	}
	return nil
}

// CheckHash reports whether hash is a bcrypt hash.
func CheckHash(hash string) error {
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return fmt.Errorf("password_hash is not a bcrypt hash (%v): generate one with `databend-metactl hash-password`", err)
	}
	return nil
}

// HashPassword returns the bcrypt hash of password at cost (0 =
// bcrypt.DefaultCost), for the password_hash of a user.
func HashPassword(password string, cost int) (string, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// CheckPassword returns nil if user exists and password is its password
// (any password for an open user), else an error wrapping
// ErrBadCredentials that does not say which of the two was wrong.
func (a *Authenticator) CheckPassword(user, password string) error {
	hash, ok := a.users[user]
	if ok && hash == nil {
		return nil
	}
	if !ok {
		_ = bcrypt.CompareHashAndPassword(a.dummy(), []byte(password))
		return fmt.Errorf("%w (user %q)", ErrBadCredentials, user)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return fmt.Errorf("%w (user %q)", ErrBadCredentials, user)
	}
	return nil
}

func (a *Authenticator) dummy() []byte {
	a.dummyOnce.Do(func() {
		a.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("metasrv: no such user"), a.dummyCost)
	})
	return a.dummyHash
}

// Handshake checks user's password and returns a new token for user.
func (a *Authenticator) Handshake(user, password string) (Token, error) {
	if err := a.CheckPassword(user, password); err != nil {
		return Token{}, err
	}
	exp := a.now().Add(a.ttl)
	return Token{Token: a.sign(user, exp), ExpiresAt: exp, TTL: a.ttl}, nil
}

// sign builds a token of user expiring at exp.
func (a *Authenticator) sign(user string, exp time.Time) string {
	payload := binary.BigEndian.AppendUint64(nil, uint64(exp.UnixMilli()))
	payload = append(payload, user...)
	p := base64.RawURLEncoding.EncodeToString(payload)
	return tokenPrefix + p + "." + base64.RawURLEncoding.EncodeToString(a.mac(p))
}

func (a *Authenticator) mac(encodedPayload string) []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(tokenPrefix))
	m.Write([]byte(encodedPayload))
	return m.Sum(nil)
}

// VerifyToken returns the user a token was issued to, or an error wrapping
// ErrInvalidToken or ErrTokenExpired.
func (a *Authenticator) VerifyToken(token string) (string, error) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return "", fmt.Errorf("%w: not a metasrv token", ErrInvalidToken)
	}
	p, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return "", fmt.Errorf("%w: malformed", ErrInvalidToken)
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || !hmac.Equal(got, a.mac(p)) {
		return "", fmt.Errorf("%w: its signature does not match: it was issued by another node or before a restart (set the same auth.token_secret on every node), or altered; call Handshake for a new one", ErrInvalidToken)
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(p)
	if err != nil || len(payload) < 8 {
		return "", fmt.Errorf("%w: malformed", ErrInvalidToken)
	}
	exp := time.UnixMilli(int64(binary.BigEndian.Uint64(payload)))
	user := string(payload[8:])
	if _, ok := a.users[user]; !ok {
		return "", fmt.Errorf("%w: user %q is not configured on this node", ErrInvalidToken, user)
	}
	if !a.now().Before(exp) {
		return "", fmt.Errorf("%w at %s: call Handshake for a new one", ErrTokenExpired, exp.UTC().Format(time.RFC3339))
	}
	return user, nil
}

// Authenticate checks the value of an authorization header (HTTP) or
// metadata entry (gRPC): "Bearer <token>" or "Basic base64(user:password)".
// It returns the authenticated user.
func (a *Authenticator) Authenticate(authorization string) (string, error) {
	scheme, cred, _ := strings.Cut(strings.TrimSpace(authorization), " ")
	cred = strings.TrimSpace(cred)
	switch {
	case authorization == "":
		return "", ErrNoCredentials
	case strings.EqualFold(scheme, "Bearer"):
		return a.VerifyToken(cred)
	case strings.EqualFold(scheme, "Basic"):
		b, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return "", fmt.Errorf("%w: Basic credentials are not base64", ErrBadCredentials)
		}
		user, password, ok := strings.Cut(string(b), ":")
		if !ok {
			return "", fmt.Errorf("%w: Basic credentials are not user:password", ErrBadCredentials)
		}
		if err := a.CheckPassword(user, password); err != nil {
			return "", err
		}
		return user, nil
	}
	return "", fmt.Errorf("%w: unknown authorization scheme %q: use \"Bearer <token>\" or \"Basic <base64 user:password>\"", ErrNoCredentials, scheme)
}
