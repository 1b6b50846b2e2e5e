// Drives Gatehouse's two-factor paths (/api/auth/two-factor/*) with Better
// Auth's own client and its twoFactorClient plugin, in bearer mode (a native
// app: no cookie jar; the session token from set-auth-token goes back as
// Authorization: Bearer, and the pending sign-in's better-auth.two_factor
// cookie is kept from Set-Cookie and sent back in a Cookie header, as Better
// Auth's own native clients do). TOTP codes are computed here (RFC 6238) from
// the totpURI the client receives. Run by cmd/gatehouse's
// TestBetterAuthTwoFactor with GATEHOUSE_URL and MAIL_URL (as
// betterauth-client.mjs). Prints one JSON line per step; exits non-zero on the
// first failure.
import { createHmac } from "node:crypto";
import { twoFactorClient } from "better-auth/client/plugins";
import { bearerClient, fail, mailToken, must, ok, refused } from "./betterauth-common.mjs";

let token = "";
let pending = ""; // "better-auth.two_factor=…", while a sign-in waits for its second factor
let redirected = null; // what onTwoFactorRedirect was called with

const authClient = bearerClient(
  () => token,
  (t) => (token = t),
  {
    plugins: [
      twoFactorClient({
        onTwoFactorRedirect: (ctx) => {
          redirected = ctx;
        },
      }),
    ],
    fetchOptions: {
      onRequest: (ctx) => {
        if (pending) ctx.headers.set("cookie", pending);
        return ctx;
      },
      onResponse: (ctx) => {
        for (const c of ctx.response.headers.getSetCookie()) {
          const pair = c.split(";")[0];
          if (pair.startsWith("better-auth.two_factor=")) pending = pair.endsWith("=") ? "" : pair;
        }
      },
    },
  },
);

// RFC 4648 base32, as otpauth URIs carry the secret.
function base32(s) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of s.replace(/=+$/, "").toUpperCase()) {
    const i = alphabet.indexOf(ch);
    if (i < 0) throw new Error("not base32: " + ch);
    value = ((value << 5) | i) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// The RFC 6238 code (HOTP, RFC 4226, of the time step) of uri at time ms.
function totp(uri, ms) {
  const q = new URL(uri).searchParams;
  const period = Number(q.get("period") || 30);
  const digits = Number(q.get("digits") || 6);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(ms / 1000 / period)));
  const mac = createHmac("sha1", base32(q.get("secret"))).update(counter).digest();
  const off = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(off) & 0x7fffffff) % 10 ** digits).padStart(digits, "0");
}

// A code the app shows at none of the two steps before ms, ms, or the two after.
function wrongCode(uri, ms) {
  const shown = [-60000, -30000, 0, 30000, 60000].map((d) => totp(uri, ms + d));
  return ["000000", "000001", "000002", "000003"].find((c) => !shown.includes(c));
}

const email = `node-2fa-${Date.now()}@example.com`;
const password = "a passphrase for two factors";

await must("sign-up", authClient.signUp.email({ name: "Node Two-Factor", email, password }));
await must("verify-email", authClient.verifyEmail({ query: { token: await mailToken(email, "/verify-email") } }));
const si = await must("sign-in", authClient.signIn.email({ email, password }));
if (!si.token || si.token !== token) fail("sign-in", si);
ok("sign-in");
// Better Auth's twoFactorEnabled on the user: false until an app is confirmed.
const before = await authClient.getSession();
if (before.error || si.user.twoFactorEnabled !== false || before.data?.user.twoFactorEnabled !== false) fail("2fa off before enable", { si, before });
ok("2fa off before enable");

await refused("enable wrong password", authClient.twoFactor.enable({ password: "not the password" }), 400, "INVALID_PASSWORD");
const en = await must("enable", authClient.twoFactor.enable({ password }));
if (!en.totpURI?.startsWith("otpauth://totp/") || en.backupCodes?.length !== 10) fail("enable", en);
const uri = en.totpURI;
ok("enable", { codes: en.backupCodes.length });
const again = await must("get-totp-uri", authClient.twoFactor.getTotpUri({ password }));
if (new URL(again.totpURI).searchParams.get("secret") !== new URL(uri).searchParams.get("secret")) fail("get-totp-uri", again);
ok("get-totp-uri");
const enrolling = await must("get-session while enrolling", authClient.getSession());
if (enrolling?.user.twoFactorEnabled !== false) fail("get-session while enrolling", enrolling);

