package storage

import (
	"time"

	"gorm.io/gorm"
)

// ModelTables returns the table of every GORM model, for the schema test in
// package storage_test.
func ModelTables(s *Store) ([]string, error) {
	var tables []string
	for _, m := range models() {
		stmt := &gorm.Statement{DB: s.db}
		if err := stmt.Parse(m); err != nil {
			return nil, err
		}
		tables = append(tables, stmt.Schema.Table)
	}
	return tables, nil
}

// RetryUntil is retryUntil, for TestWaitReadySpendsItsBudget.
var RetryUntil = retryUntil

// SetClock replaces the clock readiness reads its memory with.
func SetClock(s *Store, now func() time.Time) { s.now = now }
