package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	josev3 "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-id/gatehouse/internal/keys"
)

// jwsSigner is the fosite jwt.Signer of every token Gatehouse signs: JWT access
// tokens and ID tokens. It signs with the active key of an algorithm (RS256,
// ES256 or EdDSA) and verifies with whichever published key the token's kid
// names, so a token signed before a rotation still verifies.
//
// Signing is the token endpoint's largest cost after the signature itself, so
// it does the least it can: fosite's DefaultSigner builds a new JOSE signer for
// every token, and go-jose v3's JWT builder encodes the claims, decodes them into
// a map and encodes them again (it also knows no Ed25519 keys). Here the
// protected header of a key and header type is encoded once and cached, the
// claims are encoded once, and the compact JWS (RFC 7515 §7.1) is assembled in
// one buffer. Verification stays with go-jose, through fosite.
type jwsSigner struct {
	keys KeySource
	// alg gives the algorithm to sign with in ctx.
	alg func(ctx context.Context) string
	// headers caches the encoded protected header per headerKey; a kid names
	// the key material itself (its RFC 7638 thumbprint), so an entry never goes
	// stale.
	headers sync.Map
}

var _ jwt.Signer = (*jwsSigner)(nil)

type headerKey struct{ kid, typ string }

// fixedAlg signs every token with alg.
func fixedAlg(alg string) func(context.Context) string {
	return func(context.Context) string { return alg }
}

// idTokenAlg signs with the algorithm the client asked for its ID tokens (see
// withIDTokenAlg), RS256 when it named none (OpenID Connect Core §2's default).
func idTokenAlg(ctx context.Context) string {
	if alg, _ := ctx.Value(algKey{}).(string); alg != "" {
		return alg
	}
	return keys.RS256
}

// Generate signs claims with the active key of the context's algorithm. The
// header carries alg, kid and typ (JWT unless header names another, as RFC 9068
// access tokens do with at+jwt); other header members are kept.
func (s *jwsSigner) Generate(ctx context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	if claims == nil || header == nil {
		return "", "", errors.New("sign JWT: claims and header are required")
	}
	k, err := s.keys.Signer(s.alg(ctx))
	if err != nil {
		return "", "", fmt.Errorf("sign JWT: %w", err)
	}
	typ := "JWT"
	var extra map[string]any
	for name, v := range header.ToMap() {
		switch name {
		case "typ":
			if t, ok := v.(string); ok && t != "" {
				typ = t
			}
		case "alg", "kid":
			// Set from the key.
		default:
			if extra == nil {
				extra = map[string]any{}
			}
			extra[name] = v
		}
	}
	var prefix string
	if extra == nil {
		prefix, err = s.cachedHeader(k, typ)
	} else {
		prefix, err = encodeHeader(k, typ, extra)
	}
	if err != nil {
		return "", "", err
	}
	payload, err := json.Marshal(map[string]any(claims))
	if err != nil {
		return "", "", fmt.Errorf("sign JWT: encode claims: %w", err)
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(prefix)+enc.EncodedLen(len(payload))+1+enc.EncodedLen(512))
	buf = append(buf, prefix...)
	buf = enc.AppendEncode(buf, payload)
	sig, err := signJWS(k, buf)
	if err != nil {
		return "", "", fmt.Errorf("sign JWT with %s key %s: %w", k.Alg, k.KID, err)
	}
	buf = append(buf, '.')
	at := len(buf)
	buf = enc.AppendEncode(buf, sig)
	raw := string(buf)
	return raw, raw[at:], nil
}

// cachedHeader returns the encoded protected header of k and typ, followed by
// the dot that ends it.
func (s *jwsSigner) cachedHeader(k keys.ActiveKey, typ string) (string, error) {
	hk := headerKey{k.KID, typ}
	if v, ok := s.headers.Load(hk); ok {
		return v.(string), nil
	}
	prefix, err := encodeHeader(k, typ, nil)
	if err != nil {
		return "", err
	}
	s.headers.Store(hk, prefix)
	return prefix, nil
}

