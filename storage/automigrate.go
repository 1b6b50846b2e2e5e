package storage

import (
	"context"
	"fmt"
)

// AutoMigrate lets GORM create or alter tables from the models. It is for
// development only; the versioned SQL in migrations/ is the source of truth, and a
// test proves the two describe the same schema.
func (s *Store) AutoMigrate(ctx context.Context) error {
	if err := s.db.WithContext(ctx).AutoMigrate(models()...); err != nil {
		return fmt.Errorf("automigrate: %w", err)
	}
	return nil
}
