package config_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/config"
)

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    config.ByteSize
		printed string
	}{
		{"0", 0, "0"},
		{"80MiB", 80 << 20, "80MiB"},
		{"1GiB", 1 << 30, "1GiB"},
		{"1536MiB", 1536 << 20, "1536MiB"},
		{"2TiB", 2 << 40, "2TiB"},
		{"512KiB", 512 << 10, "512KiB"},
		{"100B", 100, "100B"},
		{"50331648", 48 << 20, "48MiB"},
		{" 64 MiB ", 64 << 20, "64MiB"},
	} {
		var got config.ByteSize
		if err := got.UnmarshalText([]byte(tc.in)); err != nil || got != tc.want {
			t.Errorf("UnmarshalText(%q) = %d, %v; want %d, nil", tc.in, got, err, tc.want)
		}
		if s := got.String(); s != tc.printed {
			t.Errorf("ByteSize(%d).String() = %q, want %q", got, s, tc.printed)
		}
	}
	for _, in := range []string{"", "MiB", "48MB", "48mib", "-1MiB", "1.5GiB", "lots", "9999999TiB"} {
		var got config.ByteSize
		if err := got.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("UnmarshalText(%q) = %d, nil; want an error", in, got)
		}
	}
}

func TestPasswordsAndMemoryKeys(t *testing.T) {
	d := config.Default()
	if d.Passwords.MaxConcurrentHashes != 2 || d.MemoryLimit != 80<<20 {
		t.Errorf("Default() passwords.max_concurrent_hashes, memory_limit = %d, %s; want 2, 80MiB",
			d.Passwords.MaxConcurrentHashes, d.MemoryLimit)
	}

	c, err := config.Load("", envFrom(map[string]string{
		"GATEHOUSE_PASSWORDS_MAX_CONCURRENT_HASHES": "3",
		"GATEHOUSE_MEMORY_LIMIT":                    "1GiB",
	}), nil)
	if err != nil || c.Passwords.MaxConcurrentHashes != 3 || c.MemoryLimit != 1<<30 {
		t.Errorf("Load from env = %d, %s, %v; want 3, 1GiB, nil", c.Passwords.MaxConcurrentHashes, c.MemoryLimit, err)
	}
	c, err = config.Load(writeFile(t, "gatehouse.yaml", "memory_limit: 0\npasswords:\n  max_concurrent_hashes: 1\n"), envFrom(nil), nil)
	if err != nil || c.Passwords.MaxConcurrentHashes != 1 || c.MemoryLimit != 0 {
		t.Errorf("Load from file = %d, %s, %v; want 1, 0, nil", c.Passwords.MaxConcurrentHashes, c.MemoryLimit, err)
	}
	for _, tc := range []struct {
		name, env, value, wantKey string
	}{
		{"memory_limit not a size", "GATEHOUSE_MEMORY_LIMIT", "lots", "memory_limit"},
		{"memory_limit in MB", "GATEHOUSE_MEMORY_LIMIT", "80MB", "memory_limit"},
		{"max_concurrent_hashes not a number", "GATEHOUSE_PASSWORDS_MAX_CONCURRENT_HASHES", "two", "max_concurrent_hashes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load("", envFrom(map[string]string{tc.env: tc.value}), nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantKey) {
				t.Errorf("Load(%s=%q) = %v, want an error naming %s", tc.env, tc.value, err, tc.wantKey)
			}
		})
	}
}

func TestValidatePasswordsAndMemory(t *testing.T) {
	for _, tc := range []struct {
		name        string
		hashes      int
		memoryLimit config.ByteSize
		wantKey     string // "" means valid
	}{
		{"defaults", 2, 80 << 20, ""},
		{"memory limit off", 2, 0, ""},
		{"one hash", 1, 0, ""},
		{"one hash, lowest limit", 1, 43 << 20, ""},
		{"two hashes, lowest limit", 2, 62 << 20, ""},
		{"no hashes", 0, 0, "passwords.max_concurrent_hashes"},
		{"negative hashes", -1, 0, "passwords.max_concurrent_hashes"},
		{"limit under two hashes", 2, 48 << 20, "memory_limit"},
		{"limit under one hash", 1, 42 << 20, "memory_limit"},
		{"more hashes than the default limit holds", 3, 80 << 20, "memory_limit"},
		{"negative limit", 2, -1, "memory_limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			c.Passwords.MaxConcurrentHashes, c.MemoryLimit = tc.hashes, tc.memoryLimit
			wantValidation(t, c, tc.wantKey)
		})
	}
}
