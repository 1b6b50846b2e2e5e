package importer

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/gatehouse-id/gatehouse/internal/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
)

// FactorStore is what the import of second factors needs from storage: the
// store methods the mfa service uses.
type FactorStore interface {
	CreateFactor(ctx context.Context, f storage.Factor) (storage.Factor, error)
	ListFactors(ctx context.Context, userID string) ([]storage.Factor, error)
	GetFactorByCredentialID(ctx context.Context, credentialID []byte) (storage.Factor, error)
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error
	SetWebAuthnHandle(ctx context.Context, userID string, handle []byte) ([]byte, error)
}

// The reasons a user's two-factor row or a passkey is not imported.
const (
	reasonNoSecret     = "no --secret given (BETTER_AUTH_SECRET): TOTP secrets and backup codes are encrypted with it"
	reasonWrongSecret  = "could not be decrypted: is --secret the BETTER_AUTH_SECRET of that app?"
	reasonHasFactors   = "the user already has second factors in Gatehouse (imported before?)"
	reasonBadTOTP      = "the TOTP secret is not usable"
	reasonPasskeyExist = "already imported"
	reasonBadPasskey   = "credential id or public key not readable"
)

// baDecrypt opens a value Better Auth's symmetricEncrypt sealed with secret:
// hex of a 24-byte nonce followed by XChaCha20-Poly1305 ciphertext and tag,
// the key being SHA-256 of the secret; optionally in a "$ba$<version>$"
// envelope (rotated secrets), whose version is ignored here.
func baDecrypt(secret, data string) (string, error) {
	if rest, ok := strings.CutPrefix(data, "$ba$"); ok {
		_, ct, found := strings.Cut(rest, "$")
		if !found {
			return "", errors.New("malformed envelope")
		}
		data = ct
	}
	raw, err := hex.DecodeString(data)
	if err != nil {
		return "", errors.New("not hex")
	}
	if len(raw) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return "", errors.New("too short")
	}
	key := sha256.Sum256([]byte(secret))
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return "", err
	}
	plain, err := aead.Open(nil, raw[:chacha20poly1305.NonceSizeX], raw[chacha20poly1305.NonceSizeX:], nil)
	if err != nil {
		return "", errors.New("authentication failed")
	}
	return string(plain), nil
}

// totpSecret turns Better Auth's decrypted TOTP secret into Gatehouse's (the
// base32 text of the HMAC key). Better Auth uses its generated secret's UTF-8
// bytes as the key; an imported one is "base32:<secret>".
func totpSecret(s string) (string, error) {
	if b32, ok := strings.CutPrefix(s, "base32:"); ok {
		b32 = strings.ToUpper(strings.TrimRight(b32, "="))
		if _, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b32); err != nil || b32 == "" {
			return "", errors.New("not base32")
		}
		return b32, nil
	}
	if s == "" {
		return "", errors.New("empty")
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte(s)), nil
}

// pluginCol is the column of field in a plugin's table: in the detected
// casing, or camelCase when the plugin's table kept Better Auth's default.
func (s schema) pluginCol(cols map[string]string, field string) string {
	if c := s.col(field); cols[c] != "" {
		return c
	}
	return field
}

// twoFactorRow is one row of the two-factor plugin's table.
type twoFactorRow struct{ secret, backupCodes string }

