package storagetest

// foundationCases covers users, browser sessions, accounts, transactions and times.
func foundationCases() []Case {
	return []Case{}
}
