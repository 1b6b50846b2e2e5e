package mfa

import "fmt"

// Policy says when a user must sign in with a second factor.
type Policy string

// The policies. A client's policy ("" follows the server's) wins over the
// server's.
const (
	// PolicyOptional: users choose (the default). Users with a factor are
	// always asked for it.
	PolicyOptional Policy = "optional"
	// PolicyRequired: every user must use a second factor; one without is
	// walked through enrolment after the password.
	PolicyRequired Policy = "required"
	// PolicyIfEnrolled: users who have a factor must use it; others sign in
	// with the password alone.
	PolicyIfEnrolled Policy = "if_enrolled"
)

// ParsePolicy checks a policy's spelling; "" is PolicyOptional.
func ParsePolicy(s string) (Policy, error) {
	switch Policy(s) {
	case "":
		return PolicyOptional, nil
	case PolicyOptional, PolicyRequired, PolicyIfEnrolled:
		return Policy(s), nil
	}
	return "", fmt.Errorf("unknown MFA policy %q (want optional, required or if_enrolled)", s)
}

// ValidClientPolicy reports whether s may be stored as a client's policy ("" or
// one of the policies).
func ValidClientPolicy(s string) bool {
	_, err := ParsePolicy(s)
	return err == nil
}

// PolicyFor returns the policy in force for a client whose stored policy is
// clientPolicy ("" or unknown: the server's).
func (s *Service) PolicyFor(clientPolicy string) Policy {
	if clientPolicy == "" {
		return s.policy
	}
	if p, err := ParsePolicy(clientPolicy); err == nil {
		return p
	}
	return s.policy
}

// Step is what the sign-in must do after the password.
type Step int

// The steps after the password.
const (
	// StepNone: the password is enough.
	StepNone Step = iota
	// StepVerify: ask for one of the user's factors.
	StepVerify
	// StepEnrol: the user has no factor but must use one: enrol first.
	StepEnrol
)

// Next returns the step after the password for a user with methods m under
// policy p. A user with a factor is always asked for it, whatever the policy:
// a factor added is a factor used.
func Next(p Policy, m Methods) Step {
	switch {
	case m.Enrolled():
		return StepVerify
	case p == PolicyRequired:
		return StepEnrol
	}
	return StepNone
}
