package web

// Problem is one entry of a page's error summary (the "error-summary" block of
// base.html): the box at the top of the form that lists every problem, each
// linking to the field to fix, which the page's script focuses on load.
type Problem struct {
	// Message says what is wrong, the same sentence as under the field.
	Message string
	// FieldID is the id of the input to fix, which the entry links to; ""
	// when no one field is to blame.
	FieldID string
	// ID is the entry's element id, when it has one: the form's own message
	// is "form-error" (inputs it concerns are described by the whole
	// summary, Field.FormError).
	ID string
}

// markError puts the word for "Error:" before the page's title
// (common.error_title) while it reports problems, so that the first thing a
// screen reader says is that something went wrong.
func (l *Layout) markError() {
	l.Title = l.text("common.error_title", "Title", l.Title)
}

// summarize lists the page's problems for its error summary and marks its
// title: formError first (the form's own message, such as "E-mail or password
// is incorrect.", linked to the first of fields), then every field's error in
// the order given (the order of the form). It does nothing when there is no
// problem, and may be called once per render.
func (l *Layout) summarize(formError string, fields ...*Field) {
	if formError != "" {
		pr := Problem{Message: formError, ID: "form-error"}
		if len(fields) > 0 {
			pr.FieldID = fields[0].ID
		}
		l.Problems = append(l.Problems, pr)
	}
	for _, f := range fields {
		if f.Error != "" {
			l.Problems = append(l.Problems, Problem{Message: f.Error, FieldID: f.ID})
		}
	}
	if len(l.Problems) > 0 {
		l.markError()
	}
}

// keepPasswords decides which typed passwords a page shows again after a
// problem. A password is put back into its field only when it passed every
// check and something else was wrong (the e-mail address, the name), so that
// the person does not type a good password twice more; its confirmation only
// when it matched too. Never one that was refused: it must be typed anew.
//
// The password travels back on the response to the post that carried it, to
// the same origin, with Cache-Control: no-store, under a policy that runs no
// script but our own; nothing that could not read the post can read the
// answer. Sign-in and the current password never come back: a wrong one is
// the only reason they fail.
func keepPasswords(password *Field, confirm *Field, typed, typedConfirm string) {
	if password.Error != "" || typed == "" {
		return
	}
	password.Value = typed
	if confirm != nil && confirm.Error == "" && typedConfirm == typed {
		confirm.Value = typedConfirm
	}
}

// message is an error that is one message of the catalogue, by key, so that a
// form's own problems ("form.enter_current_password") and identity's refusals
// are shown alike (Layout.problemText).
type message string

func (m message) Error() string               { return string(m) }
func (m message) MessageKey() string          { return string(m) }
func (m message) MessageArgs() map[string]any { return nil }

// problemText is the sentence of a field's problem, in the page's language;
// "" for none.
func (l Layout) problemText(err error) string {
	if err == nil {
		return ""
	}
	return l.errorText(err, "error.go_back")
}
