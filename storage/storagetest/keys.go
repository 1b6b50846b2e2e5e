package storagetest

// keyCases covers signing keys.
func keyCases() []Case {
	return []Case{}
}
