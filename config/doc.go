// Package config owns Gatehouse's typed configuration: its defaults, loading from a
// YAML file, GATEHOUSE_* environment variables and flags (in that order, later wins),
// and validation that reports every problem at once. Only cmd/gatehouse calls Load;
// every other package receives plain values in its constructor.
package config
