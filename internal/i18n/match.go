package i18n

import (
	"sort"
	"strconv"
	"strings"

	"golang.org/x/text/language"
)

// Preferences are what a request says about the languages its reader reads, in
// the order Match weighs them.
type Preferences struct {
	// UILocales is the ui_locales of the authorization request: BCP 47 tags
	// separated by spaces, preferred first (OpenID Connect Core §3.1.2.1).
	UILocales string
	// Saved is the signed-in user's saved locale (the locale claim), or "".
	Saved string
	// AcceptLanguage is the request's Accept-Language header.
	AcceptLanguage string
}

// Bounds on what Match reads, so that a hostile header costs little: more tags
// than these, or a longer value, add nothing a person would send.
const (
	maxTags      = 16
	maxPrefBytes = 1024
	maxTagBytes  = 64
)

// Match returns the supported language to answer in: the first of ui_locales,
// the saved locale and Accept-Language (by q-value; q=0 refuses a language)
// that a supported language serves, else English. Unsupported, malformed or
// overlong tags are skipped; a language serves a tag of the same language in
// another region (pt-PT → pt-BR, de-AT → de).
func (c *Catalogue) Match(p Preferences) language.Tag {
	if t, ok := c.MatchUILocales(p.UILocales); ok {
		return t
	}
	if t, ok := c.matchTags(parseList(p.Saved)); ok {
		return t
	}
	if t, ok := c.matchTags(parseAcceptLanguage(p.AcceptLanguage)); ok {
		return t
	}
	return language.English
}

// MatchUILocales returns the supported language a ui_locales value asks for,
// and false when it asks for none that is supported; a caller may then skip
// looking up the saved locale.
func (c *Catalogue) MatchUILocales(uiLocales string) (language.Tag, bool) {
	return c.matchTags(parseList(uiLocales))
}

// matchTags returns the supported language that best serves tags, preferred
// first; false when none does.
func (c *Catalogue) matchTags(tags []language.Tag) (language.Tag, bool) {
	if len(tags) == 0 {
		return language.Und, false
	}
	_, i, conf := c.matcher.Match(tags...)
	if conf == language.No {
		return language.Und, false
	}
	return c.tags[i], true
}

// parseList parses space-separated tags, skipping those that do not parse.
func parseList(s string) []language.Tag {
	if len(s) > maxPrefBytes {
		return nil
	}
	var tags []language.Tag
	for _, f := range strings.Fields(s) {
		if t, ok := parseTag(f); ok {
			tags = append(tags, t)
			if len(tags) == maxTags {
				break
			}
		}
	}
	return tags
}

func parseTag(s string) (language.Tag, bool) {
	if len(s) > maxTagBytes {
		return language.Und, false
	}
	t, err := language.Parse(s)
	if err != nil || t == language.Und {
		return language.Und, false
	}
	return t, true
}

// parseAcceptLanguage reads an Accept-Language header entry by entry, so that
// one malformed entry costs only itself: the tags, by q-value (highest first,
// then in order), without those of q=0 and "*".
func parseAcceptLanguage(h string) []language.Tag {
	if len(h) > maxPrefBytes {
		return nil
	}
	type entry struct {
		tag language.Tag
		q   float64
	}
	var entries []entry
	for _, part := range strings.Split(h, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.TrimSpace(name)
		if name == "" || name == "*" {
			continue
		}
		q := 1.0
		if params != "" {
			k, v, ok := strings.Cut(strings.TrimSpace(params), "=")
			if !ok || strings.TrimSpace(k) != "q" {
				continue
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		if q == 0 {
			continue
		}
		t, ok := parseTag(name)
		if !ok {
			continue
		}
		entries = append(entries, entry{t, q})
		if len(entries) == maxTags {
			break
		}
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].q > entries[j].q })
	tags := make([]language.Tag, len(entries))
	for i, e := range entries {
		tags[i] = e.tag
	}
	return tags
}
