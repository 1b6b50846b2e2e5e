// Drives Gatehouse's /api/auth with Better Auth's own client library, in
// bearer mode (a native app: no cookies, the token from set-auth-token sent as
// Authorization: Bearer). Run by cmd/gatehouse's TestBetterAuthClient with
// GATEHOUSE_URL (the issuer) and MAIL_URL (the test's mail reader: GET
// ?to=<address>&path=<link path> answers the token of the newest such mail).
// Prints one JSON line per step; exits non-zero on the first failure.
import { bearerClient, fail, mailToken, must, ok } from "./betterauth-common.mjs";

let token = "";
const authClient = bearerClient(
  () => token,
  (t) => (token = t),
);

const email = `node-${Date.now()}@example.com`;
const pw1 = "a passphrase for node one";
const pw2 = "a passphrase for node two";
const pw3 = "a passphrase for node three";

const up = await must("sign-up", authClient.signUp.email({ name: "Node Client", email, password: pw1 }));
if (up.token !== null || up.user.email !== email || up.user.emailVerified !== false) fail("sign-up", up);
ok("sign-up", { id: up.user.id });

await must("verify-email", authClient.verifyEmail({ query: { token: await mailToken(email, "/verify-email") } }));
ok("verify-email");

const wrong = await authClient.signIn.email({ email, password: "not the password" });
if (!wrong.error || wrong.error.status !== 401 || wrong.error.code !== "INVALID_EMAIL_OR_PASSWORD") fail("sign-in wrong", wrong.error);
ok("sign-in wrong password", { code: wrong.error.code });

const si = await must("sign-in", authClient.signIn.email({ email, password: pw1 }));
if (!si.token || si.token !== token || !si.user.emailVerified) fail("sign-in", si);
ok("sign-in");

const s = await must("get-session", authClient.getSession());
if (!s || s.user.email !== email || s.session.token !== token) fail("get-session", s);
const firstSession = s.session.id;
ok("get-session", { session: firstSession });

const cp = await must("change-password", authClient.changePassword({ currentPassword: pw1, newPassword: pw2, revokeOtherSessions: true }));
if (!cp.token || cp.token !== token) fail("change-password", cp);
ok("change-password");

// A second session (the same person on another device), then list and revoke.
const mine = token;
await must("second sign-in", authClient.signIn.email({ email, password: pw2 }));
const other = token;
token = mine;
const list = await must("list-sessions", authClient.listSessions());
if (!Array.isArray(list) || list.length !== 2) fail("list-sessions", list);
ok("list-sessions", { count: list.length });
const otherHandle = list.find((x) => x.token !== mine).token;
await must("revoke-session", authClient.revokeSession({ token: otherHandle }));
token = other;
const gone = await must("revoked get-session", authClient.getSession());
if (gone !== null) fail("revoke-session", gone);
token = mine;
ok("revoke-session");
await must("revoke-other-sessions", authClient.revokeOtherSessions());
const still = await must("get-session after revoke-other-sessions", authClient.getSession());
if (!still) fail("revoke-other-sessions", "own session ended");
ok("revoke-other-sessions");

await must("request-password-reset", authClient.requestPasswordReset({ email, redirectTo: "/reset" }));
await must("reset-password", authClient.resetPassword({ newPassword: pw3, token: await mailToken(email, "/reset-password") }));
const afterReset = await must("get-session after reset", authClient.getSession());
if (afterReset !== null) fail("reset-password", "the session survived the reset");
ok("reset-password");

await must("sign-in after reset", authClient.signIn.email({ email, password: pw3 }));
await must("sign-out", authClient.signOut());
const out = await must("get-session after sign-out", authClient.getSession());
if (out !== null) fail("sign-out", out);
ok("sign-out");
