package mfa

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-id/gatehouse/storage"
)

// The RFC 6238 parameters every authenticator app understands.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	// totpSkew accepts the code of the step before and after now (±1 step),
	// for clocks a little apart.
	totpSkew = 1
	// maxNameLen bounds a factor's label.
	maxNameLen = 64
)

// Enrolment is a pending authenticator app: show the QR code (or the secret,
// to type in), then confirm with a first code.
type Enrolment struct {
	FactorID string
	// Secret is the base32 secret, for people who type it in.
	Secret string
	// URI is the otpauth:// URI the QR code holds.
	URI string
	// QRCode is URI as a QR code, made here (no external service sees the
	// secret), for the page to draw.
	QRCode QRCode
}

// QRCode is a QR symbol as a square of modules: Size modules a side, the dark
// ones listed. A page draws it as SVG, one unit per module, inside a quiet
// zone of 4 modules.
type QRCode struct {
	Size int
	Dark []Module
}

// Module is a run of W dark modules of a QRCode, from column X of row Y.
type Module struct{ X, Y, W int }

// ViewBox is the SVG viewBox that shows the symbol with its quiet zone.
func (q QRCode) ViewBox() string {
	return fmt.Sprintf("-4 -4 %d %d", q.Size+8, q.Size+8)
}

// BeginTOTP starts adding an authenticator app named name for the user whose
// sign-in name (shown in the app) is account. The factor is stored pending
// (sealed secret) until ConfirmTOTP; a pending one left unconfirmed does
// nothing.
func (s *Service) BeginTOTP(ctx context.Context, userID, account, name string) (Enrolment, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "Authenticator"
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxNameLen || strings.ContainsRune(name, 0) {
		return Enrolment{}, ErrInvalidName
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: s.issuer, AccountName: account, Period: totpPeriod, Digits: totpDigits, SecretSize: 20, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return Enrolment{}, fmt.Errorf("begin totp: %w", err)
	}
	f, err := s.store.CreateFactor(ctx, storage.Factor{UserID: userID, Kind: storage.FactorTOTP, Name: name, Secret: []byte(key.Secret())})
	if err != nil {
		return Enrolment{}, fmt.Errorf("begin totp: %w", err)
	}
	e := Enrolment{FactorID: f.ID, Secret: key.Secret(), URI: key.URL()}
	if e.QRCode, err = qrCode(e.URI); err != nil {
		return Enrolment{}, fmt.Errorf("begin totp: %w", err)
	}
	return e, nil
}

// ErrInvalidName means a factor's label is empty after trimming, too long or
// not text.
var ErrInvalidName = errors.New("the name is too long or not text")

// PendingTOTP returns the enrolment of the user's pending factor id again (to
// show the page once more after a wrong code).
func (s *Service) PendingTOTP(ctx context.Context, userID, account, id string) (Enrolment, error) {
	f, err := s.store.GetFactor(ctx, id)
	if err != nil || f.UserID != userID || f.Kind != storage.FactorTOTP || f.Confirmed() {
		return Enrolment{}, ErrNotFound
	}
	e := Enrolment{FactorID: f.ID, Secret: string(f.Secret), URI: totpURL(s.issuer, account, string(f.Secret))}
	if e.QRCode, err = qrCode(e.URI); err != nil {
		return Enrolment{}, fmt.Errorf("pending totp: %w", err)
	}
	return e, nil
}

// totpURL is the otpauth URI (Google Authenticator's Key Uri Format) of a
// stored secret.
func totpURL(issuer, account, secret string) string {
	q := url.Values{}
	q.Set("secret", secret)
	q.Set("issuer", issuer)
	q.Set("period", strconv.Itoa(totpPeriod))
	q.Set("digits", strconv.Itoa(int(totpDigits)))
	q.Set("algorithm", "SHA1")
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: q.Encode()}
	return u.String()
}

func qrCode(uri string) (QRCode, error) {
	code, err := qr.Encode(uri, qr.L, qr.Auto)
	if err != nil {
		return QRCode{}, err
	}
	b := code.Bounds()
	q := QRCode{Size: b.Dx()}
	dark := func(x, y int) bool { r, _, _, _ := code.At(x, y).RGBA(); return r == 0 }
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if !dark(x, y) {
				continue
			}
			run := Module{X: x - b.Min.X, Y: y - b.Min.Y, W: 1}
			for x+1 < b.Max.X && dark(x+1, y) {
				x++
				run.W++
			}
			q.Dark = append(q.Dark, run)
		}
	}
	return q, nil
}

// ConfirmTOTP confirms the user's pending factor id with a first code from
// the app (from client address ip). A wrong code gets ErrInvalidCode and
// changes nothing.
func (s *Service) ConfirmTOTP(ctx context.Context, userID, id, code, ip string) error {
	if err := s.check(ctx, userID, ip); err != nil {
		return err
	}
	f, err := s.store.GetFactor(ctx, id)
	if err != nil || f.UserID != userID || f.Kind != storage.FactorTOTP || f.Confirmed() {
		return ErrNotFound
	}
	step, ok := s.matchStep(string(f.Secret), code)
	if !ok {
		return s.failed(ctx, userID, ip, ErrInvalidCode)
	}
	if err := s.store.ConfirmFactor(ctx, userID, id, step); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return ErrNotFound
		}
		return fmt.Errorf("confirm totp: %w", err)
	}
	s.succeeded(ctx, userID, ip)
	s.changed(ctx, userID, ChangeAdded, storage.FactorTOTP)
	return nil
}

