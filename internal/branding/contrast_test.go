package branding

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/tdewolff/parse/v2"
	"github.com/tdewolff/parse/v2/css"

	"github.com/gatehouse-id/gatehouse/templates"
)

// sheet is what the contrast test reads from a stylesheet: the custom
// properties of :root in the light scheme and in prefers-color-scheme: dark
// (which starts from the light ones), and every rule that sets both a text
// colour and a background from custom properties.
type sheet struct {
	light, dark map[string]string
	pairs       []rulePair
}

// rulePair is one rule's color and background, as custom property names.
type rulePair struct{ selector, text, background string }

// parseSheet reads src with a real CSS parser.
func parseSheet(t *testing.T, src []byte) sheet {
	t.Helper()
	s := sheet{light: map[string]string{}, dark: map[string]string{}}
	p := css.NewParser(parse.NewInputBytes(src), false)
	var media []string // at-rule preludes we are inside
	var selector string
	var decls map[string]string
	for {
		gt, _, data := p.Next()
		switch gt {
		case css.ErrorGrammar:
			if p.Err() != nil && p.Err().Error() != "EOF" {
				t.Fatalf("parse CSS: %v", p.Err())
			}
			return s
		case css.BeginAtRuleGrammar:
			media = append(media, string(data)+" "+tokens(p.Values()))
		case css.EndAtRuleGrammar:
			media = media[:len(media)-1]
		case css.BeginRulesetGrammar:
			selector = strings.TrimSpace(tokens(p.Values()))
			decls = map[string]string{}
		case css.CustomPropertyGrammar:
			name := string(data)
			value := strings.TrimSpace(tokens(p.Values()))
			if selector != ":root" {
				continue
			}
			dark := slices.ContainsFunc(media, func(m string) bool { return strings.Contains(m, "prefers-color-scheme") && strings.Contains(m, "dark") })
			if dark {
				s.dark[name] = value
			} else if len(media) == 0 {
				s.light[name] = value
			}
		case css.DeclarationGrammar:
			decls[strings.ToLower(string(data))] = strings.TrimSpace(tokens(p.Values()))
		case css.EndRulesetGrammar:
			text := varName(decls["color"])
			bg := varName(decls["background"])
			if bg == "" {
				bg = varName(decls["background-color"])
			}
			if text != "" && bg != "" {
				s.pairs = append(s.pairs, rulePair{selector, text, bg})
			}
			selector, decls = "", nil
		}
	}
}

func tokens(ts []css.Token) string {
	var b strings.Builder
	for _, t := range ts {
		b.Write(t.Data)
	}
	return b.String()
}

// varName returns "--x" for a value that is exactly var(--x), else "".
func varName(v string) string {
	if inner, ok := strings.CutPrefix(v, "var("); ok && strings.HasSuffix(inner, ")") {
		return strings.TrimSuffix(inner, ")")
	}
	return ""
}

// scheme returns the custom properties in force in one scheme.
func (s sheet) scheme(dark bool) map[string]string {
	m := maps.Clone(s.light)
	if dark {
		maps.Copy(m, s.dark)
	}
	return m
}

// contrastPairs are the text/background and control/background pairs of
// gatehouse.css, with the contrast each must reach in both schemes. Pairs that
// one rule sets (color and background together) are found in the file as
// well; these add the ones that meet through inheritance.
var contrastPairs = []struct {
	fg, bg string
	min    float64
}{
	// Body text, AAA.
	{"--text", "--card", TextAAA}, {"--text", "--bg", TextAAA}, {"--text", "--input-bg", TextAAA},
	// Secondary text: hints, the footer, muted lines.
	{"--muted", "--card", TextAA}, {"--muted", "--bg", TextAA},
	// Links and the skip link, on every surface they appear on.
	{"--link", "--card", TextAA}, {"--link", "--bg", TextAA}, {"--link", "--info-bg", TextAA}, {"--link", "--error-bg", TextAA},
	{"--link-hover", "--card", TextAA}, {"--link-hover", "--bg", TextAA},
	// Buttons.
	{"--on-primary", "--primary", TextAA}, {"--on-primary", "--primary-hover", TextAA},
	{"--on-danger", "--danger-solid", TextAA}, {"--on-danger", "--danger-hover", TextAA},
	// Error texts under fields, alerts and badges.
	{"--danger", "--card", TextAA}, {"--error-text", "--error-bg", TextAA}, {"--info-text", "--info-bg", TextAA},
	{"--ok-text", "--ok-bg", TextAA}, {"--warn-text", "--warn-bg", TextAA},
	// Control boundaries and focus rings (WCAG 1.4.11).
	{"--input-border", "--card", NonTextAA}, {"--input-border", "--input-bg", NonTextAA}, {"--danger", "--input-bg", NonTextAA},
	{"--focus", "--card", NonTextAA}, {"--focus", "--bg", NonTextAA},
}

