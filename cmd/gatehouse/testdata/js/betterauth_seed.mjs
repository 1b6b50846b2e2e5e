// betterauth_seed.mjs fills a PostgreSQL database the way a real Better Auth
// app does, for cmd/gatehouse's importer test: Better Auth's own migrations
// create its schema (with the two-factor plugin's table), its own sign-up
// endpoint hashes the passwords, its own sign-in makes the sessions.
//
// Usage: node betterauth_seed.mjs < spec.json, with DATABASE_URL set and
// CASING=camel (Better Auth's default) or CASING=snake (every column renamed
// to snake_case through the fields options). spec.json:
//   {"users": [{"email", "password", "name", "signIns": n}],
//    "social": [{"email", "name", "provider", "accountId"}],
//    "twoFactorFor": [email…], "passkeys": n}
// twoFactorFor users enable TOTP through the two-factor plugin's own endpoint
// (so their secret and backup codes are encrypted as Better Auth does it, with
// BETTER_AUTH_SECRET from the environment); passkeys creates a "passkey" table
// shaped like the passkey plugin's (not installed here) with n rows for the
// first user.
// It prints {"users": [{"id", "email"}], "sessions": n, "twoFactor": [{"email",
// "totpSecret" (base32), "backupCodes"}], "passkeys": [{"credentialID",
// "counter"}]} on stdout.
import pg from "pg";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { twoFactor } from "better-auth/plugins";

const url = process.env.DATABASE_URL;
if (!url) throw new Error("set DATABASE_URL");
const snake = process.env.CASING === "snake";
const spec = JSON.parse(await new Promise((resolve) => {
	let text = "";
	process.stdin.on("data", (d) => (text += d));
	process.stdin.on("end", () => resolve(text));
}));

// fields renames camelCase fields to snake_case columns when CASING=snake.
const fields = (...names) =>
	snake ? Object.fromEntries(names.map((n) => [n, n.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase())])) : undefined;

const pool = new pg.Pool({ connectionString: url });
const options = {
	database: pool,
	secret: process.env.BETTER_AUTH_SECRET || "better-auth-test-secret-0123456789-abcdefghij",
	baseURL: "http://127.0.0.1:3000",
	emailAndPassword: { enabled: true },
	plugins: [twoFactor()],
	telemetry: { enabled: false },
	user: { fields: fields("emailVerified", "createdAt", "updatedAt") },
	session: { fields: fields("expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId") },
	account: {
		fields: fields("accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken",
			"accessTokenExpiresAt", "refreshTokenExpiresAt", "createdAt", "updatedAt"),
	},
	verification: { fields: fields("expiresAt", "createdAt", "updatedAt") },
};

const { runMigrations } = await getMigrations(options);
await runMigrations();
const auth = betterAuth(options);

const col = (name) => '"' + (snake ? name.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase()) : name) + '"';
const out = { users: [], sessions: 0 };
for (const u of spec.users ?? []) {
	const res = await auth.api.signUpEmail({ body: { email: u.email, password: u.password, name: u.name } });
	out.users.push({ id: res.user.id, email: res.user.email });
	out.sessions++; // sign-up signs in
	for (let i = 0; i < (u.signIns ?? 0); i++) {
		await auth.api.signInEmail({ body: { email: u.email, password: u.password } });
		out.sessions++;
	}
}
// A user who signed up with GitHub: no password, one account row of the
// provider, as Better Auth's OAuth callback writes it.
for (const s of spec.social ?? []) {
	const id = "soc" + Math.random().toString(36).slice(2, 14);
	const now = new Date();
	await pool.query(
		`INSERT INTO "user" (id, name, email, ${col("emailVerified")}, image, ${col("createdAt")}, ${col("updatedAt")})
		 VALUES ($1, $2, $3, true, $4, $5, $5)`,
		[id, s.name, s.email, "https://avatars.example.com/u/" + s.accountId, now],
	);
	await pool.query(
		`INSERT INTO account (id, ${col("accountId")}, ${col("providerId")}, ${col("userId")}, ${col("accessToken")}, scope, ${col("createdAt")}, ${col("updatedAt")})
		 VALUES ($1, $2, $3, $4, 'gho_not-a-real-token', 'read:user,user:email', $5, $5)`,
		["acc" + id, s.accountId, s.provider, id, now],
	);
	out.users.push({ id, email: s.email });
}
out.twoFactor = [];
for (const email of spec.twoFactorFor ?? []) {
	const u = spec.users.find((x) => x.email === email);
	const { headers } = await auth.api.signInEmail({ body: { email, password: u.password }, returnHeaders: true });
	out.sessions++;
	const cookie = headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
	const res = await auth.api.enableTwoFactor({ body: { password: u.password }, headers: new Headers({ cookie }) });
	const totpSecret = new URL(res.totpURI).searchParams.get("secret");
	out.twoFactor.push({ email, totpSecret, backupCodes: res.backupCodes });
}
out.passkeys = [];
if (spec.passkeys) {
	await pool.query(`CREATE TABLE passkey (id text PRIMARY KEY, name text, "publicKey" text NOT NULL,
		"userId" text NOT NULL REFERENCES "user" (id) ON DELETE CASCADE, "credentialID" text NOT NULL, counter integer NOT NULL,
		"deviceType" text NOT NULL, "backedUp" boolean NOT NULL, transports text, "createdAt" timestamptz, aaguid text)`);
	for (let i = 0; i < spec.passkeys; i++) {
		const cred = Buffer.from(`credential-${i}-${Math.random()}`).toString("base64url");
		const pub = Buffer.from([0xa5, 0x01, 0x02, 0x03, 0x26, i]).toString("base64");
		await pool.query(`INSERT INTO passkey VALUES ($1, 'laptop', $2, $3, $4, $5, 'multiDevice', true, 'internal,hybrid', now(), 'adce0002-35bc-c60a-648b-0b25f1f05503')`,
			["pk" + i, pub, out.users[0].id, cred, 7 + i]);
		out.passkeys.push({ credentialID: cred, counter: 7 + i });
	}
}
await pool.end();
console.log(JSON.stringify(out));
