package identity_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/i18n"
	"github.com/gatehouse-id/gatehouse/internal/identity"
)

// TestRefusalsCarryMessages: every refusal a page shows a person carries a
// catalogue key and arguments; its English is exactly Error() (which logs and
// the admin API keep), and every shipped language has it.
func TestRefusalsCarryMessages(t *testing.T) {
	cat, err := i18n.Load(i18n.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, "sqlite:"+filepath.Join(t.TempDir(), "identity.db"))
	ctx := t.Context()
	u := f.signUp(t, "messages@example.com", "messages-password")
	_, emailAsPassword := f.svc.SignUp(ctx, identity.SignUpInput{Email: "same@example.com", Password: "same@example.com"}, "")
	profile := func(p identity.Profile) error {
		_, err := f.svc.UpdateProfile(ctx, u.ID, p)
		return err
	}
	for _, tc := range []struct {
		name, key string
		err       error
	}{
		{"invalid UTF-8", "password.invalid_chars", identity.ValidatePassword("abc\xffdefgh")},
		{"too short", "password.too_short", identity.ValidatePassword("short")},
		{"too long", "password.too_long", identity.ValidatePassword(strings.Repeat("long ", 30))},
		{"too common", "password.too_common", identity.ValidatePassword("Password123")},
		{"e-mail as password", "password.is_email", emailAsPassword},
		{"picture", "profile.picture_invalid", profile(identity.Profile{Picture: "javascript:alert(1)"})},
		{"locale", "profile.locale_invalid", profile(identity.Profile{Locale: "not a locale"})},
		{"name", "profile.name_too_long", profile(identity.Profile{FamilyName: strings.Repeat("n", 257)})},
		{"address throttled", "throttle.address", &identity.ThrottledError{RetryAfter: 15 * time.Minute, Reason: identity.ThrottleAddress}},
		{"address throttled a minute", "throttle.address", &identity.ThrottledError{RetryAfter: time.Second, Reason: identity.ThrottleAddress}},
		{"account locked", "throttle.account", &identity.ThrottledError{RetryAfter: 5 * time.Minute, Reason: identity.ThrottleAccount}},
		{"account locked a minute", "throttle.account", &identity.ThrottledError{RetryAfter: time.Minute, Reason: identity.ThrottleAccount}},
		{"mail rationed", "throttle.mail", &identity.ThrottledError{RetryAfter: 42 * time.Minute, Reason: identity.ThrottleMail}},
		{"sign-ups rationed", "throttle.signup", &identity.ThrottledError{RetryAfter: time.Hour, Reason: identity.ThrottleSignUp}},
		{"second factor locked", "throttle.second_factor", &identity.ThrottledError{RetryAfter: 15 * time.Minute, Reason: identity.ThrottleSecondFactor}},
		{"second factor locked a minute", "throttle.second_factor", &identity.ThrottledError{RetryAfter: time.Minute, Reason: identity.ThrottleSecondFactor}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m i18n.Translatable
			if !errors.As(tc.err, &m) {
				t.Fatalf("error %v (%T) carries no message", tc.err, tc.err)
			}
			if m.MessageKey() != tc.key {
				t.Errorf("MessageKey() = %q, want %q", m.MessageKey(), tc.key)
			}
			for _, tag := range cat.Languages() {
				got, ok := cat.Localizer(tag).Error(tc.err)
				if !ok || got == "" {
					t.Errorf("%s: Error(%v) = %q, %v", tag, tc.err, got, ok)
				}
				if tag.String() == "en" && got != tc.err.Error() {
					t.Errorf("English message %q, Error() %q: they must say the same", got, tc.err.Error())
				}
			}
		})
	}
}
