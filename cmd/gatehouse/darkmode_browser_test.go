package main

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-id/gatehouse/internal/branding"
)

// colourScheme emulates prefers-color-scheme (CDP Emulation.setEmulatedMedia).
func colourScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

// pageColours are the computed colours of the sign-in page that show which
// palette is in use.
type pageColours struct {
	Dark        bool   `json:"dark"`
	Body        string `json:"body"`
	Text        string `json:"text"`
	Card        string `json:"card"`
	Input       string `json:"input"`
	Button      string `json:"button"`
	ButtonText  string `json:"buttonText"`
	Link        string `json:"link"`
	ColorScheme string `json:"colorScheme"`
}

const readColours = `(() => {
	const cs = (sel) => getComputedStyle(document.querySelector(sel));
	return {
		dark: matchMedia("(prefers-color-scheme: dark)").matches,
		body: cs("body").backgroundColor, text: cs("body").color, card: cs("main.card").backgroundColor,
		input: cs("#email").backgroundColor, button: cs("#sign-in").backgroundColor, buttonText: cs("#sign-in").color,
		link: cs("#forgot-link").color, colorScheme: cs(":root").colorScheme,
	};
})()`

// rgb writes #rrggbb as getComputedStyle does.
func rgb(t *testing.T, hex string) string {
	t.Helper()
	c, err := branding.ParseColour(hex)
	if err != nil {
		t.Fatal(err)
	}
	return "rgb(" + itoa(c.R) + ", " + itoa(c.G) + ", " + itoa(c.B) + ")"
}

func itoa(v uint8) string {
	if v == 0 {
		return "0"
	}
	var b []byte
	for ; v > 0; v /= 10 {
		b = append([]byte{'0' + v%10}, b...)
	}
	return string(b)
}

// TestBrowserDarkMode loads the sign-in page, branded with a light primary
// colour, in chromium with prefers-color-scheme emulated light and then dark:
// each scheme uses its palette from gatehouse.css, and the button and links
// the colours drawn from the branding for that scheme (black text on the light
// colour, links darkened on light surfaces and lightened on dark ones).
// Screenshots go to GATEHOUSE_SCREENSHOTS, or the test's temporary directory.
func TestBrowserDarkMode(t *testing.T) {
	chromium := chromiumPath(t)
	const primary = "#ffd000"
	s := startServe(t, map[string]string{"GATEHOUSE_BRANDING_PRIMARY_COLOR": primary, "GATEHOUSE_BRANDING_PRODUCT_NAME": "Acme ID"},
		"--addr", "127.0.0.1:0", "--admin-addr", "", "--data-dir", t.TempDir())
	waitFor(t, s, "/readyz", time.Minute, statusIs(http.StatusOK))
	shots := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	b := newBrowser(t, chromium, shots)
	b.name = "darkmode"
	c, _ := branding.ParseColour(primary)
	light, dark := branding.Derive(c)

	for _, tc := range []struct {
		scheme                                string
		dark                                  bool
		body, text, card, input               string
		button, buttonText, link, colorScheme string
	}{
		{"light", false, "#f3f4f6", "#1a1f2b", "#ffffff", "#ffffff", light.Primary, light.OnPrimary, light.Link, "light dark"},
		{"dark", true, "#0f1216", "#e6e8eb", "#1a1e24", "#12151a", dark.Primary, dark.OnPrimary, dark.Link, "light dark"},
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			b.t = t
			b.do("emulate "+tc.scheme, colourScheme(tc.scheme), chromedp.Navigate(s.base+"/signin"), chromedp.WaitVisible(chromedp.CSS("#sign-in")))
			got, err := chromedp.Run(b.ctx, chromedp.Evaluate[pageColours](readColours))
			if err != nil {
				b.fail("read colours: %v", err)
			}
			want := pageColours{Dark: tc.dark, Body: rgb(t, tc.body), Text: rgb(t, tc.text), Card: rgb(t, tc.card), Input: rgb(t, tc.input),
				Button: rgb(t, tc.button), ButtonText: rgb(t, tc.buttonText), Link: rgb(t, tc.link), ColorScheme: tc.colorScheme}
			if got != want {
				b.fail("%s scheme: computed colours\n%+v\nwant\n%+v", tc.scheme, got, want)
			}
			b.shoot("signin-" + tc.scheme)
		})
	}
	t.Logf("screenshots in %s", shots)
}
