package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"gorm.io/gorm/clause"
)

// ListClientsOptions pages ListClients.
type ListClientsOptions struct {
	// After is the id of the last client of the previous page.
	After string
	// Limit is the page size; zero means 100.
	Limit int
}

// CreateClient stores c, setting its timestamps. It returns ErrConflict when the id
// is taken.
func (s *Store) CreateClient(ctx context.Context, c Client) (Client, error) {
	if c.ID == "" {
		return Client{}, errors.New("create client: id is required")
	}
	if _, err := parseJWKS(c.JWKS); err != nil {
		return Client{}, fmt.Errorf("create client %s: %w", c.ID, err)
	}
	defaultAuthMethod(&c)
	now := time.Now().UTC()
	c.CreatedAt, c.UpdatedAt = now, now
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.conn(ctx).Create(&c).Error; err != nil {
			return err
		}
		return s.indexCORSOrigins(ctx, c)
	})
	s.clientChanged(ctx, c.ID, err)
	if err != nil {
		return Client{}, fmt.Errorf("create client %s: %w", c.ID, translate(err))
	}
	return c, nil
}

// GetClientRecord returns the client with id, or ErrNotFound.
func (s *Store) GetClientRecord(ctx context.Context, id string) (Client, error) {
	if !validKey(id) {
		return Client{}, fmt.Errorf("get client %q: %w", id, ErrNotFound)
	}
	var c Client
	err := s.read(ctx, func(ctx context.Context) error { return s.conn(ctx).Where("id = ?", id).Take(&c).Error })
	if err != nil {
		return Client{}, fmt.Errorf("get client %s: %w", id, translate(err))
	}
	return c, nil
}

// ListClients returns clients ordered by id.
func (s *Store) ListClients(ctx context.Context, o ListClientsOptions) ([]Client, error) {
	if o.Limit <= 0 || o.Limit > 1000 {
		o.Limit = 100
	}
	var out []Client
	err := s.read(ctx, func(ctx context.Context) error {
		out = out[:0]
		q := s.conn(ctx).Order("id").Limit(o.Limit)
		if !validKey(o.After) {
			return nil // no id sorts after it: none is stored
		}
		if o.After != "" {
			q = q.Where("id > ?", o.After)
		}
		return q.Find(&out).Error
	})
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", translate(err))
	}
	return out, nil
}

// UpdateClient saves every field of c but its id and creation time, and bumps
// UpdatedAt. It returns ErrNotFound when no client has c.ID.
func (s *Store) UpdateClient(ctx context.Context, c Client) (Client, error) {
	if !validKey(c.ID) {
		return Client{}, fmt.Errorf("update client %q: %w", c.ID, ErrNotFound)
	}
	if _, err := parseJWKS(c.JWKS); err != nil {
		return Client{}, fmt.Errorf("update client %s: %w", c.ID, err)
	}
	defaultAuthMethod(&c)
	c.UpdatedAt = time.Now().UTC()
	var rows int64
	err := s.InTx(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Model(&Client{}).Where("id = ?", c.ID).Select("*").Omit("id", "created_at").Updates(&c)
		rows = res.RowsAffected
		if res.Error != nil || rows == 0 {
			return res.Error
		}
		return s.indexCORSOrigins(ctx, c)
	})
	s.clientChanged(ctx, c.ID, err)
	if err != nil {
		return Client{}, fmt.Errorf("update client %s: %w", c.ID, translate(err))
	}
	if rows == 0 {
		return Client{}, fmt.Errorf("update client %s: %w", c.ID, ErrNotFound)
	}
	return s.GetClientRecord(ctx, c.ID)
}

