// Expiry warnings live over graphql-transport-ws (vendored graphql-ws). Each (re)connection sends a
// fresh token. When api.js refreshes the session (a minute before the access token expires), the
// socket is cut and reopened with the new token, so the server's 4401 at token expiry never comes.
// A drop (network, server restart) is retried by graphql-ws; a close it treats as fatal (4401, a
// 1011 from a proxy, ...) ends its client, so a new one is started after a back-off while signed in.
import { createClient } from "/vendor/graphql-ws/dist/client.js";
import { freshToken, onSessionChange } from "./api.js";

const WARNINGS = "subscription { expiryWarnings { points expiresAt daysLeft } }";
const backOff = (attempt) => Math.min(500 * 2 ** attempt, 10_000);

export function watchWarnings(onWarning) {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
  let client = null;
  let attempt = 0;
  let stopped = false;

  function start() {
    client = createClient({
      url,
      lazy: false,
      retryAttempts: Infinity,
      shouldRetry: () => true,
      retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, backOff(retries))),
      connectionParams: async () => ({ Authorization: `Bearer ${await freshToken()}` }),
      on: { connected: () => { attempt = 0; } },
      onNonLazyError: () => {},
    });
    client.subscribe({ query: WARNINGS }, {
      next: (message) => message.data && onWarning(message.data.expiryWarnings),
      error: restart,
      complete: () => {},
    });
  }

  function restart() {
    client?.dispose();
    client = null;
    if (!stopped) setTimeout(() => { if (!stopped && !client) start(); }, backOff(attempt++));
  }

  const unlisten = onSessionChange((session) => { if (session) client?.terminate(); });
  start();
  return () => { stopped = true; unlisten(); client?.dispose(); client = null; };
}
