package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/go-jose/go-jose/v4"
)

// rsaBits is the RSA modulus size for RS256 keys (NIST SP 800-57: 2048 bits is
// acceptable through 2030).
const rsaBits = 2048

// generate makes a new active key for alg. It returns the record to store and the
// private key as PKCS #8 DER. The kid is the key's RFC 7638 thumbprint (SHA-256,
// base64url), so it names the key material itself and never collides by chance.
func generate(alg string, now time.Time) (storage.SigningKey, []byte, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return storage.SigningKey{}, nil, fmt.Errorf("generate %q key: %w", alg, ErrUnsupportedAlg)
	}
	if err != nil {
		return storage.SigningKey{}, nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return storage.SigningKey{}, nil, fmt.Errorf("encode %s key: %w", alg, err)
	}
	jwk := jose.JSONWebKey{Key: priv.Public(), Algorithm: alg, Use: use}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return storage.SigningKey{}, nil, fmt.Errorf("thumbprint %s key: %w", alg, err)
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	public, err := json.Marshal(jwk)
	if err != nil {
		return storage.SigningKey{}, nil, fmt.Errorf("encode %s public key: %w", alg, err)
	}
	now = now.UTC()
	return storage.SigningKey{
		KID:         jwk.KeyID,
		Alg:         alg,
		Use:         use,
		PublicJWK:   string(public),
		State:       storage.SigningKeyActive,
		ActivatedAt: now,
		CreatedAt:   now,
	}, der, nil
}

// parsePublic decodes a stored public JWK and checks that it is public and names
// the same kid and alg as its row.
func parsePublic(k storage.SigningKey) (jose.JSONWebKey, error) {
	var jwk jose.JSONWebKey
	if err := json.Unmarshal([]byte(k.PublicJWK), &jwk); err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("public key of %s: %w", k.KID, err)
	}
	if !jwk.IsPublic() || !jwk.Valid() {
		return jose.JSONWebKey{}, fmt.Errorf("public key of %s: not a valid public JWK", k.KID)
	}
	if jwk.KeyID != k.KID || jwk.Algorithm != k.Alg {
		return jose.JSONWebKey{}, fmt.Errorf("public key of %s: names kid %q alg %q, want kid %q alg %q", k.KID, jwk.KeyID, jwk.Algorithm, k.KID, k.Alg)
	}
	if err := checkKeyType(k.Alg, jwk.Key); err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("public key of %s: %w", k.KID, err)
	}
	jwk.Use = use
	return jwk, nil
}

// checkKeyType checks that pub is a public key fit for alg.
func checkKeyType(alg string, pub crypto.PublicKey) error {
	switch alg {
	case RS256:
		if p, ok := pub.(*rsa.PublicKey); ok && p.N.BitLen() >= rsaBits {
			return nil
		}
		return fmt.Errorf("RS256 needs an RSA key of at least %d bits", rsaBits)
	case ES256:
		if p, ok := pub.(*ecdsa.PublicKey); ok && p.Curve == elliptic.P256() {
			return nil
		}
		return fmt.Errorf("ES256 needs a P-256 key")
	case EdDSA:
		if p, ok := pub.(ed25519.PublicKey); ok && len(p) == ed25519.PublicKeySize {
			return nil
		}
		return fmt.Errorf("EdDSA needs an Ed25519 key")
	}
	return fmt.Errorf("%q: %w", alg, ErrUnsupportedAlg)
}

// parsePrivate decodes a PKCS #8 private key and checks that it belongs to pub.
func parsePrivate(kid, alg string, der []byte, pub crypto.PublicKey) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("private key of %s: %w", kid, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of %s: %T cannot sign", kid, k)
	}
	if err := checkKeyType(alg, signer.Public()); err != nil {
		return nil, fmt.Errorf("private key of %s: %w", kid, err)
	}
	eq, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !eq.Equal(pub) {
		return nil, fmt.Errorf("private key of %s does not match its published public key", kid)
	}
	return signer, nil
}
