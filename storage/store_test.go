package storage_test

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func TestSQLite(t *testing.T)   { storagetest.Run(t, storagetest.OpenSQLite) }
func TestPostgres(t *testing.T) { storagetest.Run(t, storagetest.OpenPostgres) }
