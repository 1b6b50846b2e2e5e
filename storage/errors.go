package storage

import (
	"errors"

	"gorm.io/gorm"
)

var (
	// ErrNotFound means the record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a record with the same unique key already exists.
	ErrConflict = errors.New("already exists")
)

// translate maps GORM's errors onto the package's sentinels at the package edge.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return ErrNotFound
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return ErrConflict
	}
	return err
}
