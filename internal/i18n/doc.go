// Package i18n holds Gatehouse's message catalogues and chooses the language a
// request is answered in. It serves no routes.
//
// # Catalogues
//
// Every sentence the pages and the e-mails show is a message with a key, such as
// "signin.title" or "password.too_short", in one file per language: the built-in
// ones (locales/en.json, de.json, es.json, fr.json, pt-BR.json) are embedded, and
// English is the source of every key. Load reads them first and then the
// operator's directory, so that an operator's file overrides single messages key
// by key (de.json with one key changes that sentence only) and a file for a new
// language (it.json) adds that language; a key it lacks is shown in English.
// Messages are github.com/nicksnyder/go-i18n/v2 messages: a string, or an object
// with the CLDR plural forms ("one", "few", "many", "other", …) and an optional
// "description" for translators. Arguments are text/template fields such as
// {{.Count}} or {{.Name}}; the argument named Count also chooses the plural form.
//
// Messages are plain text: the pages escape what they show, so a message (or an
// argument) with HTML in it shows the HTML as text. A sentence with a link in
// it is split into the text and the link's text. A sentence with one marked-up
// argument (a name in bold) stays one message: Localizer.Parts splits it
// around that argument, and the template puts the markup between the parts
// ({{with .Parts "signin.continue_to" "App"}}{{.Before}}<strong>…</strong>{{.After}}{{end}}),
// so that each language keeps its own word order.
//
// Keys are named <page or concern>.<what>, in lower case with underscores:
// "signin.title", "common.continue", "password.too_short", "scope.email".
//
// # Choosing the language
//
// Catalogue.Match follows OpenID Connect: the ui_locales of the authorization
// request (OpenID Connect Core §3.1.2.1) first, then the signed-in user's saved
// locale (the locale claim), then the browser's Accept-Language (RFC 9110
// §12.5.4), then English; at each step only a supported language counts, matched
// with golang.org/x/text/language (so pt and pt-PT read pt-BR, de-AT reads de).
//
// # In pages and services
//
// A Localizer translates into one language: T returns a message or an error
// (templates call it, so a mistake stops the page instead of showing a blank),
// Text never fails (Go code), and Error translates an error that carries a
// message (Translatable, as internal/identity's refusals do). WithLocalizer
// puts a request's localizer in its context, chosen on first use, and
// FromContext gives it to a service, so that an e-mail speaks the language of
// the page that sent it.
//
// # Why go-i18n
//
// go-i18n reads message files an operator can write without compiling anything,
// applies CLDR plural rules, and falls back per key; x/text/message needs its
// catalogues generated as Go code, which an operator cannot add to a binary.
package i18n