func colourOf(t *testing.T, props map[string]string, name string) Colour {
	t.Helper()
	v, ok := props[name]
	if !ok {
		t.Fatalf("%s is not declared", name)
	}
	c, err := ParseColour(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

// TestStylesheetContrast computes, from templates/static/gatehouse.css, the
// contrast of every declared pair and of every rule that sets a text colour and
// a background, in the light and the dark scheme: each meets WCAG AA (body
// text AAA).
func TestStylesheetContrast(t *testing.T) {
	src, err := templates.FS.ReadFile("static/gatehouse.css")
	if err != nil {
		t.Fatal(err)
	}
	s := parseSheet(t, src)
	if len(s.light) < 20 || len(s.dark) < 20 {
		t.Fatalf("parsed %d light and %d dark custom properties; want the whole palette", len(s.light), len(s.dark))
	}
	if !strings.Contains(string(src), "color-scheme: light dark") {
		t.Errorf("gatehouse.css does not declare color-scheme: light dark")
	}
	for name := range s.light {
		if _, err := ParseColour(s.light[name]); err == nil {
			if _, ok := s.dark[name]; !ok {
				t.Errorf("colour %s has no dark value", name)
			}
		}
	}
	for _, dark := range []bool{false, true} {
		scheme := map[bool]string{false: "light", true: "dark"}[dark]
		props := s.scheme(dark)
		check := func(what, fg, bg string, min float64) {
			ratio := Contrast(colourOf(t, props, fg), colourOf(t, props, bg))
			if ratio < min {
				t.Errorf("%s, %s: %s %s on %s %s is %.2f:1, want at least %.1f:1", scheme, what, fg, props[fg], bg, props[bg], ratio, min)
			}
		}
		for _, p := range contrastPairs {
			check("declared pair", p.fg, p.bg, p.min)
		}
		if len(s.pairs) < 5 {
			t.Fatalf("found %d rules with a colour and a background; want the buttons, alerts and badges", len(s.pairs))
		}
		for _, p := range s.pairs {
			check("rule "+p.selector, p.text, p.background, TextAA)
		}
	}
}

// TestStylesheetSeesBadContrast shows the check can fail: a dark-scheme muted
// text as dark as the card is caught.
func TestStylesheetSeesBadContrast(t *testing.T) {
	src, _ := templates.FS.ReadFile("static/gatehouse.css")
	s := parseSheet(t, []byte(strings.Replace(string(src), "--muted: #a9b1bd;", "--muted: #30343a;", 1)))
	props := s.scheme(true)
	if r := Contrast(colourOf(t, props, "--muted"), colourOf(t, props, "--card")); r >= TextAA {
		t.Errorf("the changed muted colour contrasts %.2f:1; the parser did not see the edit", r)
	}
}

// TestSurfacesMatchStylesheet: the surfaces Derive checks the colours it draws
// on are the stylesheet's, and the stylesheet's primary-derived colours are
// what Derive draws from the default colour.
func TestSurfacesMatchStylesheet(t *testing.T) {
	src, err := templates.FS.ReadFile("static/gatehouse.css")
	if err != nil {
		t.Fatal(err)
	}
	s := parseSheet(t, src)
	for dark, surfaces := range map[bool]map[string]string{false: LightSurfaces, true: DarkSurfaces} {
		props := s.scheme(dark)
		for name, v := range surfaces {
			if props[name] != v {
				t.Errorf("dark=%v: %s is %s in gatehouse.css and %s in branding", dark, name, props[name], v)
			}
		}
	}
	c, _ := ParseColour(DefaultPrimaryColor)
	light, dark := Derive(c)
	for scheme, p := range map[bool]Palette{false: light, true: dark} {
		props := s.scheme(scheme)
		for _, kv := range p.Properties() {
			if props[kv[0]] != kv[1] {
				t.Errorf("dark=%v: gatehouse.css sets %s %s; the default colour derives %s", scheme, kv[0], props[kv[0]], kv[1])
			}
		}
	}
}

// TestDeriveAnyColour: for every colour of a 16-step grid of the RGB cube
// (4913 colours, from black to white) and some awkward ones, the palettes drawn
// from it meet the contrast the stylesheet needs, in both schemes.
func TestDeriveAnyColour(t *testing.T) {
	var cases []Colour
	for r := 0; r <= 256; r += 16 {
		for g := 0; g <= 256; g += 16 {
			for b := 0; b <= 256; b += 16 {
				cases = append(cases, Colour{uint8(min(r, 255)), uint8(min(g, 255)), uint8(min(b, 255))})
			}
		}
	}
	for _, h := range []string{"#777777", "#757575", "#767676", "#ffff00", "#00ffff", "#ff00ff", "#808080", "#1d4ed8", "#ffd000"} {
		c, _ := ParseColour(h)
		cases = append(cases, c)
	}
	surfaces := map[bool][]Colour{false: colours(LightSurfaces), true: colours(DarkSurfaces)}
	failures := 0
	for _, c := range cases {
		light, dark := Derive(c)
		for isDark, p := range map[bool]Palette{false: light, true: dark} {
			get := func(h string) Colour { x, _ := ParseColour(h); return x }
			problems := []string{}
			if r := Contrast(get(p.OnPrimary), get(p.Primary)); r < TextAA {
				problems = append(problems, fmt.Sprintf("on-primary %.2f", r))
			}
			if r := Contrast(get(p.OnPrimary), get(p.PrimaryHover)); r < TextAA {
				problems = append(problems, fmt.Sprintf("on-primary on hover %.2f", r))
			}
			for _, s := range surfaces[isDark] {
				if r := Contrast(get(p.Link), s); r < TextAA {
					problems = append(problems, fmt.Sprintf("link on %s %.2f", s.Hex(), r))
				}
				if r := Contrast(get(p.LinkHover), s); r < TextAA {
					problems = append(problems, fmt.Sprintf("link hover on %s %.2f", s.Hex(), r))
				}
				if r := Contrast(get(p.Focus), s); r < NonTextAA {
					problems = append(problems, fmt.Sprintf("focus on %s %.2f", s.Hex(), r))
				}
			}
			if len(problems) > 0 && failures < 20 {
				failures++
				t.Errorf("primary %s (dark=%v): %v", c.Hex(), isDark, problems)
			}
		}
	}
}
