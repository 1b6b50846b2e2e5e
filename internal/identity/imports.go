package identity

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/google/uuid"
)

// ImportUser is one user of another system to bring into Gatehouse
// (gatehouse import). The source's rules made it; ImportUsers applies ours.
type ImportUser struct {
	// ExternalID is the user's id in the source. It becomes the Gatehouse id
	// when it is a UUID no user has; either way the mapping (source,
	// ExternalID) → user id is kept.
	ExternalID    string
	Email, Name   string
	Picture       string
	EmailVerified bool
	// PasswordHash is the hash as the source stored it (LegacyHash's input);
	// empty means the user has no password there.
	PasswordHash string
	// CreatedAt and UpdatedAt are the source's; a created user keeps them.
	CreatedAt, UpdatedAt time.Time
	// Identities are the user's accounts at upstream identity providers.
	Identities []ImportIdentity
}

// ImportIdentity is an account at an upstream identity provider: Provider as
// the source names it ("github"), AccountID the provider's id of the account.
type ImportIdentity struct{ Provider, AccountID string }

// ImportAction says what ImportUsers did with one user.
type ImportAction string

// The actions.
const (
	// ImportCreated: a new Gatehouse user.
	ImportCreated ImportAction = "imported"
	// ImportUpdated: the user was imported before and something differed.
	ImportUpdated ImportAction = "updated"
	// ImportUnchanged: the user was imported before and nothing differed.
	ImportUnchanged ImportAction = "unchanged"
	// ImportSkipped: not imported; Reason says why.
	ImportSkipped ImportAction = "skipped"
)

// ImportResult is what ImportUsers did with one ImportUser.
type ImportResult struct {
	ExternalID string
	// UserID is the Gatehouse user ("" when skipped).
	UserID string
	Action ImportAction
	// Reason says why a user was skipped, in a short sentence without
	// personal data, fit to be counted (the same reason, the same text).
	Reason string
	// Changed names the fields an update changed.
	Changed []string
	// Password says what became of the source's password hash: "" (none),
	// "scrypt" or "bcrypt" (kept), or "unreadable" (dropped: the user resets it).
	Password string
	// IdentitiesAdded are the upstream accounts stored now.
	IdentitiesAdded []ImportIdentity
	// Notes are what was left out of a user that was imported anyway, each a
	// short sentence fit to be counted.
	Notes []string
}

