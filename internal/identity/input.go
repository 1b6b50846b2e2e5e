package identity

import (
	"strings"
)

// Field names an InputError uses, the same as the form fields and the JSON
// members that carry them.
const (
	FieldEmail    = "email"
	FieldPassword = "password"
	FieldName     = "name"
)

// FieldProblem is one refused field of an input.
type FieldProblem struct {
	// Field is FieldEmail, FieldPassword or FieldName.
	Field string
	// Err is ErrInvalidEmail, a *PasswordError or a *ProfileError.
	Err error
}

// InputError lists every refused field of an input at once, in the order the
// fields are asked for, so that a person fixes them all in one go. It unwraps
// to each field's error: errors.Is(err, ErrInvalidEmail) and errors.As(err,
// &passwordError) see them.
type InputError struct{ Problems []FieldProblem }

// Error is every refusal's sentence, in order: with one problem, exactly
// that field's Error().
func (e *InputError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Err.Error()
	}
	return strings.Join(msgs, " ")
}

// Unwrap returns the error of every refused field.
func (e *InputError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p.Err
	}
	return errs
}

// For returns the error of field, or nil when it was not refused.
func (e *InputError) For(field string) error {
	for _, p := range e.Problems {
		if p.Field == field {
			return p.Err
		}
	}
	return nil
}

// ValidateSignUp applies SignUp's rules to in without touching the database:
// the e-mail address (ValidateEmail), the password (ValidatePassword, and not
// the e-mail address itself) and the name (at most 256 characters). It
// returns nil or an *InputError naming every refused field.
func ValidateSignUp(in SignUpInput) error {
	var e InputError
	email := strings.TrimSpace(in.Email)
	emailOK := true
	if err := ValidateEmail(email); err != nil {
		e.Problems = append(e.Problems, FieldProblem{FieldEmail, err})
		emailOK = false
	}
	pwErr := ValidatePassword(in.Password)
	if pwErr == nil && emailOK {
		pwErr = validatePasswordFor(in.Password, email)
	}
	if pwErr != nil {
		e.Problems = append(e.Problems, FieldProblem{FieldPassword, pwErr})
	}
	if err := checkName(FieldName, strings.TrimSpace(in.Name)); err != nil {
		e.Problems = append(e.Problems, FieldProblem{FieldName, err})
	}
	if len(e.Problems) == 0 {
		return nil
	}
	return &e
}
