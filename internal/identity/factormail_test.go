package identity_test

import (
	"strings"
	"testing"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-id/gatehouse/internal/mfa"
)

// TestFactorChangeMail: through the real second-factor service with the
// identity service as its notifier, adding an authenticator app, making new
// recovery codes, removing the app and an operator's reset each mail the user
// exactly once, saying what changed and when, with a link to the sign-in
// methods and no secret or code in it.
func TestFactorChangeMail(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		ctx := t.Context()
		u := f.signUp(t, "ada@example.com", "correct horse battery staple")
		other := f.signUp(t, "bob@example.com", "correct horse battery staple")
		svc, err := mfa.New(mfa.Options{Store: f.store, Throttle: f.svc, Notifier: f.svc, Now: f.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		const when = "2031-01-02 03:04 UTC" // the fixture's clock
		var secrets []string
		// step runs change and wants exactly one new mail, to u, saying want.
		step := func(what, want string, change func() error) {
			t.Helper()
			before := len(f.mail.all())
			if err := change(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			mails := f.mail.all()
			if len(mails) != before+1 {
				t.Fatalf("%s: %d mails, want exactly 1", what, len(mails)-before)
			}
			m := mails[before]
			if m.To != u.Email || m.Subject != "A sign-in method of your Gatehouse account changed" {
				t.Errorf("%s: mail to %q, subject %q", what, m.To, m.Subject)
			}
			for _, part := range []struct{ name, body string }{{"text", oneLine(m.Text)}, {"HTML", oneLine(m.HTML)}} {
				for _, s := range []string{want, "Time of the change: " + when, "If it was not you, change your Gatehouse password now",
					"https://id.example.com/account#methods-section"} {
					if !strings.Contains(part.body, s) {
						t.Errorf("%s: %s lacks %q:\n%s", what, part.name, s, part.body)
					}
				}
				for _, secret := range secrets {
					if strings.Contains(part.body, secret) {
						t.Errorf("%s: %s holds the secret or code %q", what, part.name, secret)
					}
				}
				if k := mailKeyLeak.FindString(part.body); k != "" {
					t.Errorf("%s: %s shows the key %q", what, part.name, k)
				}
			}
		}
		enrol := func() error {
			e, err := svc.BeginTOTP(ctx, u.ID, u.Email, "Phone")
			if err != nil {
				return err
			}
			code, err := totp.GenerateCodeCustom(e.Secret, f.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			if err != nil {
				return err
			}
			secrets = append(secrets, e.Secret, code)
			return svc.ConfirmTOTP(ctx, u.ID, e.FactorID, code, "")
		}
		step("add an authenticator app", "An authenticator app was added to your account.", enrol)
		step("new recovery codes", "New recovery codes were created for your account.", func() error {
			codes, err := svc.NewRecoveryCodes(ctx, u.ID)
			secrets = append(secrets, codes...)
			return err
		})
		step("remove the app", "An authenticator app was removed from your account.", func() error {
			m, err := svc.Methods(ctx, u.ID)
			if err != nil || len(m.Factors) != 1 {
				t.Fatalf("methods %+v, %v; want one factor", m, err)
			}
			return svc.RemoveFactor(ctx, u.ID, m.Factors[0].ID)
		})
		// Beginning an enrolment that is never confirmed mails nothing.
		before := len(f.mail.all())
		if _, err := svc.BeginTOTP(ctx, u.ID, u.Email, "Tablet"); err != nil {
			t.Fatal(err)
		}
		if n := len(f.mail.all()) - before; n != 0 {
			t.Errorf("an unconfirmed enrolment sent %d mails", n)
		}
		step("add an app again", "An authenticator app was added to your account.", enrol)
		// Another user's factor id changes nothing and mails nobody.
		before = len(f.mail.all())
		m, err := svc.Methods(ctx, u.ID)
		if err != nil || len(m.Factors) == 0 {
			t.Fatalf("methods %+v, %v; want ada's factor", m, err)
		}
		if err := svc.RemoveFactor(ctx, other.ID, m.Factors[0].ID); err == nil {
			t.Errorf("another user removed ada's factor")
		}
		if n := len(f.mail.all()) - before; n != 0 {
			t.Errorf("a refused removal sent %d mails", n)
		}
		step("operator's reset", "An administrator removed all authenticator apps, passkeys and recovery codes from your account.", func() error {
			_, err := svc.Reset(ctx, u.ID)
			return err
		})
	})
}
