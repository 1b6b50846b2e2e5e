package oauth

import "github.com/google/uuid"

// newRequestID is the ID of a new grant, stored with its codes and tokens
// (request_id): a UUIDv7, whose first 48 bits are the time in milliseconds, so
// that each new ID sorts after the ones before it and the request_id indexes
// of the token tables grow at their right edge instead of at a random leaf.
// (fosite's own default, a random UUIDv4, touched a random page of an index
// bigger than the database's cache on every token issued.)
func newRequestID() string {
	return uuid.Must(uuid.NewV7()).String()
}
