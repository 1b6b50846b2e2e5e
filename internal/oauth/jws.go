package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	josev3 "github.com/go-jose/go-jose/v3"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-id/gatehouse/internal/keys"
)

// jwsSigner is the fosite jwt.Signer of every token Gatehouse signs: JWT access
// tokens and ID tokens. It signs with the active key of an algorithm (RS256,
// ES256 or EdDSA) and verifies with whichever published key the token's kid
// names, so a token signed before a rotation still verifies.
//
// fosite's DefaultSigner builds a new JOSE signer for every token, and go-jose
// v3's JWT builder encodes the claims, decodes them into a map and encodes them
// again; it also knows no Ed25519 keys. This one keeps one JOSE signer per key
// and header type and encodes the claims once.
type jwsSigner struct {
	keys KeySource
	// alg gives the algorithm to sign with in ctx.
	alg func(ctx context.Context) string
	// signers caches a go-jose signer per signerKey; a kid names the key
	// material itself (its RFC 7638 thumbprint), so an entry never goes stale.
	signers sync.Map
}

var _ jwt.Signer = (*jwsSigner)(nil)

type signerKey struct{ kid, typ string }

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
	var extra map[jose.HeaderKey]any
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
				extra = map[jose.HeaderKey]any{}
			}
			extra[jose.HeaderKey(name)] = v
		}
	}
	var signer jose.Signer
	if extra == nil {
		signer, err = s.cachedSigner(k, typ)
	} else {
		signer, err = newJOSESigner(k, typ, extra)
	}
	if err != nil {
		return "", "", err
	}
	payload, err := json.Marshal(map[string]any(claims))
	if err != nil {
		return "", "", fmt.Errorf("sign JWT: encode claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", "", fmt.Errorf("sign JWT: %w", err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		return "", "", fmt.Errorf("sign JWT: %w", err)
	}
	return raw, raw[strings.LastIndexByte(raw, '.')+1:], nil
}

func (s *jwsSigner) cachedSigner(k keys.ActiveKey, typ string) (jose.Signer, error) {
	sk := signerKey{k.KID, typ}
	if v, ok := s.signers.Load(sk); ok {
		return v.(jose.Signer), nil
	}
	signer, err := newJOSESigner(k, typ, nil)
	if err != nil {
		return nil, err
	}
	v, _ := s.signers.LoadOrStore(sk, signer)
	return v.(jose.Signer), nil
}

func newJOSESigner(k keys.ActiveKey, typ string, extra map[jose.HeaderKey]any) (jose.Signer, error) {
	opts := &jose.SignerOptions{ExtraHeaders: extra}
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(k.Alg),
		Key:       jose.JSONWebKey{Key: k.Signer, KeyID: k.KID, Algorithm: k.Alg},
	}, opts.WithType(jose.ContentType(typ)))
	if err != nil {
		return nil, fmt.Errorf("sign JWT with %s key %s: %w", k.Alg, k.KID, err)
	}
	return signer, nil
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
