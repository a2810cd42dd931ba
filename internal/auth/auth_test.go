package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// hash returns a cheap bcrypt hash of password.
func hash(t testing.TB, password string) string {
	t.Helper()
	h, err := HashPassword(password, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// clock is a settable clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newAuth(t testing.TB, secret string, c *clock, users ...User) *Authenticator {
	t.Helper()
	a, err := New(Config{Users: users, TokenSecret: []byte(secret), TokenTTL: time.Minute, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func TestHandshakeAndVerify(t *testing.T) {
	c := newClock()
	users := []User{{"root", hash(t, "s3cret")}, {"app", hash(t, "other")}}
	a := newAuth(t, "0123456789abcdef", c, users...)

	tok, err := a.Handshake("root", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if tok.TTL != time.Minute || !tok.ExpiresAt.Equal(c.now().Add(time.Minute)) {
		t.Fatalf("token %+v: want TTL 1m expiring at %v", tok, c.now().Add(time.Minute))
	}
	if u, err := a.Authenticate("Bearer " + tok.Token); err != nil || u != "root" {
		t.Fatalf("Authenticate(Bearer token) = %q, %v; want root", u, err)
	}
	if u, err := a.Authenticate(basic("app", "other")); err != nil || u != "app" {
		t.Fatalf("Authenticate(Basic) = %q, %v; want app", u, err)
	}

	// The same secret on another node accepts it; another secret does not.
	if u, err := newAuth(t, "0123456789abcdef", c, users...).VerifyToken(tok.Token); err != nil || u != "root" {
		t.Fatalf("same secret: %q, %v", u, err)
	}
	if _, err := newAuth(t, "fedcba9876543210", c, users...).VerifyToken(tok.Token); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("other secret: %v, want ErrInvalidToken", err)
	}
	// A random key (no secret) is this Authenticator's own.
	r1, r2 := newAuth(t, "", c, users...), newAuth(t, "", c, users...)
	tok1, err := r1.Handshake("root", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r1.VerifyToken(tok1.Token); err != nil {
		t.Fatalf("own random key: %v", err)
	}
	if _, err := r2.VerifyToken(tok1.Token); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("another random key: %v, want ErrInvalidToken", err)
	}
	// A user removed from the configuration loses its tokens.
	if _, err := newAuth(t, "0123456789abcdef", c, users[1]).VerifyToken(tok.Token); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("removed user: %v, want ErrInvalidToken", err)
	}

	// Expiry.
	c.advance(time.Minute - time.Millisecond)
	if _, err := a.VerifyToken(tok.Token); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	c.advance(time.Millisecond)
	if _, err := a.VerifyToken(tok.Token); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("at expiry: %v, want ErrTokenExpired", err)
	}
}

func TestRefused(t *testing.T) {
	c := newClock()
	a := newAuth(t, "0123456789abcdef", c, User{"root", hash(t, "pw")})
	tok, err := a.Handshake("root", "pw")
	if err != nil {
		t.Fatal(err)
	}
	// Flip one character of the payload, then of the signature.
	body := strings.TrimPrefix(tok.Token, tokenPrefix)
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name, authorization string
		want                error
	}{
		{"nothing", "", ErrNoCredentials},
		{"unknown scheme", "Digest abc", ErrNoCredentials},
		{"wrong password handshake", basic("root", "nope"), ErrBadCredentials},
		{"unknown user", basic("bob", "pw"), ErrBadCredentials},
		{"basic not base64", "Basic !!!", ErrBadCredentials},
		{"basic without colon", "Basic " + base64.StdEncoding.EncodeToString([]byte("root")), ErrBadCredentials},
		{"not a token", "Bearer hello", ErrInvalidToken},
		{"no signature", "Bearer " + tokenPrefix + "abc", ErrInvalidToken},
		{"payload altered", "Bearer " + tokenPrefix + flip(body, 3), ErrInvalidToken},
		{"signature altered", "Bearer " + tokenPrefix + flip(body, len(body)-2), ErrInvalidToken},
		{"token of another user forged", "Bearer " + newAuth(t, "another secret!!", c, User{"root", hash(t, "x")}).sign("root", c.now().Add(time.Hour)), ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := a.Authenticate(tt.authorization)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Authenticate(%q) = %q, %v; want %v", tt.authorization, u, err, tt.want)
			}
		})
	}
	if _, err := a.Handshake("root", "nope"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("Handshake with a wrong password: %v", err)
	}
	if _, err := a.Handshake("nobody", "pw"); !errors.Is(err, ErrBadCredentials) || !strings.Contains(err.Error(), "wrong user name or password") {
		t.Fatalf("Handshake of an unknown user: %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	good := hash(t, "pw")
	tests := []struct {
		name  string
		users []User
		want  string
	}{
		{"empty name", []User{{"", good}}, "empty"},
		{"colon", []User{{"a:b", good}}, "':'"},
		{"duplicate", []User{{"a", good}, {"a", good}}, "twice"},
		{"not bcrypt", []User{{"a", "plaintext"}}, "not a bcrypt hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Users: tt.users})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func FuzzVerifyToken(f *testing.F) {
	c := newClock()
	a := newAuth(f, "0123456789abcdef", c, User{"root", hash(f, "pw")})
	tok, err := a.Handshake("root", "pw")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok.Token)
	f.Add("mt1..")
	f.Add("mt1.AAAAAAAAAAA.")
	f.Fuzz(func(t *testing.T, s string) {
		// Only the issued token verifies: no other spelling of it, no
		// forgery.
		if u, err := a.VerifyToken(s); err == nil && s != tok.Token {
			t.Fatalf("token %q accepted as %q", s, u)
		}
	})
}

// An open user authenticates with any password and gets tokens as usual;
// other names are refused.
func TestOpenUsers(t *testing.T) {
	c := newClock()
	a, err := New(Config{OpenUsers: []string{"root"}, TokenTTL: time.Minute, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"", "xxx"} {
		tok, err := a.Handshake("root", pw)
		if err != nil {
			t.Fatalf("password %q: %v", pw, err)
		}
		if u, err := a.VerifyToken(tok.Token); err != nil || u != "root" {
			t.Fatalf("VerifyToken = %q, %v; want root", u, err)
		}
	}
	if _, err := a.Handshake("bob", "xxx"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("Handshake(bob) = %v, want ErrBadCredentials", err)
	}
	if _, err := New(Config{Users: []User{{"root", hash(t, "pw")}}, OpenUsers: []string{"root"}}); err == nil {
		t.Fatal("root both open and with a password: want an error")
	}
	if _, err := New(Config{OpenUsers: []string{"a:b"}}); err == nil {
		t.Fatal("open user a:b: want an error")
	}
}
