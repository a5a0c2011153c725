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
  return answer(response);
}

/** A mutation with files (the GraphQL multipart request spec): `files` maps input fields of
 * `variables.i` to File objects. Same answer and errors as gql. */
export async function upload(query, input, files) {
  const form = new FormData();
  const variables = { i: { ...input } };
  const map = {};
  Object.entries(files).forEach(([field, file], n) => {
    variables.i[field] = null;
    map[n] = [`variables.i.${field}`];
  });
  form.append("operations", JSON.stringify({ query, variables }));
  form.append("map", JSON.stringify(map));
  Object.values(files).forEach((file, n) => form.append(String(n), file, file.name));
  // The API refuses a multipart request without this header: a page on another site cannot set it.
  const headers = { "graphql-preflight": "1" };
  if (token()) headers.authorization = `Bearer ${token()}`;
  const response = await fetch("/graphql", { method: "POST", headers, body: form });
  return answer(response);
}

async function answer(response) {
  const body = await response.json().catch(() => ({ errors: [{ message: `HTTP ${response.status}` }] }));
  if (body.errors?.length) {
    const [first] = body.errors;
    throw new ApiError(first.message, first.extensions?.code);
  }
  return body.data;
}

/** One key per operator action: a retried request replays it, a new press makes a new one. */
export const idempotencyKey = () => crypto.randomUUID();
