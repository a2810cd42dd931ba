// Package auth authenticates the users of a metasrv node: it checks
// passwords against bcrypt hashes and issues and verifies the tokens that
// the public gRPC API and the admin API accept.
//
// Users come from the configuration ([[auth.users]], name and bcrypt
// password_hash); there is no user store in the replicated KV. Every user
// may do everything: there are no roles.
//
// # Tokens
//
// A client exchanges a user name and password for a token (the Handshake
// RPC) and sends the token with every call as "authorization: Bearer
// <token>". A token is stateless:
//
//	mt1.<base64url(expires_at_ms uint64 big endian || user)>.<base64url(HMAC-SHA256(key, "mt1." || payload))>
//
// so any node holding the same key accepts it until it expires; nothing is
// stored. The key is auth.token_secret. Without one, each process draws a
// random key at start-up: its tokens are then valid on that node only, and
// only until it restarts. The Go client and databend-metactl keep one token
// per node and renew it by themselves, so they work either way; a token
// handed around by hand (--token) needs the same token_secret on every
// node. A token cannot be revoked before it expires, except by changing
// token_secret (which revokes all of them) or removing its user from the
// configuration (a token of an unknown user is refused).
//
// A caller may also send "authorization: Basic base64(user:password)" on
// any call instead of a token. That costs a bcrypt comparison (tens of
// milliseconds of CPU) per call: use it for occasional calls (curl on the
// admin API), tokens for everything else.
//
// Usage:
//
//	a, err := auth.New(auth.Config{Users: users, TokenSecret: secret, TokenTTL: time.Hour})
//	tok, err := a.Handshake("root", password)     // tok.Token, tok.ExpiresAt
//	user, err := a.Authenticate("Bearer " + tok.Token)
//
// Open users (Config.OpenUsers) authenticate with any password. A node
// without [auth] uses them for Databend's protocol, whose clients always
// handshake and send the token back: databend-meta, without auth, gives
// root a token whatever the password.
//
// Errors wrap the sentinels below; every one means "not authenticated"
// (gRPC codes.Unauthenticated, HTTP 401).
package auth
