package storage

// ClientCached reports whether s's client cache holds an unexpired entry for id,
// for the tests in package storage_test.
func ClientCached(s *Store, id string) bool {
	_, ok := s.clients.get(id)
	return ok
}

// ClientCacheSynced reports whether s's client cache may hold entries: its
// listener is connected, or it has none.
func ClientCacheSynced(s *Store) bool {
	if s.clients == nil {
		return false
	}
	s.clients.mu.RLock()
	defer s.clients.mu.RUnlock()
	return s.clients.synced
}
