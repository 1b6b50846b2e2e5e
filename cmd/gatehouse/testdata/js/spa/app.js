// A single-page app as oidc-client-ts documents it: a public client that signs in
// with the authorization code flow and PKCE, and calls the token, userinfo and
// revocation endpoints from its own origin with fetch (CORS). The test reads what
// it found in #result, as JSON; #result gets data-done when a step has finished.
//
//   /          the start page: #login sends the browser to the provider
//   /callback  finishes the sign-in, refreshes, calls userinfo; #revoke then
//              revokes the tokens and checks they stopped working
//   /blocked   from an origin no client allows: every call must be unreadable
"use strict";

const cfg = window.SPA_CONFIG;
const out = document.getElementById("result");

function show(v) {
  out.textContent = JSON.stringify(v);
  out.dataset.done = String(Number(out.dataset.done || "0") + 1);
}

const mgr = new oidc.UserManager({
  authority: cfg.issuer,
  client_id: cfg.clientId,
  redirect_uri: location.origin + "/callback",
  response_type: "code",
  scope: "openid profile email offline_access",
  loadUserInfo: true,
  automaticSilentRenew: false,
  userStore: new oidc.WebStorageStateStore({ store: window.sessionStorage }),
});

// form posts a form to the provider and returns the status, or "blocked" when the
// browser does not let the page read the response.
async function form(path, fields) {
  try {
    const r = await fetch(cfg.issuer + path, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields),
    });
    return r.status;
  } catch (e) {
    return "blocked";
  }
}

async function userinfo(token) {
  try {
    const r = await fetch(cfg.issuer + "/userinfo", { headers: { Authorization: "Bearer " + token } });
    return { status: r.status, body: r.ok ? await r.json() : null };
  } catch (e) {
    return { status: "blocked" };
  }
}

async function callback() {
  const user = await mgr.signinRedirectCallback();
  // signinSilent uses the refresh token when the user has one.
  const refreshed = await mgr.signinSilent();
  const info = await userinfo(refreshed.access_token);
  show({
    step: "signed-in",
    email: user.profile.email,
    userinfoEmail: info.body && info.body.email,
    hasRefreshToken: Boolean(user.refresh_token),
    refreshed: refreshed.access_token !== user.access_token && refreshed.refresh_token !== user.refresh_token,
    accessToken: refreshed.access_token,
  });
  const revoke = document.getElementById("revoke");
  revoke.hidden = false;
  revoke.onclick = async () => {
    const current = await mgr.getUser();
    const access = current.access_token, refresh = current.refresh_token;
    await mgr.revokeTokens(["refresh_token", "access_token"]);
    show({
      step: "revoked",
      refreshAfterRevoke: await form("/oauth2/token", { grant_type: "refresh_token", refresh_token: refresh, client_id: cfg.clientId }),
      userinfoAfterRevoke: (await userinfo(access)).status,
    });
  };
}

async function blocked() {
  show({
    step: "blocked",
    token: await form("/oauth2/token", { grant_type: "refresh_token", refresh_token: "x", client_id: cfg.clientId }),
    revoke: await form("/oauth2/revoke", { token: "x", client_id: cfg.clientId }),
    userinfo: (await userinfo(cfg.accessToken)).status,
  });
}

async function main() {
  switch (location.pathname) {
    case "/":
      document.getElementById("login").onclick = () => mgr.signinRedirect().catch((e) => show({ error: String(e) }));
      break;
    case "/callback":
      await callback();
      break;
    case "/blocked":
      await blocked();
      break;
  }
}

main().catch((e) => show({ error: String(e && e.message ? e.message : e) }));
