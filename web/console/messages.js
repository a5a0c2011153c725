// Messages page: members' messages outside the app (push, SMS, e-mail): the totals per channel,
// kind and status, one member's messages (the dev inbox with no provider configured: what was or
// would have been sent, and why one was suppressed), and retrying a dead letter.
import { $, h, table } from "/lib/dom.js";
import { gql } from "./api.js";
import { t } from "./i18n.js";

const TOTALS = `{ messageTotals { channel kind status count } }`;
const MESSAGES = `query($m: ID!) { memberMessages(memberId: $m, first: 100) {
  id channel kind status reason transport subject text attempts error createdAt } }`;
const RETRY = `mutation($id: ID!) { retryMessage(input: {messageId: $id}) { message { status }
  userErrors { message } } }`;
const FIND = `query($s: String!) { members(search: $s, first: 1) { edges { node { id } } } }`;

export async function messagesPage(view, memberId) {
  view.replaceChildren(
    h("section", { class: "card", "aria-labelledby": "messages-title" },
      h("h2", { id: "messages-title" }, t("messages")),
      h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); find(); } },
        h("label", { for: "messages-member" }, t("search")),
        h("input", { id: "messages-member", required: true, maxlength: 64, placeholder: t("searchHint") }),
        h("button", { type: "submit" }, t("find"))),
      h("div", { id: "messages-rows" })),
    h("section", { class: "card", "aria-labelledby": "totals-title" },
      h("h2", { id: "totals-title" }, t("messageTotals")),
      h("div", { id: "messages-totals" })));
  const { messageTotals } = await gql(TOTALS);
  $("messages-totals").replaceChildren(messageTotals.length
    ? table([[t("channel"), (r) => r.channel], [t("kind"), (r) => r.kind],
      [t("status"), (r) => r.status], [t("count"), (r) => r.count]], messageTotals)
    : h("p", { role: "status" }, t("noMessages")));
  if (memberId) await show(memberId);
}

async function find() {
  const { members } = await gql(FIND, { s: $("messages-member").value });
  const found = members.edges[0]?.node;
  if (!found) { $("messages-rows").replaceChildren(h("p", { role: "status" }, t("notFound"))); return; }
  location.hash = `#/messages/${encodeURIComponent(found.id)}`;
}

async function show(memberId) {
  const { memberMessages } = await gql(MESSAGES, { m: memberId });
  const retry = (m) => (m.status === "failed"
    ? h("button", { class: "secondary", onclick: async (e) => {
      const { retryMessage } = await gql(RETRY, { id: m.id });
      e.target.replaceWith(retryMessage.userErrors[0]?.message ?? t("retried"));
    } }, t("retry"))
    : "");
  $("messages-rows").replaceChildren(memberMessages.length
    ? table([[t("updatedAt"), (m) => new Date(m.createdAt).toLocaleString()],
      [t("channel"), (m) => m.channel], [t("kind"), (m) => m.kind],
      [t("status"), (m) => (m.reason ? `${m.status} (${m.reason})` : m.status)],
      [t("transport"), (m) => m.transport ?? "—"],
      [t("messageText"), (m) => [m.subject, m.text].filter(Boolean).join(" · ")],
      ["", retry]], memberMessages)
    : h("p", { role: "status" }, t("noMessages")));
}
