// Package templates holds the HTML pages and their stylesheet, embedded in the
// binary. internal/web parses them once at start-up; an operator may point
// Gatehouse at a copy of this directory to brand the pages.
package templates

import "embed"

// FS holds every page (*.html) and the static files (static/*).
//
//go:embed *.html static/*
var FS embed.FS
