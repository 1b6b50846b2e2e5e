package branding

import (
	"fmt"
	"math"
	"strconv"
)

// Colour is an sRGB colour.
type Colour struct{ R, G, B uint8 }

// ParseColour reads "#rrggbb" (either case). Nothing else is accepted: no short
// form, no names, no alpha.
func ParseColour(s string) (Colour, error) {
	if len(s) != 7 || s[0] != '#' {
		return Colour{}, fmt.Errorf("want a colour as #rrggbb, got %q", s)
	}
	v, err := strconv.ParseUint(s[1:], 16, 32)
	if err != nil {
		return Colour{}, fmt.Errorf("want a colour as #rrggbb, got %q", s)
	}
	return Colour{uint8(v >> 16), uint8(v >> 8), uint8(v)}, nil
}

// Hex writes c as "#rrggbb" in lower case.
func (c Colour) Hex() string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// Luminance is c's relative luminance (WCAG 2.2, "relative luminance").
func (c Colour) Luminance() float64 {
	lin := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.R) + 0.7152*lin(c.G) + 0.0722*lin(c.B)
}

// Contrast is the WCAG contrast ratio of a and b, from 1 to 21.
func Contrast(a, b Colour) float64 {
	la, lb := a.Luminance(), b.Luminance()
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

var (
	black = Colour{0, 0, 0}
	white = Colour{255, 255, 255}
)

// mix returns a moved a fraction t (0 to 1) of the way to b.
func mix(a, b Colour, t float64) Colour {
	m := func(x, y uint8) uint8 { return uint8(math.Round(float64(x) + (float64(y)-float64(x))*t)) }
	return Colour{m(a.R, b.R), m(a.G, b.G), m(a.B, b.B)}
}

// textOn returns the text colour for background bg: black or white, whichever
// contrasts more. Either one reaches at least 4.58:1 with any colour (the worst
// case is a background of luminance 0.179), so every #rrggbb is usable.
func textOn(bg Colour) Colour {
	if Contrast(black, bg) >= Contrast(white, bg) {
		return black
	}
	return white
}

// readable returns c, or c moved step by step towards toward (black or white)
// until it contrasts at least min with every one of surfaces. toward must
// reach min with each surface itself (black on light surfaces, white on dark).
func readable(c, toward Colour, min float64, surfaces ...Colour) Colour {
	for i := 0; i <= 100; i++ {
		m := mix(c, toward, float64(i)/100)
		ok := true
		for _, s := range surfaces {
			if Contrast(m, s) < min {
				ok = false
				break
			}
		}
		if ok {
			return m
		}
	}
	return toward
}
