package storage

import "time"

// The states of a signing key.
const (
	// SigningKeyActive marks the one key per algorithm that signs new tokens.
	SigningKeyActive = "active"
	// SigningKeyRetired marks a key that no longer signs; it stays in the JWKS until
	// PublishUntil so that tokens it signed can still be verified.
	SigningKeyRetired = "retired"
)

// SigningKey is a key that signs ID tokens and JWT access tokens. PrivateKey holds
// the PKCS #8 DER private key sealed with the system secret (see Sealer), bound to
// the row by the additional data "signing_keys:"+KID; it is never stored in clear.
//
// The partial unique index signing_keys_active_alg_key allows one active key per
// algorithm, so instances that start or rotate together cannot leave two.
type SigningKey struct {
	KID string `gorm:"column:kid;primaryKey"`
	// Alg is the JWS algorithm: RS256, ES256 or EdDSA.
	Alg string `gorm:"not null;uniqueIndex:signing_keys_active_alg_key,where:state = 'active';check:signing_keys_alg,alg IN ('RS256', 'ES256', 'EdDSA')"`
	// Use is the JWK "use" member; always "sig".
	Use        string `gorm:"not null;default:'sig'"`
	PrivateKey []byte `gorm:"not null"`
	// PublicJWK is the public key as a JSON Web Key (RFC 7517), with kid, alg and use.
	PublicJWK   string     `gorm:"column:public_jwk;type:text;not null"`
	State       string     `gorm:"not null;check:signing_keys_state,state IN ('active', 'retired')"`
	ActivatedAt time.Time  `gorm:"not null"`
	RetiredAt   *time.Time `gorm:""`
	// PublishUntil is when a retired key leaves the JWKS; nil while active.
	PublishUntil *time.Time `gorm:""`
	CreatedAt    time.Time  `gorm:"not null"`
}

// keyModels lists the signing-key models.
func keyModels() []any {
	return []any{&SigningKey{}}
}