// DeleteClient removes the client with id together with every code, token and
// pending request issued to it, in one transaction.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if !validKey(id) {
		return fmt.Errorf("delete client %q: %w", id, ErrNotFound)
	}
	defer s.clients.evict(id)
	var rows int64
	err := s.InTx(ctx, func(ctx context.Context) error {
		// The foreign keys cascade too; deleting explicitly keeps the promise
		// even where a connection runs with foreign keys off.
		for _, table := range []string{authorizeCodeTable, accessTokenTable, refreshTokenTable, pkceRequestTable, oidcRequestTable, parRequestTable, clientCORSOriginTable} {
			if err := s.conn(ctx).Exec("DELETE FROM "+table+" WHERE client_id = ?", id).Error; err != nil {
				return err
			}
		}
		res := s.conn(ctx).Where("id = ?", id).Delete(&Client{})
		rows = res.RowsAffected
		if res.Error != nil {
			return res.Error
		}
		return s.notifyClientChanged(ctx, id)
	})
	if err != nil {
		return fmt.Errorf("delete client %s: %w", id, translate(err))
	}
	if rows == 0 {
		return fmt.Errorf("delete client %s: %w", id, ErrNotFound)
	}
	return nil
}

// GetClient implements fosite.ClientManager: it returns a *FositeClient, or an
// error wrapping fosite.ErrNotFound. With Options.ClientCacheTTL it answers from
// the client cache when it can; an unknown id is never cached.
func (s *Store) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	if fc, ok := s.clients.get(id); ok {
		return fc, nil
	}
	// A read inside a transaction sees what is committed, as one outside does:
	// no caller writes a client in a transaction that then looks it up.
	gen, cacheable := s.clients.begin()
	fc, err := s.loadClient(ctx, id)
	if err != nil {
		return nil, err
	}
	if cacheable {
		s.clients.put(id, fc, gen)
	}
	return fc, nil
}

// CachedClientRecord returns the client with id as GetClient sees it, from the
// client cache when it can, or ErrNotFound. It is for request paths (authorize,
// consent); the returned slices are shared and must not be modified. Reads that
// must see the latest write (the admin API) use GetClientRecord.
func (s *Store) CachedClientRecord(ctx context.Context, id string) (Client, error) {
	fc, err := s.GetClient(ctx, id)
	if errors.Is(err, fosite.ErrNotFound) {
		return Client{}, fmt.Errorf("get client %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Client{}, err
	}
	return fc.(*FositeClient).record, nil
}

// loadClient reads the client with id from the database.
func (s *Store) loadClient(ctx context.Context, id string) (*FositeClient, error) {
	c, err := s.GetClientRecord(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("get client %s: %w", id, fosite.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	jwks, err := parseJWKS(c.JWKS)
	if err != nil {
		return nil, fmt.Errorf("get client %s: %w", id, err)
	}
	return &FositeClient{record: c, jwks: jwks}, nil
}

// clientChanged follows a write to the client with id, whatever its outcome
// (writeErr; a write that failed may still have committed): it evicts the id
// here and announces it to every other instance. Inside a caller's transaction
// the announcement goes out at its commit; the local eviction happens now, so
// until then a lookup here may cache the old row again (the TTL bounds it).
func (s *Store) clientChanged(ctx context.Context, id string, writeErr error) {
	s.clients.evict(id)
	// The write is done: a caller that gave up meanwhile must not keep the
	// others from hearing of it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.notifyClientChanged(ctx, id); err != nil {
		// Other instances see the change within their client cache TTL. When
		// the write itself failed for the same outage, the caller reports that
		// on the request's one log line; a warning here would only repeat it.
		level := slog.LevelWarn
		if writeErr != nil && IsUnavailable(err) {
			level = slog.LevelDebug
		}
		s.log.Log(ctx, level, "announce client change", "client_id", id, "error", err.Error())
	}
}

// notifyClientChanged announces on PostgreSQL that the client with id changed;
// every Store listening evicts it. pg_notify is an ordinary function call, so it
// passes through a transaction-mode pooler, and in a transaction it is delivered
// at commit (and never after a rollback).
func (s *Store) notifyClientChanged(ctx context.Context, id string) error {
	if s.dialect != Postgres {
		return nil
	}
	return s.withRetry(ctx, true, func(ctx context.Context) error {
		return s.conn(ctx).Exec("SELECT pg_notify(?, ?)", clientsChannel, id).Error
	})
}

// ClientAssertionJWTValid implements fosite.ClientManager: it returns
// fosite.ErrJTIKnown while an unexpired assertion with this jti is remembered.
func (s *Store) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	var n int64
	err := s.read(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Table(jtiTable).Where("signature = ? AND expires_at > ?", jtiKey(jti), time.Now().UTC()).Count(&n).Error
	})
	if err != nil {
		return fmt.Errorf("check client assertion jti: %w", translate(err))
	}
	if n > 0 {
		return fosite.ErrJTIKnown
	}
	return nil
}

