// Expiry warnings live over graphql-transport-ws (vendored graphql-ws): each (re)connection sends a
// fresh token; the server closes with 4401 when the token expires and the client reconnects.
import { createClient } from "/vendor/graphql-ws/dist/client.js";
import { freshToken } from "./api.js";

const WARNINGS = "subscription { expiryWarnings { points expiresAt daysLeft } }";

export function watchWarnings(onWarning) {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
  const client = createClient({
    url,
    lazy: false,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: async (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** retries, 10_000))),
    connectionParams: async () => ({ Authorization: `Bearer ${await freshToken()}` }),
    onNonLazyError: () => {},
  });
  const stop = client.subscribe({ query: WARNINGS }, {
    next: (message) => message.data && onWarning(message.data.expiryWarnings),
    error: () => {},
    complete: () => {},
  });
  return () => { stop(); client.dispose(); };
}
