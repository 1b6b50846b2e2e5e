// Package branding owns how Gatehouse looks as an operator's product: the
// product name, logo, favicon, primary colour and support link that every page
// and every e-mail shows. The configuration (branding.* keys) gives the
// defaults; what the admin API sets, stored in the database, wins field by
// field. Service.Current is what the pages and mail use: it is kept in memory
// and reloaded when any instance changes the branding (storage.TopicBranding),
// or, where no change can be heard, after a TTL.
//
// It also owns the colour rules: a primary colour is any #rrggbb, and the
// colours drawn from it (the text on it, links, focus rings, hover shades, for
// the light and the dark scheme) are derived so that every pair meets WCAG 2.x
// contrast AA whatever colour was chosen. The pages get them from the
// stylesheet Brand.Stylesheet writes, served same-origin at
// /static/branding.css (see internal/web), so the Content-Security-Policy needs
// no inline style.
//
// It serves no routes; internal/web, internal/identity and internal/admin use it.
package branding