// SetClientAssertionJWT implements fosite.ClientManager: it remembers jti until exp.
// A jti still remembered gives fosite.ErrJTIKnown; an expired one is replaced.
func (s *Store) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	key, now := jtiKey(jti), time.Now().UTC()
	var inserted int64
	err := s.InTx(ctx, func(ctx context.Context) error {
		// Only an expired row can be replaced; a live one makes the insert below
		// do nothing, which is what refuses the replay. ON CONFLICT keeps a
		// PostgreSQL transaction usable after the collision.
		if err := s.conn(ctx).Exec("DELETE FROM "+jtiTable+" WHERE signature = ? AND expires_at <= ?", key, now).Error; err != nil {
			return err
		}
		res := s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).
			Create(&clientAssertionJTIModel{Signature: key, ExpiresAt: exp.UTC()})
		inserted = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("remember client assertion jti: %w", translate(err))
	}
	if inserted == 0 {
		return fosite.ErrJTIKnown
	}
	return nil
}

// defaultAuthMethod fills in the token endpoint auth method RFC 7591 §2 implies:
// "none" for a public client, client_secret_basic otherwise.
func defaultAuthMethod(c *Client) {
	if c.TokenEndpointAuthMethod != "" {
		return
	}
	c.TokenEndpointAuthMethod = "client_secret_basic"
	if c.Public {
		c.TokenEndpointAuthMethod = "none"
	}
}

// jtiKey bounds the key length: a jti is chosen by the client and may be long.
func jtiKey(jti string) string {
	sum := sha256.Sum256([]byte(jti))
	return hex.EncodeToString(sum[:])
}

// parseJWKS parses an inline JSON Web Key Set; "" gives nil.
func parseJWKS(raw string) (*jose.JSONWebKeySet, error) {
	if raw == "" {
		return nil, nil
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(raw), &set); err != nil {
		return nil, fmt.Errorf("parse jwks: %w", err)
	}
	return &set, nil
}

// FositeClient is a Client as fosite sees it. It implements fosite.Client,
// fosite.OpenIDConnectClient, fosite.ResponseModeClient and
// fosite.ClientWithCustomTokenLifespans; Record returns the stored record for
// what fosite has no word for. The client cache shares one FositeClient between
// requests: treat it, and the slices its methods and Record return, as read-only.
type FositeClient struct {
	record Client
	jwks   *jose.JSONWebKeySet
}

var (
	_ fosite.Client                         = (*FositeClient)(nil)
	_ fosite.OpenIDConnectClient            = (*FositeClient)(nil)
	_ fosite.ResponseModeClient             = (*FositeClient)(nil)
	_ fosite.ClientWithCustomTokenLifespans = (*FositeClient)(nil)
)

// Record returns the stored client.
func (c *FositeClient) Record() Client { return c.record }

// GetID returns the client id.
func (c *FositeClient) GetID() string { return c.record.ID }

// GetHashedSecret returns the stored secret hash, for fosite's ClientSecretsHasher.
func (c *FositeClient) GetHashedSecret() []byte { return []byte(c.record.SecretHash) }

// GetRedirectURIs returns the registered redirect URIs.
func (c *FositeClient) GetRedirectURIs() []string { return c.record.RedirectURIs }

// GetGrantTypes returns the allowed grant types; none registered means
// authorization_code (OpenID Connect Dynamic Client Registration §2).
func (c *FositeClient) GetGrantTypes() fosite.Arguments {
	if len(c.record.GrantTypes) == 0 {
		return fosite.Arguments{"authorization_code"}
	}
	return fosite.Arguments(c.record.GrantTypes)
}

