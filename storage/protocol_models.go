package storage

import "time"

// The protocol tables. Each fosite record is one row keyed by the token signature
// fosite hands the store (never the token itself), or by a SHA-256 where fosite
// hands a secret (the OIDC request's authorization code) or an unbounded string
// (the PAR request_uri, an assertion's jti). The request form and the session are
// sealed with the system secret (AES-256-GCM) and bound to their row.
//
// The models below describe the schema for AutoMigrate and the schema test; the
// queries go through requestRow, refreshRow and parRow, which name the same
// columns once for every table.
const (
	authorizeCodeTable = "authorization_codes"
	accessTokenTable   = "access_tokens"
	refreshTokenTable  = "refresh_tokens"
	pkceRequestTable   = "pkce_requests"
	oidcRequestTable   = "oidc_requests"
	parRequestTable    = "par_requests"
	jtiTable           = "client_assertion_jtis"
)

// protocolModels lists the client and protocol-record models, in dependency order.
func protocolModels() []any {
	return []any{
		&Client{},
		&authorizationCodeModel{},
		&accessTokenModel{},
		&refreshTokenModel{},
		&pkceRequestModel{},
		&oidcRequestModel{},
		&parRequestModel{},
		&clientAssertionJTIModel{},
		&clientCORSOriginModel{},
	}
}

type authorizationCodeModel struct {
	Signature         string     `gorm:"primaryKey"`
	RequestID         string     `gorm:"not null;index:authorization_codes_request_id_idx"`
	RequestedAt       time.Time  `gorm:"not null"`
	ClientID          string     `gorm:"not null;index:authorization_codes_client_id_idx"`
	Client            *Client    `gorm:"constraint:OnDelete:CASCADE"`
	Subject           string     `gorm:"not null;default:'';index:authorization_codes_subject_idx"`
	RequestedScopes   StringList `gorm:"type:text;not null"`
	GrantedScopes     StringList `gorm:"type:text;not null"`
	RequestedAudience StringList `gorm:"type:text;not null"`
	GrantedAudience   StringList `gorm:"type:text;not null"`
	Active            bool       `gorm:"not null;default:true"`
	ExpiresAt         time.Time  `gorm:"not null;index:authorization_codes_expires_at_idx"`
	Form              []byte     `gorm:"not null"`
	Session           []byte     `gorm:"not null"`
}

func (authorizationCodeModel) TableName() string { return authorizeCodeTable }

type accessTokenModel struct {
	Signature         string     `gorm:"primaryKey"`
	RequestID         string     `gorm:"not null;index:access_tokens_request_id_idx"`
	RequestedAt       time.Time  `gorm:"not null"`
	ClientID          string     `gorm:"not null;index:access_tokens_client_id_idx"`
	Client            *Client    `gorm:"constraint:OnDelete:CASCADE"`
	Subject           string     `gorm:"not null;default:'';index:access_tokens_subject_idx"`
	RequestedScopes   StringList `gorm:"type:text;not null"`
	GrantedScopes     StringList `gorm:"type:text;not null"`
	RequestedAudience StringList `gorm:"type:text;not null"`
	GrantedAudience   StringList `gorm:"type:text;not null"`
	Active            bool       `gorm:"not null;default:true"`
	ExpiresAt         time.Time  `gorm:"not null;index:access_tokens_expires_at_idx"`
	Form              []byte     `gorm:"not null"`
	Session           []byte     `gorm:"not null"`
}

func (accessTokenModel) TableName() string { return accessTokenTable }

type refreshTokenModel struct {
	Signature         string     `gorm:"primaryKey"`
	RequestID         string     `gorm:"not null;index:refresh_tokens_request_id_idx"`
	RequestedAt       time.Time  `gorm:"not null"`
	ClientID          string     `gorm:"not null;index:refresh_tokens_client_id_idx"`
	Client            *Client    `gorm:"constraint:OnDelete:CASCADE"`
	Subject           string     `gorm:"not null;default:'';index:refresh_tokens_subject_idx"`
	RequestedScopes   StringList `gorm:"type:text;not null"`
	GrantedScopes     StringList `gorm:"type:text;not null"`
	RequestedAudience StringList `gorm:"type:text;not null"`
	GrantedAudience   StringList `gorm:"type:text;not null"`
	Active            bool       `gorm:"not null;default:true"`
	ExpiresAt         time.Time  `gorm:"not null;index:refresh_tokens_expires_at_idx"`
	Form              []byte     `gorm:"not null"`
	Session           []byte     `gorm:"not null"`
	// AccessTokenSignature names the access token issued with this refresh token.
	AccessTokenSignature string `gorm:"not null;default:''"`
	// RotatedAt is when the token was first used; set means it was rotated.
	RotatedAt *time.Time `gorm:""`
}

