// Package web serves Gatehouse's HTML pages: sign-in, sign-up, consent, sign-out,
// forgot and reset password, e-mail verification, the account page and the error
// page. It implements signin.Interaction, so the protocol endpoints hand the
// browser to these pages, and it owns the browser side of the session cookie
// through internal/session.
//
// Routes (listed in internal/server/routes.go): GET/POST /signin, GET/POST /signup,
// POST /consent, POST /signout, GET/POST /forgot-password, GET/POST
// /reset-password, GET /verify-email, GET /account, POST /account/profile,
// POST /account/password, POST /account/verify-email,
// GET/POST /account/applications/revoke and GET/POST /account/sessions/end
// (GET asks, POST does), POST /account/sessions/sign-out (one other device),
// GET /static/branding.css (the branding's colours, see internal/branding), GET
// /static/… and GET /favicon.ico. The server also shows ErrorPage for a
// browser's unknown path. Every form is protected against cross-site request
// forgery by Pages.CSRF. Every page shows the branding in force (product name,
// logo, favicon, support link and colours) through the base layout.
//
// Errors are announced the same way on every form: an error summary first in
// the page (role=alert), each problem linking to its field, "Error: " before
// the title, and the page's one script (static/gatehouse.js, same origin,
// progressive enhancement only) moving the focus to it; it also shows the
// show-password buttons. Detours (forgot password, the reset link, e-mail
// verification, an expired form, "Not you?") carry the pending
// authorization as continue, checked by continueTarget, and end back in it.
// Sign-up leaves a short-lived ticket cookie (gatehouse_signup, __Host- on
// https) in the browser that signed up, so that the mailed verification link,
// opened there, signs the person in and continues the pending authorization.
package web
