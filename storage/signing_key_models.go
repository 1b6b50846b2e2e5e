package storage

// keyModels lists the signing-key models.
func keyModels() []any {
	return []any{}
}
