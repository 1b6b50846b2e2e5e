package branding

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// The surfaces of templates/static/gatehouse.css that text in a colour drawn
// from the primary colour (links, focus rings) is shown on, in the light and
// the dark scheme. TestSurfacesMatchStylesheet keeps them equal to the
// stylesheet's custom properties.
var (
	LightSurfaces = map[string]string{"--bg": "#f3f4f6", "--card": "#ffffff", "--input-bg": "#ffffff", "--info-bg": "#eff6ff", "--error-bg": "#fef2f2"}
	DarkSurfaces  = map[string]string{"--bg": "#0f1216", "--card": "#1a1e24", "--input-bg": "#12151a", "--info-bg": "#16233b", "--error-bg": "#3a1518"}
)

// Contrast targets (WCAG 2.2): 4.5:1 for text (1.4.3, AA), 7:1 where cheap
// (1.4.6, AAA), 3:1 for the parts of controls such as focus rings (1.4.11).
const (
	TextAA    = 4.5
	TextAAA   = 7.0
	NonTextAA = 3.0
	hoverMix  = 0.2
)

// Palette is the colours drawn from the primary colour for one scheme, as CSS
// custom properties of gatehouse.css.
type Palette struct {
	// Primary fills primary buttons; OnPrimary is the text on it and on
	// PrimaryHover, the button's hover fill.
	Primary, OnPrimary, PrimaryHover string
	// Link is the primary colour as text on the scheme's surfaces (links, the
	// skip link, marks), and LinkHover its hover shade; Focus draws focus rings.
	Link, LinkHover, Focus string
}

// Properties lists p as custom property names and values, in a fixed order.
func (p Palette) Properties() [][2]string {
	return [][2]string{
		{"--primary", p.Primary}, {"--on-primary", p.OnPrimary}, {"--primary-hover", p.PrimaryHover},
		{"--link", p.Link}, {"--link-hover", p.LinkHover}, {"--focus", p.Focus},
	}
}

func colours(m map[string]string) []Colour {
	out := make([]Colour, 0, len(m))
	for _, v := range m {
		c, err := ParseColour(v)
		if err != nil {
			panic(fmt.Sprintf("branding: surface %s: %v", v, err)) // constants above
		}
		out = append(out, c)
	}
	return out
}

// Derive draws the light and dark palettes from primary. Whatever primary is,
// OnPrimary contrasts at least 4.5:1 with Primary and PrimaryHover, and Link,
// LinkHover and Focus at least 4.5:1 (LinkHover 7:1) with every surface of
// their scheme.
func Derive(primary Colour) (light, dark Palette) {
	on := textOn(primary)
	// Away from the text colour: the hover fill contrasts even more with it.
	away := white
	if on == white {
		away = black
	}
	hover := mix(primary, away, hoverMix)
	build := func(toward Colour, surfaces []Colour) Palette {
		link := readable(primary, toward, TextAA, surfaces...)
		return Palette{
			Primary: primary.Hex(), OnPrimary: on.Hex(), PrimaryHover: hover.Hex(),
			Link: link.Hex(), LinkHover: readable(primary, toward, TextAAA, surfaces...).Hex(), Focus: link.Hex(),
		}
	}
	return build(black, colours(LightSurfaces)), build(white, colours(DarkSurfaces))
}

// Stylesheet is the CSS that gives the pages b's colours: the palettes as
// custom properties on :root, the dark one under prefers-color-scheme: dark.
// It is linked after gatehouse.css, so its values win.
func (b Brand) Stylesheet() []byte {
	var s strings.Builder
	s.WriteString("/* Gatehouse branding: the colours drawn from the primary colour " + b.PrimaryColor + ". */\n:root {\n")
	for _, p := range b.Light.Properties() {
		s.WriteString("  " + p[0] + ": " + p[1] + ";\n")
	}
	s.WriteString("}\n@media (prefers-color-scheme: dark) {\n  :root {\n")
	for _, p := range b.Dark.Properties() {
		s.WriteString("    " + p[0] + ": " + p[1] + ";\n")
	}
	s.WriteString("  }\n}\n")
	return []byte(s.String())
}

// StylesheetURL is the path of b's stylesheet, with a version drawn from its
// content, so that browsers may keep it for good and still fetch a changed one.
func (b Brand) StylesheetURL() string { return StylesheetPath + "?v=" + b.version }

// StylesheetPath is where internal/web serves the branding stylesheet.
const StylesheetPath = "/static/branding.css"

// Version is the version StylesheetURL carries.
func (b Brand) Version() string { return b.version }

func stylesheetVersion(css []byte) string {
	sum := sha256.Sum256(css)
	return hex.EncodeToString(sum[:8])
}
