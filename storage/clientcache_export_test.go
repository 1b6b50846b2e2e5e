package storage

import "time"

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

// SetListenBackoffPassed makes s's listener startable at once, as if the last
// attempt was long ago.
func SetListenBackoffPassed(s *Store) {
	s.notes.start.Lock()
	s.notes.lastStart = time.Time{}
	s.notes.start.Unlock()
}

// ListenerRunning reports whether s's listener goroutine runs.
func ListenerRunning(s *Store) bool { return s.notes.running.Load() }
