// Drives Gatehouse's account endpoints with Better Auth's own client library
// (bearer mode, as a native app): listAccounts, getAccessToken, unlinkAccount,
// and linkSocial's refusal without the browser's cookie. Run by cmd/gatehouse's
// TestBetterAuthAccounts with GATEHOUSE_URL (the issuer) and SESSION_TOKEN (a
// session of a user with a password and two linked providers: "upstream",
// whose tokens are kept, and "plain", whose are not). Prints one JSON line per
// step; exits non-zero on the first failure.
import { bearerClient, fail, must, ok, refused } from "./betterauth-common.mjs";

// The session token stays the one given.
const authClient = bearerClient(
  () => process.env.SESSION_TOKEN,
  () => {},
);
const providers = (list) => list.map((a) => a.providerId).join(",");

const list = await must("list-accounts", authClient.listAccounts());
if (providers(list) !== "credential,plain,upstream") fail("list-accounts", list);
for (const a of list) {
  if (!a.id || !a.accountId || !a.userId || !Array.isArray(a.scopes) || isNaN(Date.parse(a.createdAt))) fail("list-accounts", a);
}
const upstream = list.find((a) => a.providerId === "upstream");
const plain = list.find((a) => a.providerId === "plain");
ok("list-accounts", { upstreamAccountId: upstream.accountId });

const tok = await must("get-access-token", authClient.getAccessToken({ accountId: upstream.id }));
if (!tok.accessToken || isNaN(Date.parse(tok.accessTokenExpiresAt)) || !tok.scopes.includes("openid")) fail("get-access-token", tok);
// The token goes to the Go test, which compares it with what the provider issued.
ok("get-access-token", { accessToken: tok.accessToken });

await refused("get-access-token not kept", authClient.getAccessToken({ accountId: plain.id }), 400, "ACCESS_TOKEN_NOT_FOUND");
await refused("link-social without the cookie", authClient.linkSocial({ provider: "upstream", callbackURL: "/account", disableRedirect: true }), 400, "NOT_SUPPORTED");

const un = await must("unlink-account", authClient.unlinkAccount({ accountId: upstream.id }));
if (un.status !== true) fail("unlink-account", un);
const after = await must("unlink-account", authClient.listAccounts());
if (providers(after) !== "credential,plain") fail("unlink-account", after);
ok("unlink-account");

await refused("unlink-account again", authClient.unlinkAccount({ accountId: upstream.id }), 400, "ACCOUNT_NOT_FOUND");