// readTwoFactor reads the two-factor rows of the users ids (Better Auth ids).
func readTwoFactor(ctx context.Context, tx pgx.Tx, s schema, ids []string) (map[string]twoFactorRow, error) {
	out := map[string]twoFactorRow{}
	if s.twoFactor == "" {
		return out, nil
	}
	cols := s.tables[s.twoFactor]
	user, codes := s.pluginCol(cols, "userId"), s.pluginCol(cols, "backupCodes")
	if cols[user] == "" || cols["secret"] == "" {
		return out, nil
	}
	codesExpr := "''"
	if cols[codes] != "" {
		codesExpr = "coalesce(" + ident(codes) + ", '')"
	}
	rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT %s::text, coalesce(secret, ''), %s FROM %s WHERE %s::text = ANY($1::text[])`,
		ident(user), codesExpr, ident(s.twoFactor), ident(user)), ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var r twoFactorRow
		if err := rows.Scan(&id, &r.secret, &r.backupCodes); err != nil {
			return nil, err
		}
		if _, dup := out[id]; !dup {
			out[id] = r
		}
	}
	return out, rows.Err()
}

// passkeyRow is one row of the passkey plugin's table.
type passkeyRow struct {
	name, credentialID, publicKey, deviceType, transports, aaguid string
	counter                                                       int64
	backedUp                                                      bool
}

// readPasskeys reads the passkey rows of the users ids (Better Auth ids).
func readPasskeys(ctx context.Context, tx pgx.Tx, s schema, ids []string) (map[string][]passkeyRow, error) {
	out := map[string][]passkeyRow{}
	if s.passkey == "" {
		return out, nil
	}
	cols := s.tables[s.passkey]
	user := s.pluginCol(cols, "userId")
	if cols[user] == "" || cols[s.pluginCol(cols, "credentialID")] == "" || cols[s.pluginCol(cols, "publicKey")] == "" {
		return out, nil
	}
	opt := func(field, typ, zero string) string {
		c := s.pluginCol(cols, field)
		if cols[c] == "" {
			return zero
		}
		return fmt.Sprintf("coalesce(%s::%s, %s)", ident(c), typ, zero)
	}
	q := fmt.Sprintf(`SELECT %s::text, %s, %s, %s, %s, %s, %s, %s, %s FROM %s WHERE %s::text = ANY($1::text[])`,
		ident(user), opt("name", "text", "''"), opt("credentialID", "text", "''"), opt("publicKey", "text", "''"),
		opt("counter", "bigint", "0"), opt("deviceType", "text", "''"), opt("backedUp", "boolean", "false"),
		opt("transports", "text", "''"), opt("aaguid", "text", "''"), ident(s.passkey), ident(user))
	rows, err := tx.Query(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var p passkeyRow
		if err := rows.Scan(&id, &p.name, &p.credentialID, &p.publicKey, &p.counter, &p.deviceType, &p.backedUp, &p.transports, &p.aaguid); err != nil {
			return nil, err
		}
		out[id] = append(out[id], p)
	}
	return out, rows.Err()
}

// decodeB64 reads base64 in any of its spellings (URL or standard alphabet,
// padded or not).
func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	return base64.RawURLEncoding.DecodeString(s)
}

// importTwoFactor brings one user's TOTP secret and backup codes: the backup
// codes become recovery codes, the secret a confirmed TOTP factor. A user who
// already has factors is left alone (a second run changes nothing); a row the
// secret does not open writes nothing for that user.
func importTwoFactor(ctx context.Context, fs FactorStore, o Options, userID string, row twoFactorRow) (string, error) {
	if o.Secret == "" {
		return reasonNoSecret, nil
	}
	have, err := fs.ListFactors(ctx, userID)
	if err != nil {
		return "", err
	}
	for _, f := range have {
		if f.Kind == storage.FactorTOTP {
			return reasonHasFactors, nil
		}
	}
	plain, err := baDecrypt(o.Secret, row.secret)
	if err != nil {
		return reasonWrongSecret, nil
	}
	secret, err := totpSecret(plain)
	if err != nil {
		return reasonBadTOTP, nil
	}
	var codes []string
	if row.backupCodes != "" {
		text := row.backupCodes
		if !strings.HasPrefix(text, "[") { // stored encrypted (Better Auth's default)
			if text, err = baDecrypt(o.Secret, text); err != nil {
				return reasonWrongSecret, nil
			}
		}
		if err := json.Unmarshal([]byte(text), &codes); err != nil {
			return reasonWrongSecret, nil
		}
	}
	if o.DryRun {
		return "", nil
	}
	if len(codes) > 0 {
		hashes := make([][]byte, 0, len(codes))
		seen := map[string]bool{}
		for _, c := range codes {
			h := mfa.RecoveryCodeHash(c)
			if !seen[string(h)] {
				seen[string(h)] = true
				hashes = append(hashes, h)
			}
		}
		if err := fs.ReplaceRecoveryCodes(ctx, userID, hashes); err != nil {
			return "", err
		}
	}
	now := o.Now().UTC()
	_, err = fs.CreateFactor(ctx, storage.Factor{
		UserID: userID, Kind: storage.FactorTOTP, Name: "Authenticator app", Secret: []byte(secret), ConfirmedAt: &now,
	})
	return "", err
}

// importPasskey brings one passkey as a WebAuthn factor.
//
// The user's WebAuthn handle, when they have none, becomes the bytes of their
// Better Auth id: a user needs a handle for their passkeys to be accepted, and
// it is what an authenticator returns if Better Auth registered the key with
// the user id as handle (not checked against Better Auth's passkey plugin).
func importPasskey(ctx context.Context, fs FactorStore, o Options, userID, externalID string, p passkeyRow) (string, error) {
	cred, err := decodeB64(p.credentialID)
	if err != nil || len(cred) == 0 {
		return reasonBadPasskey, nil
	}
	pub, err := decodeB64(p.publicKey)
	if err != nil || len(pub) == 0 {
		return reasonBadPasskey, nil
	}
	if _, err := fs.GetFactorByCredentialID(ctx, cred); err == nil {
		return reasonPasskeyExist, nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return "", err
	}
	var aaguid []byte
	if u, err := uuid.Parse(p.aaguid); err == nil {
		aaguid = u[:]
	}
	if o.DryRun {
		return "", nil
	}
	if len(externalID) <= 64 {
		if _, err := fs.SetWebAuthnHandle(ctx, userID, []byte(externalID)); err != nil && !errors.Is(err, storage.ErrConflict) {
			return "", err
		}
	}
	name := strings.TrimSpace(p.name)
	if name == "" {
		name = "Passkey"
	}
	now := o.Now().UTC()
	_, err = fs.CreateFactor(ctx, storage.Factor{
		UserID: userID, Kind: storage.FactorWebAuthn, Name: name, ConfirmedAt: &now,
		CredentialID: cred, PublicKey: pub, AAGUID: aaguid, SignCount: p.counter,
		BackupEligible: p.deviceType == "multiDevice" || p.backedUp, BackupState: p.backedUp,
		Transports: strings.Join(strings.FieldsFunc(p.transports, func(r rune) bool { return r == ',' || r == ' ' }), ","),
	})
	return "", err
}

// importFactors reads the batch's two-factor and passkey rows and brings them
// for the users the batch imported (external id → Gatehouse id in users).
func importFactors(ctx context.Context, tx pgx.Tx, s schema, o Options, r *Report, users map[string]string) error {
	if len(users) == 0 || (s.twoFactor == "" && s.passkey == "") {
		return nil
	}
	ids := make([]string, 0, len(users))
	for id := range users {
		ids = append(ids, id)
	}
	tf, err := readTwoFactor(ctx, tx, s, ids)
	if err != nil {
		return fmt.Errorf("read %s: %w", s.twoFactor, err)
	}
	pks, err := readPasskeys(ctx, tx, s, ids)
	if err != nil {
		return fmt.Errorf("read passkeys: %w", err)
	}
	for ext, row := range tf {
		why, err := importTwoFactor(ctx, o.Factors, o, users[ext], row)
		if err != nil {
			return fmt.Errorf("import two-factor: %w", err)
		}
		if why != "" {
			r.TwoFactorSkipped[why]++
		} else {
			r.TwoFactorImported++
		}
	}
	for ext, list := range pks {
		for _, p := range list {
			why, err := importPasskey(ctx, o.Factors, o, users[ext], ext, p)
			if err != nil {
				return fmt.Errorf("import passkey: %w", err)
			}
			if why != "" {
				r.PasskeysSkipped[why]++
			} else {
				r.PasskeysImported++
			}
		}
	}
	return nil
}
