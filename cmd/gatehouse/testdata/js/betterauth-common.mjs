// What the Better Auth client scripts (betterauth-*.mjs) share: Better Auth's
// client in bearer mode, as a native app uses it, and the steps they print,
// one JSON line each, stopping at the first failure.
import { createAuthClient } from "better-auth/client";

// bearerClient is Better Auth's client for GATEHOUSE_URL in bearer mode: no
// cookies; token() goes as Authorization: Bearer, and a token the server
// hands out in set-auth-token goes to setToken. plugins and fetchOptions (the
// script's own hooks) are added.
export function bearerClient(token, setToken, { plugins = [], fetchOptions = {} } = {}) {
  return createAuthClient({
    baseURL: process.env.GATEHOUSE_URL,
    plugins,
    fetchOptions: {
      ...fetchOptions,
      auth: { type: "Bearer", token },
      onSuccess: (ctx) => {
        const t = ctx.response.headers.get("set-auth-token");
        if (t) setToken(t);
      },
    },
  });
}

export function fail(step, detail) {
  console.log(JSON.stringify({ step, ok: false, detail }));
  process.exit(1);
}

export function ok(step, detail = {}) {
  console.log(JSON.stringify({ step, ok: true, ...detail }));
}

// must is the data of the call p, or the step's failure.
export async function must(step, p) {
  const { data, error } = await p;
  if (error) fail(step, error);
  return data;
}

// refused passes when the call p is refused with status and code.
export async function refused(step, p, status, code) {
  const { data, error } = await p;
  if (!error || error.status !== status || error.code !== code) fail(step, { data, error, want: { status, code } });
  ok(step, { code });
}

// mailToken asks the test's mail reader (MAIL_URL) for the token of the
// newest mail to `to` with a link to path.
export async function mailToken(to, path) {
  const res = await fetch(`${process.env.MAIL_URL}?to=${encodeURIComponent(to)}&path=${encodeURIComponent(path)}`);
  if (!res.ok) fail("mail " + path, await res.text());
  return (await res.text()).trim();
}