// GetResponseTypes returns the allowed response types; none registered means code
// (OpenID Connect Dynamic Client Registration §2).
func (c *FositeClient) GetResponseTypes() fosite.Arguments {
	if len(c.record.ResponseTypes) == 0 {
		return fosite.Arguments{"code"}
	}
	return fosite.Arguments(c.record.ResponseTypes)
}

// GetScopes returns the scopes the client may request.
func (c *FositeClient) GetScopes() fosite.Arguments { return fosite.Arguments(c.record.Scopes) }

// IsPublic reports whether the client has no secret.
func (c *FositeClient) IsPublic() bool { return c.record.Public }

// GetAudience returns the audiences the client may request.
func (c *FositeClient) GetAudience() fosite.Arguments { return fosite.Arguments(c.record.Audience) }

// GetRequestURIs returns nil: request_uri registration is not supported.
func (c *FositeClient) GetRequestURIs() []string { return nil }

// GetJSONWebKeys returns the client's inline key set, or nil.
func (c *FositeClient) GetJSONWebKeys() *jose.JSONWebKeySet { return c.jwks }

// GetJSONWebKeysURI returns the client's jwks_uri, or "".
func (c *FositeClient) GetJSONWebKeysURI() string { return c.record.JWKSURI }

// GetRequestObjectSigningAlgorithm returns "": request objects may use any
// algorithm fosite accepts.
func (c *FositeClient) GetRequestObjectSigningAlgorithm() string { return "" }

// GetTokenEndpointAuthMethod returns the registered method; unset means "none"
// for a public client and client_secret_basic otherwise (RFC 7591 §2).
func (c *FositeClient) GetTokenEndpointAuthMethod() string {
	switch {
	case c.record.TokenEndpointAuthMethod != "":
		return c.record.TokenEndpointAuthMethod
	case c.record.Public:
		return "none"
	}
	return "client_secret_basic"
}

// GetTokenEndpointAuthSigningAlgorithm returns the alg private_key_jwt assertions
// must use; unset means RS256, as fosite's default client says.
func (c *FositeClient) GetTokenEndpointAuthSigningAlgorithm() string {
	if c.record.TokenEndpointAuthSigningAlg == "" {
		return "RS256"
	}
	return c.record.TokenEndpointAuthSigningAlg
}

// GetResponseModes returns the allowed response modes; none registered means
// query, fragment and form_post (fosite still checks each against the response
// type).
func (c *FositeClient) GetResponseModes() []fosite.ResponseModeType {
	if len(c.record.ResponseModes) == 0 {
		return []fosite.ResponseModeType{fosite.ResponseModeQuery, fosite.ResponseModeFragment, fosite.ResponseModeFormPost}
	}
	out := make([]fosite.ResponseModeType, len(c.record.ResponseModes))
	for i, m := range c.record.ResponseModes {
		out[i] = fosite.ResponseModeType(m)
	}
	return out
}

// GetTokenLifespan returns the client's lifespan override for a token type, or 0
// when it has none. The overrides are per token type and apply to every grant.
func (c *FositeClient) GetTokenLifespan(gt fosite.GrantType, tt fosite.TokenType) time.Duration {
	switch tt {
	case fosite.AccessToken:
		return time.Duration(c.record.AccessTokenLifespan)
	case fosite.RefreshToken:
		return time.Duration(c.record.RefreshTokenLifespan)
	case fosite.IDToken:
		return time.Duration(c.record.IDTokenLifespan)
	case fosite.AuthorizeCode:
		return time.Duration(c.record.AuthorizationCodeLifespan)
	}
	return 0
}

// GetEffectiveLifespan implements fosite.ClientWithCustomTokenLifespans: the
// client's override when it has one, else fallback.
func (c *FositeClient) GetEffectiveLifespan(gt fosite.GrantType, tt fosite.TokenType, fallback time.Duration) time.Duration {
	if l := c.GetTokenLifespan(gt, tt); l != 0 {
		return l
	}
	return fallback
}