// The first code confirms the app; the session stays.
const confirmAt = Date.now();
const confirmed = await must("verify-totp signed in", authClient.twoFactor.verifyTotp({ code: totp(uri, confirmAt) }));
if (confirmed.token !== token || confirmed.user.email !== email || confirmed.user.twoFactorEnabled !== true) fail("verify-totp signed in", confirmed);
const on = await authClient.getSession();
if (on.error || on.data?.user.twoFactorEnabled !== true) fail("get-session after confirming", on);
ok("confirm app");

await must("sign-out", authClient.signOut());
token = "";
const first = await must("sign-in with app", authClient.signIn.email({ email, password }));
if (first.twoFactorRedirect !== true || !first.twoFactorMethods?.includes("totp") || first.token) fail("sign-in with app", first);
if (!redirected || !redirected.twoFactorMethods?.includes("totp")) fail("onTwoFactorRedirect", redirected);
if (token !== "" || !pending) fail("sign-in with app", { token, pending: !!pending });
const none = await must("get-session pending", authClient.getSession());
if (none !== null) fail("get-session pending", none);
ok("two-factor redirect", { methods: first.twoFactorMethods });

// The next step's code: the confirming one is spent (each code once).
const signInCode = totp(uri, confirmAt + 30000);
await refused("wrong code", authClient.twoFactor.verifyTotp({ code: wrongCode(uri, confirmAt + 30000) }), 401, "INVALID_CODE");
const v = await must("verify-totp", authClient.twoFactor.verifyTotp({ code: signInCode, trustDevice: true }));
if (!v.token || v.token !== token || v.user.email !== email || v.user.twoFactorEnabled !== true || pending !== "") fail("verify-totp", { v, pending: !!pending });
const s = await must("get-session after verify-totp", authClient.getSession());
if (!s || s.user.email !== email || s.session.token !== token || s.user.twoFactorEnabled !== true) fail("get-session after verify-totp", s);
ok("verify-totp");

const device = token;
token = "";
redirected = null;
await must("sign-in again", authClient.signIn.email({ email, password }));
if (!redirected || !pending) fail("sign-in again", { redirected, pending: !!pending });
await refused("replayed code", authClient.twoFactor.verifyTotp({ code: signInCode }), 401, "INVALID_CODE");
const bc = await must("verify-backup-code", authClient.twoFactor.verifyBackupCode({ code: en.backupCodes[0] }));
if (!bc.token || bc.token !== token || pending !== "") fail("verify-backup-code", bc);
ok("verify-backup-code");

token = "";
await must("sign-in a third time", authClient.signIn.email({ email, password }));
await refused("spent backup code", authClient.twoFactor.verifyBackupCode({ code: en.backupCodes[0] }), 401, "INVALID_BACKUP_CODE");
pending = "";
await refused("no pending sign-in", authClient.twoFactor.verifyTotp({ code: "123456" }), 401, "INVALID_TWO_FACTOR_COOKIE");
await refused("send-otp", authClient.twoFactor.sendOtp(), 400, "OTP_NOT_CONFIGURED");

token = device;
const gen = await must("generate-backup-codes", authClient.twoFactor.generateBackupCodes({ password }));
if (gen.status !== true || gen.backupCodes?.length !== 10 || gen.backupCodes.includes(en.backupCodes[1])) fail("generate-backup-codes", gen);
ok("generate-backup-codes");

await refused("disable wrong password", authClient.twoFactor.disable({ password: "not the password" }), 400, "INVALID_PASSWORD");
await must("disable", authClient.twoFactor.disable({ password }));
const off = await authClient.getSession();
if (off.error || off.data?.user.twoFactorEnabled !== false) fail("2fa off after disable", off);
token = "";
redirected = null;
const plain = await must("sign-in after disable", authClient.signIn.email({ email, password }));
if (!plain.token || plain.token !== token || redirected || plain.user.twoFactorEnabled !== false) fail("sign-in after disable", plain);
ok("disable");
ok("2fa off after disable");
