// The public GraphQL API over HTTP: the access token kept in memory only, refreshed a minute before
// it expires with the single-use refresh token (each refresh returns the next one).
const ENDPOINT = "/graphql";
const REFRESH_MARGIN_MS = 60_000;
const SESSION = "accessToken accessTokenExpiresAt refreshToken";

let session = null;
let refreshTimer = null;
let refreshing = null;
const listeners = new Set();

export class ApiError extends Error {}

// A phone's clock may be minutes off: the token's expiry (the server's clock) is moved onto ours by
// the offset seen in the last answer's Date header, so a refresh is neither late nor endless.
let serverClockOffset = 0;
const expiresLocally = (s) => Date.parse(s.accessTokenExpiresAt) - serverClockOffset;

/** Calls `listener(session)` on every sign-in, refresh and sign-out; returns its remover. */
export function onSessionChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

async function post(query, variables, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(ENDPOINT, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  const body = await response.json();
  if (body.errors?.length) throw new ApiError(body.errors[0].message);
  serverClockOffset = (Date.parse(response.headers.get("date")) || Date.now()) - Date.now();
  return body.data;
}

function keep(next) {
  session = next;
  clearTimeout(refreshTimer);
  if (session) {
    const wait = expiresLocally(session) - Date.now() - REFRESH_MARGIN_MS;
    refreshTimer = setTimeout(() => refresh().catch(() => keep(null)), Math.max(wait, 1_000));
  }
  for (const listener of listeners) listener(session);
}

export async function logIn(phone, password) {
  const data = await post(
    `mutation($input: LogInInput!) { logIn(input: $input) { session { ${SESSION} } userErrors { code message } } }`,
    { input: { phone, password } },
  );
  const payload = data.logIn;
  if (payload.userErrors.length) throw new ApiError(payload.userErrors[0].message);
  keep(payload.session);
}

export function refresh() {
  refreshing ??= (async () => {
    try {
      const data = await post(
        `mutation($input: RefreshSessionInput!) { refreshSession(input: $input) { session { ${SESSION} } userErrors { code message } } }`,
        { input: { refreshToken: session.refreshToken } },
      );
      const payload = data.refreshSession;
      if (payload.userErrors.length) throw new ApiError(payload.userErrors[0].message);
      keep(payload.session);
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** A token good for at least the margin: refreshed first when it is about to expire. */
export async function freshToken() {
  if (!session) throw new ApiError("signed out");
  if (expiresLocally(session) - Date.now() < REFRESH_MARGIN_MS) await refresh();
  return session.accessToken;
}

export async function gql(query, variables = {}) {
  return post(query, variables, await freshToken());
}

export async function logOut() {
  const current = session;
  keep(null);
  if (current) {
    await post(`mutation($input: LogOutInput!) { logOut(input: $input) { __typename } }`,
      { input: { refreshToken: current.refreshToken } }).catch(() => {});
  }
}