// encodeHeader encodes the protected header {alg, kid, typ, extra…} and the dot
// that follows it.
func encodeHeader(k keys.ActiveKey, typ string, extra map[string]any) (string, error) {
	h := make(map[string]any, len(extra)+3)
	for name, v := range extra {
		h[name] = v
	}
	h["alg"], h["kid"], h["typ"] = k.Alg, k.KID, typ
	b, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("sign JWT: encode header: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b) + ".", nil
}

// signJWS signs the JWS signing input with k as RFC 7518 §3 says for its alg:
// RSASSA-PKCS1-v1_5 over SHA-256, ECDSA P-256 over SHA-256 as R‖S of 32 bytes
// each (§3.4), or Ed25519 over the input itself (RFC 8037 §3.1).
func signJWS(k keys.ActiveKey, input []byte) ([]byte, error) {
	switch key := k.Signer.(type) {
	case *rsa.PrivateKey:
		if k.Alg != keys.RS256 {
			break
		}
		digest := sha256.Sum256(input)
		return rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	case *ecdsa.PrivateKey:
		if k.Alg != keys.ES256 {
			break
		}
		digest := sha256.Sum256(input)
		r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	case ed25519.PrivateKey:
		if k.Alg != keys.EdDSA {
			break
		}
		return ed25519.Sign(key, input), nil
	}
	return nil, fmt.Errorf("a %T key cannot sign %s", k.Signer, k.Alg)
}

// Decode parses and verifies token with the published key its kid names,
// which must be of the algorithm its header names, then checks its time
// claims. As fosite's DefaultSigner, it returns the token with a
// *jwt.ValidationError when a check fails (an expired id_token_hint is still
// usable).
func (s *jwsSigner) Decode(_ context.Context, token string) (*jwt.Token, error) {
	return jwt.ParseWithClaims(token, jwt.MapClaims{}, s.verificationKey)
}

func (s *jwsSigner) verificationKey(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, &jwt.ValidationError{Errors: jwt.ValidationErrorUnverifiable, Inner: errors.New("JWT names no kid")}
	}
	pk, err := s.keys.PublicKey(kid)
	if err != nil {
		return nil, &jwt.ValidationError{Errors: jwt.ValidationErrorUnverifiable, Inner: err}
	}
	if string(t.Method) != pk.Alg {
		return nil, &jwt.ValidationError{Errors: jwt.ValidationErrorSignatureInvalid,
			Inner: fmt.Errorf("JWT alg %q does not match key %s (%s)", t.Method, kid, pk.Alg)}
	}
	// A pointer to a JSON Web Key, which go-jose v3 accepts for every key type
	// (fosite would otherwise take the address of an ed25519.PublicKey).
	return &josev3.JSONWebKey{Key: pk.Key, KeyID: pk.KID, Algorithm: pk.Alg}, nil
}

// Validate verifies token (see Decode) and returns its signature.
func (s *jwsSigner) Validate(ctx context.Context, token string) (string, error) {
	if _, err := s.Decode(ctx, token); err != nil {
		return "", err
	}
	return s.GetSignature(ctx, token)
}

// Hash is SHA-256, the hash of every algorithm ID tokens are signed with here
// (at_hash, c_hash: OpenID Connect Core §3.1.3.6).
func (s *jwsSigner) Hash(_ context.Context, in []byte) ([]byte, error) {
	sum := sha256.Sum256(in)
	return sum[:], nil
}

// GetSignature returns the third part of a compact JWS.
func (s *jwsSigner) GetSignature(_ context.Context, token string) (string, error) {
	if strings.Count(token, ".") != 2 {
		return "", errors.New("JWT: want header, payload and signature")
	}
	return token[strings.LastIndexByte(token, '.')+1:], nil
}

// GetSigningMethodLength is SHA-256's size (see Hash).
func (s *jwsSigner) GetSigningMethodLength(context.Context) int { return sha256.Size }
