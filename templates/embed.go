// Package templates holds the HTML pages, their stylesheet and the e-mail
// bodies, embedded in the binary. internal/web parses the pages and
// internal/identity the mail once at start-up. An operator brands them with
// the branding settings, and may replace single files from a directory
// (templates_dir): Overlay puts that directory in front of the built-in files.
package templates

import "embed"

// FS holds every page (*.html), the static files (static/*) and the e-mail
// templates (mail/*: a .txt with the subject and the plain-text body and a
// .html with the HTML body of each mail, and the layouts both wrap in).
//
//go:embed *.html static/* mail/*
var FS embed.FS
