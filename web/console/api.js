// The public GraphQL API with an operator's admin token, kept for this tab only (sessionStorage).
const KEY = "jifen.console.token";

export class ApiError extends Error {
  constructor(message, code) { super(message); this.code = code; }
}

export const token = () => sessionStorage.getItem(KEY);
export const signOut = () => sessionStorage.removeItem(KEY);

export function signIn(value) {
  sessionStorage.setItem(KEY, value.trim().replace(/^Bearer\s+/i, ""));
}

/** data, or an ApiError with the first error's extensions.code (UNAUTHENTICATED, FORBIDDEN, ...). */
export async function gql(query, variables = {}) {
  const headers = { "content-type": "application/json" };
  if (token()) headers.authorization = `Bearer ${token()}`;
  const response = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  const body = await response.json().catch(() => ({ errors: [{ message: `HTTP ${response.status}` }] }));
  if (body.errors?.length) {
    const [first] = body.errors;
    throw new ApiError(first.message, first.extensions?.code);
  }
  return body.data;
}

/** One key per operator action: a retried request replays it, a new press makes a new one. */
export const idempotencyKey = () => crypto.randomUUID();