// VerifyTOTP checks a code against the user's confirmed authenticator apps
// (from client address ip) and returns the factor it belongs to. A code is
// accepted once: the same code again (or an older one of the same app) gets
// ErrReplayedCode, on every instance. Failures count against the throttle.
func (s *Service) VerifyTOTP(ctx context.Context, userID, code, ip string) (storage.Factor, error) {
	if err := s.check(ctx, userID, ip); err != nil {
		return storage.Factor{}, err
	}
	all, err := s.store.ListFactors(ctx, userID)
	if err != nil {
		return storage.Factor{}, fmt.Errorf("verify totp: %w", err)
	}
	replayed, any := false, false
	for _, f := range all {
		if f.Kind != storage.FactorTOTP || !f.Confirmed() {
			continue
		}
		any = true
		step, ok := s.matchStep(string(f.Secret), code)
		if !ok {
			continue
		}
		used, err := s.store.UseTOTPStep(ctx, f.ID, step)
		if err != nil {
			return storage.Factor{}, fmt.Errorf("verify totp: %w", err)
		}
		if !used {
			replayed = true
			continue
		}
		s.succeeded(ctx, userID, ip)
		return f, nil
	}
	switch {
	case !any:
		return storage.Factor{}, ErrNotEnrolled
	case replayed:
		return storage.Factor{}, s.failed(ctx, userID, ip, ErrReplayedCode)
	}
	return storage.Factor{}, s.failed(ctx, userID, ip, ErrInvalidCode)
}

// matchStep returns the time step (of now −1, now, now +1) whose code is code.
func (s *Service) matchStep(secret, code string) (int64, bool) {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.TrimSpace(code))
	if len(code) != int(totpDigits) {
		return 0, false
	}
	now := s.now()
	for d := -totpSkew; d <= totpSkew; d++ {
		t := now.Add(time.Duration(d*totpPeriod) * time.Second)
		want, err := totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		if equalCode(want, code) {
			return t.Unix() / totpPeriod, true
		}
	}
	return 0, false
}

// RenameFactor changes the label of the user's factor id.
func (s *Service) RenameFactor(ctx context.Context, userID, id, name string) error {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxNameLen {
		return ErrInvalidName
	}
	if err := s.store.RenameFactor(ctx, userID, id, name); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return ErrNotFound
		}
		return fmt.Errorf("rename factor: %w", err)
	}
	return nil
}

// TOTPURI returns the otpauth URI of the user's authenticator app, for the
// app whose sign-in name is account, naming issuer ("" for the service's):
// the oldest confirmed app's, else (an enrolment under way) the newest
// pending one's; ErrNotEnrolled when there is neither. pending reports which.
func (s *Service) TOTPURI(ctx context.Context, userID, account, issuer string) (uri string, pending bool, err error) {
	f, err := s.appFor(ctx, userID)
	if err != nil {
		return "", false, err
	}
	if issuer == "" {
		issuer = s.issuer
	}
	return totpURL(issuer, account, string(f.Secret)), !f.Confirmed(), nil
}

// PendingTOTPID returns the id of the user's newest pending authenticator
// app (an enrolment under way), or ErrNotFound.
func (s *Service) PendingTOTPID(ctx context.Context, userID string) (string, error) {
	all, err := s.store.ListFactors(ctx, userID)
	if err != nil {
		return "", fmt.Errorf("pending totp: %w", err)
	}
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Kind == storage.FactorTOTP && !all[i].Confirmed() {
			return all[i].ID, nil
		}
	}
	return "", ErrNotFound
}

// DropPendingTOTP removes the user's pending authenticator apps (enrolments
// begun and never confirmed), as a new enrolment through the API replaces an
// unfinished one; confirmed apps stay.
func (s *Service) DropPendingTOTP(ctx context.Context, userID string) error {
	all, err := s.store.ListFactors(ctx, userID)
	if err != nil {
		return fmt.Errorf("drop pending totp: %w", err)
	}
	for _, f := range all {
		if f.Kind != storage.FactorTOTP || f.Confirmed() {
			continue
		}
		if err := s.store.DeleteFactor(ctx, userID, f.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("drop pending totp: %w", err)
		}
	}
	return nil
}

// appFor is the authenticator app TOTPURI describes.
func (s *Service) appFor(ctx context.Context, userID string) (storage.Factor, error) {
	all, err := s.store.ListFactors(ctx, userID)
	if err != nil {
		return storage.Factor{}, fmt.Errorf("totp uri: %w", err)
	}
	var pending *storage.Factor
	for i, f := range all {
		if f.Kind != storage.FactorTOTP {
			continue
		}
		if f.Confirmed() {
			return f, nil
		}
		pending = &all[i]
	}
	if pending == nil {
		return storage.Factor{}, ErrNotEnrolled
	}
	return *pending, nil
}

// RemoveTOTP removes every authenticator app of the user, confirmed or
// pending (Better Auth's "disable two-factor"), and returns how many
// confirmed ones went; passkeys stay. As with RemoveFactor, the recovery
// codes go with the last factor.
func (s *Service) RemoveTOTP(ctx context.Context, userID string) (int, error) {
	all, err := s.store.ListFactors(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("remove totp: %w", err)
	}
	if err := s.DropPendingTOTP(ctx, userID); err != nil {
		return 0, err
	}
	n := 0
	for _, f := range all {
		if f.Kind != storage.FactorTOTP || !f.Confirmed() {
			continue
		}
		if err := s.RemoveFactor(ctx, userID, f.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return n, err
		}
		n++
	}
	return n, nil
}
