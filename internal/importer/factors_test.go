package importer

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// seal is Better Auth's symmetricEncrypt as its source describes it (the real
// one is exercised by cmd/gatehouse's TestImportBetterAuth).
func seal(t *testing.T, secret, plain string) string {
	t.Helper()
	key := sha256.Sum256([]byte(secret))
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	rand.Read(nonce)
	return hex.EncodeToString(aead.Seal(nonce, nonce, []byte(plain), nil))
}

func TestBADecrypt(t *testing.T) {
	const secret = "the-better-auth-secret-of-the-app-0123"
	c := seal(t, secret, "JBSWY3DPEHPK3PXP-secret")
	for _, tc := range []struct {
		name, secret, data, want string
		ok                       bool
	}{
		{"bare hex", secret, c, "JBSWY3DPEHPK3PXP-secret", true},
		{"envelope", secret, "$ba$1$" + c, "JBSWY3DPEHPK3PXP-secret", true},
		{"wrong secret", secret + "x", c, "", false},
		{"tampered", secret, c[:len(c)-2] + "00", "", false},
		{"not hex", secret, "encrypted-secret", "", false},
		{"too short", secret, "abcd", "", false},
	} {
		got, err := baDecrypt(tc.secret, tc.data)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s: baDecrypt = %q, %v; want %q, ok %v", tc.name, got, err, tc.want, tc.ok)
		}
	}
}

func TestTOTPSecret(t *testing.T) {
	for in, want := range map[string]string{
		"abc":                     "MFRGG",            // Better Auth's key bytes, base32
		"base32:jbswy3dpehpk3pxp": "JBSWY3DPEHPK3PXP", // an imported one
	} {
		if got, err := totpSecret(in); err != nil || got != want {
			t.Errorf("totpSecret(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "base32:", "base32:not base32!"} {
		if got, err := totpSecret(bad); err == nil {
			t.Errorf("totpSecret(%q) = %q, want an error", bad, got)
		}
	}
}
