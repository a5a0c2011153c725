// Dashboard: points issued, redeemed and expired per day for 90 days, the outstanding liability
// in points and money, active and dormant members, and today's expiry warnings counted live.
import { createClient } from "/vendor/graphql-ws/dist/client.js";
import { lineChart } from "/lib/chart.js";
import { $, h } from "/lib/dom.js";
import { gql, token } from "./api.js";
import { t } from "./i18n.js";

const QUERY = `query($from: Date!, $to: Date!) { reports {
  pointsFlow(by: DAY, from: $from, to: $to) { rows { period issued redeemed expired } }
  liability { points money currency pointValue asOf }
  memberActivity(dormantDays: 365) { active { members } dormant { members } neverActive { members } } } }`;

let live = null; // the warnings subscription of the page on screen: its client and unsubscribe

const isoDate = (date) => date.toISOString().slice(0, 10);

export async function dashboardPage(view) {
  const today = new Date();
  const from = new Date(today.getTime() - 89 * 86_400_000);
  const { reports } = await gql(QUERY, { from: isoDate(from), to: isoDate(today) });
  const rows = reports.pointsFlow.rows;
  const series = ["issued", "redeemed", "expired"].map((name) => ({ name: t(name), values: rows.map((r) => Number(r[name])) }));
  const l = reports.liability;
  const a = reports.memberActivity;
  view.replaceChildren(
    h("section", { class: "card tiles", "aria-label": t("dashboard") },
      tile(t("liabilityPoints"), Number(l.points).toLocaleString(), "tile-liability"),
      tile(t("liabilityMoney"), `${l.money} ${l.currency}`, "tile-money"),
      tile(t("activeMembers"), a.active.members.toLocaleString(), "tile-active"),
      tile(t("dormantMembers"), (a.dormant.members + a.neverActive.members).toLocaleString(), "tile-dormant"),
      tile(t("warningsToday"), "…", "tile-warnings")),
    h("section", { class: "card", "aria-labelledby": "flow-title" },
      h("h2", { id: "flow-title" }, t("flow90")),
      lineChart(t("flow90"), rows.map((r) => r.period.slice(5)), series)));
  watchWarnings();
}

function tile(label, value, id) {
  return h("div", { class: "tile" }, h("p", { class: "muted" }, label), h("p", { class: "big", id }, value));
}

function watchWarnings() {
  leaveDashboard();
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
  const client = createClient({ url, connectionParams: () => ({ Authorization: `Bearer ${token()}` }), retryAttempts: 5 });
  const unsubscribe = client.subscribe({ query: "subscription { warningsIssuedToday }" }, {
    next: (message) => {
      const shown = $("tile-warnings");
      if (shown && message.data) shown.textContent = message.data.warningsIssuedToday.toLocaleString();
    },
    error: () => {},
    complete: () => {},
  });
  live = { client, unsubscribe };
}

// Unsubscribed before the client is disposed: disposing first left graphql-ws sending the
// subscription's complete on a closing socket, an error in the browser's console.
export function leaveDashboard() {
  live?.unsubscribe();
  live?.client.dispose();
  live = null;
}
