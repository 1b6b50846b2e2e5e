package storage

import (
	"strings"
	"unicode/utf8"
)

// validKey reports whether s can be the key of a stored record: valid UTF-8
// without NUL bytes. PostgreSQL refuses anything else in a text parameter with
// SQLSTATE 22021, which would turn a client's garbage into a server error; and
// no record has such a key, so a look-up by one answers ErrNotFound without
// asking the database.
func validKey(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// cleanText makes text a client sent for our records only (a User-Agent)
// storable: invalid UTF-8 becomes U+FFFD and NUL bytes are dropped.
func cleanText(s string) string {
	if validKey(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}
