package storage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// UpstreamProvider is an upstream identity provider added at run time
// (through the admin API) rather than in the configuration file. The fields
// are internal/federation's ProviderConfig; this package only keeps them.
//
// The client secret is sealed at rest with the system secret, bound to the
// row's id: the store seals ClientSecret on create and update and opens it on
// read, so the column never holds it in the clear.
type UpstreamProvider struct {
	ID   string `gorm:"primaryKey"`
	Kind string `gorm:"not null"`
	Name string `gorm:"not null;default:''"`
	// Issuer, Tenant: the OpenID Connect issuer; Microsoft's tenant.
	Issuer   string `gorm:"not null;default:''"`
	Tenant   string `gorm:"not null;default:''"`
	ClientID string `gorm:"not null"`
	// ClientSecret is the secret in the clear; never stored as is.
	ClientSecret       string `gorm:"-"`
	ClientSecretSealed []byte `gorm:"not null"`
	// Scopes and AllowedDomains are JSON arrays of text.
	Scopes StringList `gorm:"type:text;not null"`
	// The claim mapping: empty means the standard claim.
	ClaimSubject       string     `gorm:"not null;default:''"`
	ClaimEmail         string     `gorm:"not null;default:''"`
	ClaimEmailVerified string     `gorm:"not null;default:''"`
	ClaimName          string     `gorm:"not null;default:''"`
	ClaimPicture       string     `gorm:"not null;default:''"`
	Style              string     `gorm:"not null;default:''"`
	LogoURL            string     `gorm:"not null;default:''"`
	AllowedDomains     StringList `gorm:"type:text;not null"`
	LinkOnly           bool       `gorm:"not null;default:false"`
	TrustMFA           bool       `gorm:"column:trust_mfa;not null;default:false"`
	StoreTokens        bool       `gorm:"not null;default:false"`
	// AuthURL, TokenURL and APIURL replace GitHub's endpoints.
	AuthURL  string `gorm:"not null;default:''"`
	TokenURL string `gorm:"not null;default:''"`
	APIURL   string `gorm:"column:api_url;not null;default:''"`
	// Position orders the providers' buttons after the configured ones: the
	// store gives a new provider the next one.
	Position  int64     `gorm:"not null;default:0"`
	CreatedAt time.Time `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`
}

// TableName names the table.
func (UpstreamProvider) TableName() string { return "upstream_providers" }

// providerModels lists the upstream-provider model.
func providerModels() []any { return []any{&UpstreamProvider{}} }

func providerSecretAAD(id string) []byte { return sealAAD("upstream_providers", id, "client_secret") }

// checkText refuses text PostgreSQL would not store, alike on both dialects.
func (p UpstreamProvider) checkText() error {
	for _, v := range []string{p.ID, p.Kind, p.Name, p.Issuer, p.Tenant, p.ClientID, p.ClientSecret, p.ClaimSubject, p.ClaimEmail,
		p.ClaimEmailVerified, p.ClaimName, p.ClaimPicture, p.Style, p.LogoURL, p.AuthURL, p.TokenURL, p.APIURL} {
		if !validKey(v) {
			return errors.New("text with a NUL byte or invalid UTF-8")
		}
	}
	for _, l := range []StringList{p.Scopes, p.AllowedDomains} {
		for _, v := range l {
			if !validKey(v) {
				return errors.New("text with a NUL byte or invalid UTF-8")
			}
		}
	}
	return nil
}

func (s *Store) openProvider(p *UpstreamProvider) error {
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	if s.sealer == nil {
		return ErrNoSecret
	}
	pt, err := s.sealer.Open(p.ClientSecretSealed, providerSecretAAD(p.ID))
	if err != nil {
		return err
	}
	p.ClientSecret = string(pt)
	return nil
}

// CreateUpstreamProvider stores p with its ClientSecret sealed, after every
// provider stored so far (Position), stamping the times. An id already stored
// gets ErrConflict and nothing is stored. It announces TopicProviders at
// commit, to this store's watchers and, on PostgreSQL, to every other
// instance.
func (s *Store) CreateUpstreamProvider(ctx context.Context, p UpstreamProvider) (UpstreamProvider, error) {
	if p.ID == "" || p.ClientSecret == "" {
		return UpstreamProvider{}, errors.New("create upstream provider: an id and a client secret are required")
	}
	if err := p.checkText(); err != nil {
		return UpstreamProvider{}, fmt.Errorf("create upstream provider: %w", err)
	}
	if s.sealer == nil {
		return UpstreamProvider{}, fmt.Errorf("create upstream provider: %w", ErrNoSecret)
	}
	p.ClientSecretSealed = s.sealer.Seal([]byte(p.ClientSecret), providerSecretAAD(p.ID))
	p.Scopes, p.AllowedDomains = nonNil(p.Scopes), nonNil(p.AllowedDomains)
	now := keyTime(time.Now())
	p.CreatedAt, p.UpdatedAt = now, now
	err := s.InTx(ctx, func(ctx context.Context) error {
		var last struct{ Max *int64 }
		if err := s.conn(ctx).Model(&UpstreamProvider{}).Select("max(position) AS max").Scan(&last).Error; err != nil {
			return err
		}
		p.Position = 1
		if last.Max != nil {
			p.Position = *last.Max + 1
		}
		if err := s.conn(ctx).Create(&p).Error; err != nil {
			return err
		}
		return s.announceProviders(ctx)
	})
	if err != nil {
		return UpstreamProvider{}, fmt.Errorf("create upstream provider %s: %w", p.ID, translate(err))
	}
	return p, nil
}