func (refreshTokenModel) TableName() string { return refreshTokenTable }

type pkceRequestModel struct {
	Signature         string     `gorm:"primaryKey"`
	RequestID         string     `gorm:"not null;index:pkce_requests_request_id_idx"`
	RequestedAt       time.Time  `gorm:"not null"`
	ClientID          string     `gorm:"not null;index:pkce_requests_client_id_idx"`
	Client            *Client    `gorm:"constraint:OnDelete:CASCADE"`
	Subject           string     `gorm:"not null;default:'';index:pkce_requests_subject_idx"`
	RequestedScopes   StringList `gorm:"type:text;not null"`
	GrantedScopes     StringList `gorm:"type:text;not null"`
	RequestedAudience StringList `gorm:"type:text;not null"`
	GrantedAudience   StringList `gorm:"type:text;not null"`
	Active            bool       `gorm:"not null;default:true"`
	ExpiresAt         time.Time  `gorm:"not null;index:pkce_requests_expires_at_idx"`
	Form              []byte     `gorm:"not null"`
	Session           []byte     `gorm:"not null"`
}

func (pkceRequestModel) TableName() string { return pkceRequestTable }

// oidcRequestModel's Signature is the SHA-256 (hex) of the authorization code:
// fosite keys OIDC requests by the raw code, which must not be stored.
type oidcRequestModel struct {
	Signature         string     `gorm:"primaryKey"`
	RequestID         string     `gorm:"not null;index:oidc_requests_request_id_idx"`
	RequestedAt       time.Time  `gorm:"not null"`
	ClientID          string     `gorm:"not null;index:oidc_requests_client_id_idx"`
	Client            *Client    `gorm:"constraint:OnDelete:CASCADE"`
	Subject           string     `gorm:"not null;default:'';index:oidc_requests_subject_idx"`
	RequestedScopes   StringList `gorm:"type:text;not null"`
	GrantedScopes     StringList `gorm:"type:text;not null"`
	RequestedAudience StringList `gorm:"type:text;not null"`
	GrantedAudience   StringList `gorm:"type:text;not null"`
	Active            bool       `gorm:"not null;default:true"`
	ExpiresAt         time.Time  `gorm:"not null;index:oidc_requests_expires_at_idx"`
	Form              []byte     `gorm:"not null"`
	Session           []byte     `gorm:"not null"`
}

func (oidcRequestModel) TableName() string { return oidcRequestTable }

// parRequestModel's Signature is the SHA-256 (hex) of the request_uri.
type parRequestModel struct {
	Signature            string     `gorm:"primaryKey"`
	RequestID            string     `gorm:"not null;index:par_requests_request_id_idx"`
	RequestedAt          time.Time  `gorm:"not null"`
	ClientID             string     `gorm:"not null;index:par_requests_client_id_idx"`
	Client               *Client    `gorm:"constraint:OnDelete:CASCADE"`
	Subject              string     `gorm:"not null;default:'';index:par_requests_subject_idx"`
	RequestedScopes      StringList `gorm:"type:text;not null"`
	GrantedScopes        StringList `gorm:"type:text;not null"`
	RequestedAudience    StringList `gorm:"type:text;not null"`
	GrantedAudience      StringList `gorm:"type:text;not null"`
	Active               bool       `gorm:"not null;default:true"`
	ExpiresAt            time.Time  `gorm:"not null;index:par_requests_expires_at_idx"`
	Form                 []byte     `gorm:"not null"`
	Session              []byte     `gorm:"not null"`
	ResponseTypes        StringList `gorm:"type:text;not null"`
	HandledResponseTypes StringList `gorm:"type:text;not null"`
	RedirectURI          string     `gorm:"column:redirect_uri;not null;default:''"`
	State                string     `gorm:"not null;default:''"`
	ResponseMode         string     `gorm:"not null;default:''"`
	DefaultResponseMode  string     `gorm:"not null;default:''"`
}

func (parRequestModel) TableName() string { return parRequestTable }

// clientAssertionJTIModel remembers the jti of a private_key_jwt client assertion
// (as its SHA-256, hex) until the assertion expires, so it cannot be replayed.
type clientAssertionJTIModel struct {
	Signature string    `gorm:"primaryKey"`
	ExpiresAt time.Time `gorm:"not null;index:client_assertion_jtis_expires_at_idx"`
}

func (clientAssertionJTIModel) TableName() string { return jtiTable }
