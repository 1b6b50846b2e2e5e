package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	i18ntemplate "github.com/nicksnyder/go-i18n/v2/i18n/template"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
)

//go:embed locales/*.json
var builtinFS embed.FS

// builtinFiles are the shipped catalogues, English (the source) first; the
// order is the order Languages lists them in.
func builtinFiles() []string {
	return []string{"en.json", "de.json", "es.json", "fr.json", "pt-BR.json"}
}

// Options configure Load.
type Options struct {
	// Dir is the operator's directory of message files, one per language, named
	// by its BCP 47 tag: de.json, pt-BR.yaml, it.yml. Its messages are loaded
	// after the built-in ones and win key by key; a language only it has is
	// added. nil loads the built-in catalogues alone.
	Dir fs.FS
	// Log receives what goes wrong while translating (a message that cannot be
	// shown); nil discards it.
	Log *slog.Logger
}

// Catalogue holds the messages of every supported language. Build it with Load;
// it is only read afterwards and safe for concurrent use.
type Catalogue struct {
	bundle *goi18n.Bundle
	// tags are the supported languages: English first, then the other built-in
	// ones, then the ones only the operator's directory has, by tag.
	tags    []language.Tag
	matcher language.Matcher
	// msgs holds the effective messages of each language, operator's included.
	msgs map[language.Tag]map[string]*goi18n.Message
	// localizers holds one go-i18n localizer per supported language.
	localizers map[language.Tag]*goi18n.Localizer
	parser     i18ntemplate.Parser
	warnings   []string
	log        *slog.Logger
}

// Load reads the built-in catalogues and then the operator's directory. It
// refuses a file it cannot read, a file name that is not a language tag, a
// message that does not parse, and a translation that uses an argument English
// does not have (it would show "<no value>"). Keys a language lacks (shown in
// English), keys English does not have (never shown) and missing plural forms
// are not errors: Warnings lists them for the operator.
func Load(o Options) (*Catalogue, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	c := &Catalogue{
		msgs:       map[language.Tag]map[string]*goi18n.Message{},
		localizers: map[language.Tag]*goi18n.Localizer{},
		// missingkey=error: a message executed without one of its arguments
		// fails instead of showing "<no value>".
		parser: &i18ntemplate.TextParser{Option: "missingkey=error"},
		log:    o.Log,
	}
	var problems []string
	for _, name := range builtinFiles() {
		tag, msgs, err := readFile(builtinFS, "locales/"+name)
		if err != nil {
			return nil, fmt.Errorf("i18n: built-in %w", err)
		}
		c.add(tag, msgs)
	}
	builtinEnglish := maps.Clone(c.msgs[language.English])
	if o.Dir != nil {
		entries, err := fs.ReadDir(o.Dir, ".")
		if err != nil {
			return nil, fmt.Errorf("i18n: read locales directory: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if !isMessageFile(e.Name()) {
				c.warnf("%s: ignored: want <language tag>.json, .yaml or .yml", e.Name())
				continue
			}
			tag, msgs, err := readFile(o.Dir, e.Name())
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			c.add(tag, msgs)
		}
	}
	english := c.msgs[language.English]
	for _, tag := range c.tags {
		for _, key := range sortedKeys(c.msgs[tag]) {
			m := c.msgs[tag][key]
			fields, err := messageFields(m)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s: %v", tag, key, err))
				continue
			}
			// The arguments Go code passes are those of the built-in English
			// message; an operator's own key has its English as the source.
			src := builtinEnglish[key]
			if src == nil {
				src = english[key]
			}
			if src == nil {
				c.warnf("%s: %s: no such key in English, so it is never shown", tag, key)
				continue
			}
			if src == m {
				continue
			}
			want, err := messageFields(src)
			if err != nil {
				continue // reported with English
			}
			if extra := minus(fields, want); len(extra) > 0 {
				problems = append(problems, fmt.Sprintf("%s: %s: uses %s, which English does not have (it has %s)",
					tag, key, fieldList(extra), fieldList(want)))
			}
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("i18n: %s", strings.Join(problems, "; "))
	}

	c.bundle = goi18n.NewBundle(language.English)
	for _, tag := range c.tags {
		var msgs []*goi18n.Message
		for _, key := range sortedKeys(c.msgs[tag]) {
			msgs = append(msgs, c.msgs[tag][key])
		}
		if err := c.bundle.AddMessages(tag, msgs...); err != nil {
			return nil, fmt.Errorf("i18n: %s: %w", tag, err)
		}
	}
	for _, tag := range c.tags {
		c.localizers[tag] = goi18n.NewLocalizer(c.bundle, tag.String())
	}
	c.matcher = language.NewMatcher(c.tags)
	c.checkCompleteness()
	return c, nil
}

