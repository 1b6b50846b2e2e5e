package identity_test

import (
	"errors"
	neturl "net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/identity"
)

// TestValidateSignUpReportsEveryField: a bad e-mail, a short password and a
// long name are refused together, each under its field, and the error still
// answers errors.Is/As for each; SignUp refuses the same way.
func TestValidateSignUpReportsEveryField(t *testing.T) {
	in := identity.SignUpInput{Email: "not an address", Password: "short", Name: strings.Repeat("n", 300)}
	err := identity.ValidateSignUp(in)
	var ie *identity.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("ValidateSignUp = %v, want an *InputError", err)
	}
	var fields []string
	for _, p := range ie.Problems {
		fields = append(fields, p.Field)
	}
	if got := strings.Join(fields, ","); got != "email,password,name" {
		t.Errorf("refused fields %q, want email,password,name", got)
	}
	var pe *identity.PasswordError
	var prof *identity.ProfileError
	if !errors.Is(err, identity.ErrInvalidEmail) || !errors.As(err, &pe) || !errors.As(err, &prof) {
		t.Errorf("ValidateSignUp = %v: want it to unwrap to ErrInvalidEmail, *PasswordError and *ProfileError", err)
	}
	if ie.For(identity.FieldPassword) == nil || ie.For("nope") != nil {
		t.Errorf("For: password %v, nope %v", ie.For(identity.FieldPassword), ie.For("nope"))
	}
	// One problem reads as that problem alone (logs, the admin API).
	one := identity.ValidateSignUp(identity.SignUpInput{Email: "ok@example.com", Password: "short"})
	if want := identity.ValidatePassword("short").Error(); one == nil || one.Error() != want {
		t.Errorf("one problem: Error() = %v, want %q", one, want)
	}

	for _, tc := range []struct {
		name   string
		in     identity.SignUpInput
		fields string
	}{
		{"all fine", identity.SignUpInput{Email: "ok@example.com", Password: "a fine passphrase"}, ""},
		{"only the password", identity.SignUpInput{Email: "ok@example.com", Password: "password123"}, "password"},
		{"the e-mail as password", identity.SignUpInput{Email: "Same@Example.com", Password: "same@example.com"}, "password"},
		{"only the e-mail", identity.SignUpInput{Email: "a@b", Password: "a fine passphrase"}, "email"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := identity.ValidateSignUp(tc.in)
			got := ""
			if errors.As(err, &ie) {
				for i, p := range ie.Problems {
					if i > 0 {
						got += ","
					}
					got += p.Field
				}
			} else if err != nil {
				t.Fatalf("ValidateSignUp = %v, want nil or *InputError", err)
			}
			if got != tc.fields {
				t.Errorf("refused %q, want %q", got, tc.fields)
			}
		})
	}

	f := newFixture(t, "sqlite:"+t.TempDir()+"/identity.db")
	if _, err := f.svc.SignUp(t.Context(), in, ""); !errors.As(err, &ie) || len(ie.Problems) != 3 {
		t.Errorf("SignUp = %v, want an *InputError with three problems", err)
	}
	if n := len(f.mail.all()); n != 0 {
		t.Errorf("%d mails after a refused sign-up", n)
	}
}

// TestCheckResetToken: a live link is found as often as asked without being
// spent; a spent, superseded, expired or garbage one is ErrInvalidToken; a
// disabled user's is ErrDisabled.
func TestCheckResetToken(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url, func(o *identity.Options) { o.MailPerAddress = 10 })
		ctx := t.Context()
		u := f.signUp(t, "check@example.com", "forgotten-password")
		if err := f.svc.RequestPasswordReset(ctx, u.Email, ""); err != nil {
			t.Fatal(err)
		}
		_, token := f.lastLink(t, u.Email)
		for range 2 {
			got, err := f.svc.CheckResetToken(ctx, token)
			if err != nil || got.ID != u.ID || got.Email != u.Email {
				t.Fatalf("CheckResetToken = %q %q, %v; want the user", got.ID, got.Email, err)
			}
		}
		for _, bad := range []string{"", "garbage", strings.Repeat("A", 43)} {
			_, err := f.svc.CheckResetToken(ctx, bad)
			wantErr(t, "CheckResetToken("+bad+")", err, identity.ErrInvalidToken)
		}

		// Disabled: the link says so rather than offering a form.
		if _, err := f.svc.SetDisabled(ctx, u.ID, true); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.CheckResetToken(ctx, token)
		wantErr(t, "CheckResetToken of a disabled user", err, identity.ErrDisabled)
		if _, err := f.svc.SetDisabled(ctx, u.ID, false); err != nil {
			t.Fatal(err)
		}

		// Checking did not spend it: the reset works, and then the link is dead.
		if _, err := f.svc.ResetPassword(ctx, token, "brand-new-password"); err != nil {
			t.Fatalf("ResetPassword after CheckResetToken: %v", err)
		}
		_, err = f.svc.CheckResetToken(ctx, token)
		wantErr(t, "CheckResetToken of a spent link", err, identity.ErrInvalidToken)

		// A newer link supersedes the older; and a link expires.
		if err := f.svc.RequestPasswordReset(ctx, u.Email, ""); err != nil {
			t.Fatal(err)
		}
		_, older := f.lastLink(t, u.Email)
		if err := f.svc.RequestPasswordReset(ctx, u.Email, ""); err != nil {
			t.Fatal(err)
		}
		_, newer := f.lastLink(t, u.Email)
		_, err = f.svc.CheckResetToken(ctx, older)
		wantErr(t, "CheckResetToken of a superseded link", err, identity.ErrInvalidToken)
		f.clock.Advance(30 * time.Minute)
		_, err = f.svc.CheckResetToken(ctx, newer)
		wantErr(t, "CheckResetToken of an expired link", err, identity.ErrInvalidToken)
	})
}

// TestResetLinkCarriesContinue: the reset mail's link carries the pending
// authorization after the token, and only when one is given.
func TestResetLinkCarriesContinue(t *testing.T) {
	f := newFixture(t, "sqlite:"+t.TempDir()+"/identity.db")
	ctx := t.Context()
	u := f.signUp(t, "cont@example.com", "forgotten-password")
	const cont = "https://id.example.com/oauth2/authorize?client_id=app&state=s"
	if err := f.svc.RequestPasswordResetContinue(ctx, u.Email, "", cont); err != nil {
		t.Fatal(err)
	}
	mails := f.mail.all()
	last := mails[len(mails)-1]
	m := tokenInLink.FindStringSubmatch(last.Text)
	if m == nil || m[1] != "/reset-password" {
		t.Fatalf("no reset link in %q", last.Text)
	}
	q, err := neturl.ParseQuery(strings.TrimPrefix(m[3], "&"))
	if err != nil || q.Get("continue") != cont {
		t.Errorf("reset link %q: continue %q, want %q", m[0], q.Get("continue"), cont)
	}
	if err := f.svc.RequestPasswordReset(ctx, u.Email, ""); err != nil {
		t.Fatal(err)
	}
	mails = f.mail.all()
	if m := tokenInLink.FindStringSubmatch(mails[len(mails)-1].Text); m == nil || m[3] != "" {
		t.Errorf("reset link without a continue URL: %q", m)
	}
}