// UpdateUpstreamProvider replaces every field of the stored provider p.ID
// but its position and creation time; an empty ClientSecret keeps the stored
// one. ErrNotFound when there is no such provider. It announces
// TopicProviders like CreateUpstreamProvider.
func (s *Store) UpdateUpstreamProvider(ctx context.Context, p UpstreamProvider) (UpstreamProvider, error) {
	if err := p.checkText(); err != nil {
		return UpstreamProvider{}, fmt.Errorf("update upstream provider: %w", err)
	}
	if s.sealer == nil {
		return UpstreamProvider{}, fmt.Errorf("update upstream provider: %w", ErrNoSecret)
	}
	var out UpstreamProvider
	err := s.InTx(ctx, func(ctx context.Context) error {
		var old UpstreamProvider
		if err := s.conn(ctx).Where("id = ?", p.ID).Take(&old).Error; err != nil {
			return err
		}
		if p.ClientSecret == "" {
			if err := s.openProvider(&old); err != nil {
				return err
			}
			p.ClientSecret = old.ClientSecret
		}
		p.ClientSecretSealed = s.sealer.Seal([]byte(p.ClientSecret), providerSecretAAD(p.ID))
		p.Scopes, p.AllowedDomains = nonNil(p.Scopes), nonNil(p.AllowedDomains)
		p.Position, p.CreatedAt, p.UpdatedAt = old.Position, old.CreatedAt.UTC(), keyTime(time.Now())
		// Select("*") writes the zero values too (false, "").
		if err := s.conn(ctx).Model(&UpstreamProvider{}).Where("id = ?", p.ID).Select("*").Omit("id", "position", "created_at").Updates(&p).Error; err != nil {
			return err
		}
		out = p
		return s.announceProviders(ctx)
	})
	if err != nil {
		return UpstreamProvider{}, fmt.Errorf("update upstream provider %s: %w", p.ID, translate(err))
	}
	return out, nil
}

// DeleteUpstreamProvider removes the stored provider id. The external
// identities made through it stay: a provider added again under the same id
// signs them in again. ErrNotFound when there is no such provider. It
// announces TopicProviders like CreateUpstreamProvider.
func (s *Store) DeleteUpstreamProvider(ctx context.Context, id string) error {
	if !validKey(id) {
		return fmt.Errorf("delete upstream provider: %w", ErrNotFound)
	}
	err := s.InTx(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Where("id = ?", id).Delete(&UpstreamProvider{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return s.announceProviders(ctx)
	})
	if err != nil {
		return fmt.Errorf("delete upstream provider %s: %w", id, translate(err))
	}
	return nil
}

// GetUpstreamProvider returns the stored provider id with its secret opened.
// ErrNotFound when there is none; ErrUnsealable when no system secret opens
// the secret.
func (s *Store) GetUpstreamProvider(ctx context.Context, id string) (UpstreamProvider, error) {
	if !validKey(id) {
		return UpstreamProvider{}, fmt.Errorf("get upstream provider: %w", ErrNotFound)
	}
	var p UpstreamProvider
	err := s.read(ctx, func(ctx context.Context) error {
		p = UpstreamProvider{}
		return s.conn(ctx).Where("id = ?", id).Take(&p).Error
	})
	if err != nil {
		return UpstreamProvider{}, fmt.Errorf("get upstream provider: %w", translate(err))
	}
	if err := s.openProvider(&p); err != nil {
		return UpstreamProvider{}, fmt.Errorf("get upstream provider %s: %w", id, err)
	}
	return p, nil
}

// ListUpstreamProviders returns every stored provider in Position order, each
// secret opened.
func (s *Store) ListUpstreamProviders(ctx context.Context) ([]UpstreamProvider, error) {
	var list []UpstreamProvider
	err := s.read(ctx, func(ctx context.Context) error {
		list = nil
		return s.conn(ctx).Order("position, id").Find(&list).Error
	})
	if err != nil {
		return nil, fmt.Errorf("list upstream providers: %w", translate(err))
	}
	for i := range list {
		if err := s.openProvider(&list[i]); err != nil {
			return nil, fmt.Errorf("list upstream providers: %s: %w", list[i].ID, err)
		}
	}
	return list, nil
}

// announceProviders announces TopicProviders within the transaction ctx
// carries: to other processes with pg_notify (delivered at commit), to this
// store's watchers after the commit.
func (s *Store) announceProviders(ctx context.Context) error {
	if s.dialect == Postgres {
		notify, args := s.notifySQL(TopicProviders)
		if err := s.conn(ctx).Exec(notify, args...).Error; err != nil {
			return err
		}
	}
	s.announced(ctx, TopicProviders)
	return nil
}

func nonNil(l StringList) StringList {
	if l == nil {
		return StringList{}
	}
	return l
}