// ImportUsers brings a batch of users of the source system (a short name such
// as "better-auth") into Gatehouse, in one transaction: it writes all of them
// or, on an error, none. With dryRun it decides the same but writes nothing.
//
// It is idempotent: a user imported before is found through the mapping and
// updated only where the source differs (name, e-mail, picture, e-mail
// verified, which is never taken back, and the imported password hash while
// the user has not signed in yet; a password set or re-hashed in Gatehouse
// wins). A user whose e-mail address belongs to a Gatehouse user not imported
// from this source is skipped, never merged: the two may be different people.
// The password hash is kept as it is (LegacyHash); the first sign-in replaces
// it with argon2id.
func (s *Service) ImportUsers(ctx context.Context, source string, batch []ImportUser, dryRun bool) ([]ImportResult, error) {
	if source == "" {
		return nil, errors.New("import users: no source")
	}
	var out []ImportResult
	apply := func(ctx context.Context) error {
		out = out[:0] // InTx may run this again after a serialisation failure
		for _, in := range batch {
			r, err := s.importOne(ctx, source, in, dryRun)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	}
	var err error
	if dryRun {
		err = apply(ctx)
	} else {
		err = s.store.InTx(ctx, apply)
	}
	if err != nil {
		return nil, fmt.Errorf("import users: %w", err)
	}
	return out, nil
}

// importOne decides and (unless dryRun) applies the import of one user.
func (s *Service) importOne(ctx context.Context, source string, in ImportUser, dryRun bool) (ImportResult, error) {
	r := ImportResult{ExternalID: in.ExternalID}
	skip := func(reason string) (ImportResult, error) {
		r.Action, r.Reason = ImportSkipped, reason
		return r, nil
	}
	if in.ExternalID == "" || !utf8Text(in.ExternalID) {
		return skip("no usable id")
	}
	email := strings.TrimSpace(in.Email)
	if err := ValidateEmail(email); err != nil {
		return skip("e-mail address not accepted")
	}
	name := strings.TrimSpace(in.Name)
	if err := checkName("name", name); err != nil {
		return skip("name longer than 256 characters")
	}
	picture := strings.TrimSpace(in.Picture)
	if picture != "" && !httpsURL(picture) {
		picture = ""
		r.Notes = append(r.Notes, "image left out: not an https URL")
	}
	hash := ""
	if in.PasswordHash != "" {
		h, err := LegacyHash(in.PasswordHash)
		if err != nil {
			r.Password = "unreadable"
			r.Notes = append(r.Notes, "password hash not recognised: the user must reset the password")
		} else {
			hash = h
			r.Password = "scrypt"
			if isBcrypt(h) {
				r.Password = "bcrypt"
			}
		}
	}

	m, err := s.store.GetImportedUser(ctx, source, in.ExternalID)
	switch {
	case err == nil:
		u, err := s.store.GetUser(ctx, m.UserID)
		if err != nil {
			return r, err
		}
		r.UserID = u.ID
		next := u
		next.Email, next.Name, next.Picture = storage.NormalizeEmail(email), name, picture
		next.EmailVerified = u.EmailVerified || in.EmailVerified
		if hash != "" && (u.PasswordHash == "" || IsLegacyHash(u.PasswordHash)) {
			next.PasswordHash = hash
		}
		r.Changed = changedFields(u, next)
		if slices.Contains(r.Changed, "email") {
			if other, err := s.store.GetUserByEmail(ctx, next.Email); err == nil && other.ID != u.ID {
				return skip("new e-mail address already belongs to another Gatehouse user")
			} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return r, err
			}
		}
		r.Action = ImportUnchanged
		if len(r.Changed) > 0 {
			r.Action = ImportUpdated
			if !dryRun {
				if _, err := s.store.UpdateUser(ctx, next); err != nil {
					return r, err
				}
			}
		}
	case errors.Is(err, storage.ErrNotFound):
		if _, err := s.store.GetUserByEmail(ctx, email); err == nil {
			return skip("e-mail address already belongs to a Gatehouse user")
		} else if !errors.Is(err, storage.ErrNotFound) {
			return r, err
		}
		id := uuid.NewString()
		if uuid.Validate(in.ExternalID) == nil && len(in.ExternalID) == 36 {
			if _, err := s.store.GetUser(ctx, strings.ToLower(in.ExternalID)); errors.Is(err, storage.ErrNotFound) {
				id = strings.ToLower(in.ExternalID)
			} else if err != nil {
				return r, err
			}
		}
		r.UserID, r.Action = id, ImportCreated
		if !dryRun {
			_, err := s.store.CreateImportedUser(ctx, storage.User{
				ID: id, Email: email, EmailVerified: in.EmailVerified, Name: name, Picture: picture,
				PasswordHash: hash, CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt,
			}, storage.ImportedUser{Source: source, ExternalID: in.ExternalID})
			if err != nil {
				return r, err
			}
		}
	default:
		return r, err
	}

	for _, x := range in.Identities {
		if x.Provider == "" || x.AccountID == "" || !utf8Text(x.Provider) || !utf8Text(x.AccountID) {
			r.Notes = append(r.Notes, "social account without provider or account id left out")
			continue
		}
		e, err := s.store.GetExternalIdentity(ctx, x.Provider, x.AccountID)
		switch {
		case err == nil && e.UserID == r.UserID:
			continue
		case err == nil:
			r.Notes = append(r.Notes, "social account left out: it belongs to another Gatehouse user")
			continue
		case !errors.Is(err, storage.ErrNotFound):
			return r, err
		}
		if !dryRun {
			if _, err := s.store.CreateExternalIdentity(ctx, storage.ExternalIdentity{
				UserID: r.UserID, Provider: x.Provider, AccountID: x.AccountID, Source: source,
			}); err != nil {
				return r, err
			}
		}
		r.IdentitiesAdded = append(r.IdentitiesAdded, x)
	}
	if r.Action == ImportUnchanged && len(r.IdentitiesAdded) > 0 {
		r.Action = ImportUpdated
		r.Changed = append(r.Changed, "social accounts")
	}
	if r.Action == ImportCreated {
		s.log.DebugContext(ctx, "user imported", "source", source, "user_id", r.UserID, "dry_run", dryRun)
	}
	return r, nil
}

// changedFields names the fields an import may change that differ.
func changedFields(a, b storage.User) []string {
	var out []string
	if a.Email != b.Email {
		out = append(out, "email")
	}
	if a.Name != b.Name {
		out = append(out, "name")
	}
	if a.Picture != b.Picture {
		out = append(out, "image")
	}
	if a.EmailVerified != b.EmailVerified {
		out = append(out, "email_verified")
	}
	if a.PasswordHash != b.PasswordHash {
		out = append(out, "password")
	}
	return out
}

// httpsURL reports whether v is an https URL fit for the picture claim.
func httpsURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && u.Scheme == "https" && u.Host != "" && len(v) <= maxPictureLen
}

// utf8Text reports whether v is text a key may hold: valid UTF-8, no NUL.
func utf8Text(v string) bool {
	return strings.ToValidUTF8(v, "") == v && !strings.ContainsRune(v, 0)
}

// LookupImportedUser returns the mapping of the source's user externalID to a
// Gatehouse user, or an error wrapping storage.ErrNotFound.
func (s *Service) LookupImportedUser(ctx context.Context, source, externalID string) (storage.ImportedUser, error) {
	m, err := s.store.GetImportedUser(ctx, source, externalID)
	if err != nil {
		return storage.ImportedUser{}, fmt.Errorf("look up imported user: %w", err)
	}
	return m, nil
}

// ExternalIdentities returns the user's accounts at upstream identity
// providers, kept by an import for federation to link.
func (s *Service) ExternalIdentities(ctx context.Context, userID string) ([]storage.ExternalIdentity, error) {
	out, err := s.store.ListExternalIdentities(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("external identities: %w", err)
	}
	return out, nil
}