// add merges msgs into tag's messages, key by key, and adds the language.
func (c *Catalogue) add(tag language.Tag, msgs []*goi18n.Message) {
	if c.msgs[tag] == nil {
		c.msgs[tag] = map[string]*goi18n.Message{}
		c.tags = append(c.tags, tag)
	}
	for _, m := range msgs {
		if messageEmpty(m) {
			continue // go-i18n would store no template: English shows instead
		}
		c.msgs[tag][m.ID] = m
	}
	// English stays first; the others keep their order of arrival, which is the
	// built-in order and then the operator's files by name.
}

// checkCompleteness notes, for the operator, what each language lacks: keys
// (shown in English) and plural forms its rules need for counts up to 1000
// (the "other" form shows instead).
func (c *Catalogue) checkCompleteness() {
	english := c.msgs[language.English]
	for _, tag := range c.tags[1:] {
		var missing []string
		for _, key := range sortedKeys(english) {
			if c.msgs[tag][key] == nil {
				missing = append(missing, key)
			}
		}
		if len(missing) > 0 {
			c.warnf("%s: %d of %d messages missing, shown in English: %s", tag, len(missing), len(english), abbreviate(missing, 10))
		}
	}
	for _, tag := range c.tags {
		forms := c.pluralForms(tag)
		for _, key := range sortedKeys(c.msgs[tag]) {
			if !isPlural(english[key]) {
				continue
			}
			m := c.msgs[tag][key]
			have := map[string]string{"zero": m.Zero, "one": m.One, "two": m.Two, "few": m.Few, "many": m.Many, "other": m.Other}
			var lack []string
			for _, f := range forms {
				if have[f] == "" {
					lack = append(lack, f)
				}
			}
			if len(lack) > 0 {
				c.warnf("%s: %s: plural forms %s missing", tag, key, strings.Join(lack, ", "))
			}
		}
	}
}

// pluralForms returns the CLDR plural categories tag's rules give the counts
// 0 to 1000, as go-i18n applies them.
func (c *Catalogue) pluralForms(tag language.Tag) []string {
	b := goi18n.NewBundle(tag)
	probe := &goi18n.Message{ID: "probe", Zero: "zero", One: "one", Two: "two", Few: "few", Many: "many", Other: "other"}
	if err := b.AddMessages(tag, probe); err != nil {
		return []string{"other"}
	}
	l := goi18n.NewLocalizer(b, tag.String())
	seen := map[string]bool{}
	for n := 0; n <= 1000; n++ {
		f, err := l.Localize(&goi18n.LocalizeConfig{MessageID: "probe", PluralCount: n})
		if err == nil {
			seen[f] = true
		}
	}
	var forms []string
	for _, f := range []string{"zero", "one", "two", "few", "many", "other"} {
		if seen[f] {
			forms = append(forms, f)
		}
	}
	return forms
}

func (c *Catalogue) warnf(format string, args ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
}

// Warnings returns what Load noticed but accepted, one sentence each: keys a
// language lacks, keys English does not have, missing plural forms, ignored
// files. The built-in catalogues have none.
func (c *Catalogue) Warnings() []string { return slices.Clone(c.warnings) }

// Languages returns the supported languages: English first, then the other
// built-in ones, then those only the operator's directory has.
func (c *Catalogue) Languages() []language.Tag { return slices.Clone(c.tags) }

