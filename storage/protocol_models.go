package storage

// protocolModels lists the client and protocol-record models, in dependency order.
func protocolModels() []any {
	return []any{&Client{}}
}
