package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Branding is what an operator set at run time (through the admin API) to make
// the pages and mail their own. A nil field is not set: the configured value
// applies. There is one Branding per database.
type Branding struct {
	// ID is always brandingID: the table holds one row at most.
	ID           int     `gorm:"primaryKey;autoIncrement:false;check:branding_one_row,id = 1"`
	ProductName  *string `gorm:"column:product_name"`
	LogoURL      *string `gorm:"column:logo_url"`
	FaviconURL   *string `gorm:"column:favicon_url"`
	PrimaryColor *string `gorm:"column:primary_color"`
	SupportURL   *string `gorm:"column:support_url"`
	// UpdatedAt is when the row was last written; zero when it never was.
	UpdatedAt time.Time `gorm:"not null"`
}

// TableName names the one-row table.
func (Branding) TableName() string { return "branding" }

const brandingID = 1

// brandingModels lists the branding model.
func brandingModels() []any { return []any{&Branding{}} }

// GetBranding returns the branding set at run time: a Branding with every field
// nil (and UpdatedAt zero) when none was ever set.
func (s *Store) GetBranding(ctx context.Context) (Branding, error) {
	var b Branding
	err := s.read(ctx, func(ctx context.Context) error {
		b = Branding{}
		return s.conn(ctx).Where("id = ?", brandingID).Take(&b).Error
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Branding{}, nil
	}
	if err != nil {
		return Branding{}, fmt.Errorf("get branding: %w", translate(err))
	}
	b.UpdatedAt = b.UpdatedAt.UTC()
	return b, nil
}

// PutBranding replaces the branding set at run time with b (every field, nil
// ones included, so nil clears a setting) and stamps it with now. It announces
// TopicBranding at commit, to this store's watchers and, on PostgreSQL, to every
// other instance.
func (s *Store) PutBranding(ctx context.Context, b Branding, now time.Time) (Branding, error) {
	b.ID = brandingID
	b.UpdatedAt = keyTime(now)
	for _, v := range []*string{b.ProductName, b.LogoURL, b.FaviconURL, b.PrimaryColor, b.SupportURL} {
		if v != nil && !validKey(*v) {
			return Branding{}, errors.New("put branding: text with a NUL byte or invalid UTF-8")
		}
	}
	err := s.InTx(ctx, func(ctx context.Context) error {
		err := s.conn(ctx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "id"}},
			DoUpdates: clause.AssignmentColumns([]string{"product_name", "logo_url", "favicon_url", "primary_color", "support_url", "updated_at"}),
		}).Create(&b).Error
		if err != nil {
			return err
		}
		if s.dialect == Postgres {
			// Delivered at commit: every listening instance reloads its branding.
			notify, args := s.notifySQL(TopicBranding)
			if err := s.conn(ctx).Exec(notify, args...).Error; err != nil {
				return err
			}
		}
		s.announced(ctx, TopicBranding)
		return nil
	})
	if err != nil {
		return Branding{}, fmt.Errorf("put branding: %w", translate(err))
	}
	return b, nil
}