// Tags returns the supported languages as BCP 47 tags, in the order of
// Languages: what discovery advertises as ui_locales_supported.
func (c *Catalogue) Tags() []string {
	out := make([]string, len(c.tags))
	for i, t := range c.tags {
		out[i] = t.String()
	}
	return out
}

// Keys returns every message key, sorted: English's keys, which every other
// language translates or falls back to.
func (c *Catalogue) Keys() []string { return sortedKeys(c.msgs[language.English]) }

// Has reports whether key is a message (in English, hence in every language).
func (c *Catalogue) Has(key string) bool { return c.msgs[language.English][key] != nil }

// readFile parses one message file; its name (without the extension, and
// without a prefix such as "active.") is its language tag.
func readFile(fsys fs.FS, name string) (language.Tag, []*goi18n.Message, error) {
	base := path.Base(name)
	ext := path.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	if i := strings.LastIndexByte(stem, '.'); i >= 0 {
		stem = stem[i+1:]
	}
	tag, err := language.Parse(stem)
	if err != nil || tag == language.Und {
		return language.Und, nil, fmt.Errorf("%s: the file name must be a language tag such as de.json or pt-BR.json", base)
	}
	buf, err := fs.ReadFile(fsys, name)
	if err != nil {
		return language.Und, nil, fmt.Errorf("%s: %w", base, err)
	}
	unmarshal := json.Unmarshal
	if ext != ".json" {
		unmarshal = yaml.Unmarshal
	}
	msgs, err := goi18n.ParseMessageBytes(buf, unmarshal)
	if err != nil {
		return language.Und, nil, fmt.Errorf("%s: %w", base, err)
	}
	return tag, msgs, nil
}

func isMessageFile(name string) bool {
	switch path.Ext(name) {
	case ".json", ".yaml", ".yml":
		return true
	}
	return false
}

func messageEmpty(m *goi18n.Message) bool {
	return m.Zero == "" && m.One == "" && m.Two == "" && m.Few == "" && m.Many == "" && m.Other == ""
}

// isPlural reports whether an English message has plural forms.
func isPlural(m *goi18n.Message) bool {
	return m != nil && (m.Zero != "" || m.One != "" || m.Two != "" || m.Few != "" || m.Many != "")
}

// messageFields parses every form of m and returns the fields its templates
// use ({{.Count}} → "Count"), sorted and unique.
func messageFields(m *goi18n.Message) ([]string, error) {
	seen := map[string]bool{}
	for _, src := range []string{m.Zero, m.One, m.Two, m.Few, m.Many, m.Other} {
		if src == "" {
			continue
		}
		left, right := m.LeftDelim, m.RightDelim
		if left == "" {
			left = "{{"
		}
		if right == "" {
			right = "}}"
		}
		t, err := template.New("").Delims(left, right).Parse(src)
		if err != nil {
			return nil, err
		}
		if t.Tree != nil {
			collectFields(t.Tree.Root, seen)
		}
	}
	out := make([]string, 0, len(seen))
	for f := range seen {
		out = append(out, f)
	}
	sort.Strings(out)
	return out, nil
}

// collectFields adds the first name of every field n uses ({{.Count}} → Count).
func collectFields(n parse.Node, seen map[string]bool) {
	walk(n, func(n parse.Node) {
		if f, ok := n.(*parse.FieldNode); ok {
			seen[f.Ident[0]] = true
		}
	})
}

func minus(have, want []string) []string {
	var out []string
	for _, f := range have {
		if !slices.Contains(want, f) {
			out = append(out, f)
		}
	}
	return out
}

func fieldList(fields []string) string {
	if len(fields) == 0 {
		return "no arguments"
	}
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = "{{." + f + "}}"
	}
	return strings.Join(out, ", ")
}

func sortedKeys(m map[string]*goi18n.Message) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func abbreviate(list []string, n int) string {
	if len(list) <= n {
		return strings.Join(list, ", ")
	}
	return strings.Join(list[:n], ", ") + fmt.Sprintf(" and %d more", len(list)-n)
}
