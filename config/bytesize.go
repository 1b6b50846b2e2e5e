package config

import (
	"fmt"
	"strconv"
	"strings"
)

// ByteSize is an amount of memory in bytes. It reads and prints the way the Go
// runtime's GOMEMLIMIT does: a whole number with an optional unit B, KiB, MiB,
// GiB or TiB (powers of 1024), such as 48MiB.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	size   int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// UnmarshalText reads a size such as 48MiB, 1GiB or 50331648.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	num, mult := s, int64(1)
	for _, u := range byteUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.size
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 || n > (1<<63-1)/mult {
		return fmt.Errorf("want a size such as 48MiB or 1GiB (units B, KiB, MiB, GiB, TiB), got %q", s)
	}
	*b = ByteSize(n * mult)
	return nil
}

// MarshalText prints b in the largest unit that divides it, such as 48MiB.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// String is MarshalText as a string; 0 prints as 0.
func (b ByteSize) String() string {
	for _, u := range byteUnits {
		if b != 0 && int64(b)%u.size == 0 { // B divides any other value
			return strconv.FormatInt(int64(b)/u.size, 10) + u.suffix
		}
	}
	return "0"
}
