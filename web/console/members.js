// Members page: one member's profile, balance, expiring points and history with breakdowns, and a
// points adjustment whose effect is shown for confirmation before it is applied.
import { $, h, table } from "/lib/dom.js";
import { gql, idempotencyKey } from "./api.js";
import { formatDate, t } from "./i18n.js";

const MEMBER = `query($id: ID!) { member(id: $id) { id memberNo name phone joinedAt tier { name }
  balance { available pending held lifetimeEarned }
  expiringPoints(withinDays: 365) { points expiresAt }
  history(first: 20) { edges { node { id kind points balanceAfter occurredAt description
    breakdown { rule description points lineId } } } } } }`;

export async function membersPage(view, memberId) {
  view.replaceChildren(
    h("section", { class: "card", "aria-labelledby": "find-title" },
      h("h2", { id: "find-title" }, t("members")),
      h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); location.hash = `#/members/${encodeURIComponent($("member-id").value.trim())}`; } },
        h("label", { for: "member-id" }, t("memberId")),
        h("input", { id: "member-id", required: true, maxlength: 64, value: memberId ?? "" }),
        h("button", { type: "submit" }, t("find")))),
    h("div", { id: "member" }));
  if (memberId) await showMember(memberId);
}

async function showMember(id) {
  const { member } = await gql(MEMBER, { id });
  const box = $("member");
  if (!member) { box.replaceChildren(h("p", { class: "card", role: "status" }, t("notFound"))); return; }
  const b = member.balance;
  box.replaceChildren(
    h("section", { class: "card", "aria-labelledby": "member-title" },
      h("h2", { id: "member-title" }, `${member.name} · ${member.memberNo}`),
      h("dl", { class: "grid" },
        h("dt", {}, "ID"), h("dd", {}, member.id), h("dt", {}, "Tier"), h("dd", {}, member.tier.name),
        h("dt", {}, t("available")), h("dd", { id: "member-available" }, b.available),
        h("dt", {}, t("pending")), h("dd", {}, b.pending), h("dt", {}, t("held")), h("dd", {}, b.held),
        h("dt", {}, t("lifetime")), h("dd", {}, b.lifetimeEarned)),
      h("h3", {}, t("lots")),
      table([[t("points"), (l) => l.points], [t("expires"), (l) => formatDate(l.expiresAt)]], member.expiringPoints)),
    adjustCard(member),
    h("section", { class: "card", "aria-labelledby": "history-title" },
      h("h2", { id: "history-title" }, t("history")),
      table([[t("updatedAt"), (e) => formatDate(e.occurredAt)], ["", (e) => e.kind], [t("points"), (e) => e.points],
        [t("balance"), (e) => e.balanceAfter], ["", (e) => entryDetails(e)]], member.history.edges.map((edge) => edge.node))));
}

function entryDetails(entry) {
  if (!entry.breakdown.length) return entry.description;
  return h("details", {}, h("summary", {}, entry.description),
    h("ul", {}, entry.breakdown.map((c) => h("li", {}, `${c.lineId ?? "—"} · ${c.rule}: ${c.points} (${c.description})`))));
}

function adjustCard(member) {
  return h("section", { class: "card", "aria-labelledby": "adjust-title" },
    h("h2", { id: "adjust-title" }, t("adjust")),
    h("form", { id: "adjust-form", novalidate: true, onsubmit: (e) => { e.preventDefault(); confirmAdjust(member); } },
      h("label", { for: "adjust-points" }, t("points")),
      h("input", { id: "adjust-points", type: "number", step: 1, required: true }),
      h("label", { for: "adjust-reason" }, t("reason")),
      h("input", { id: "adjust-reason", maxlength: 200, required: true }),
      h("p", { id: "adjust-error", class: "error", role: "alert" }),
      h("button", { type: "submit" }, t("check"))),
    h("div", { id: "adjust-confirm" }));
}

function confirmAdjust(member) {
  const points = Number($("adjust-points").value);
  const reason = $("adjust-reason").value.trim();
  $("adjust-error").textContent = !reason ? t("reasonRequired") : !Number.isInteger(points) || points === 0 ? t("points") : "";
  if ($("adjust-error").textContent) return;
  const key = idempotencyKey(); // this confirmation: a double press adjusts once
  const sign = points > 0 ? "+" : "";
  $("adjust-confirm").replaceChildren(
    h("p", { role: "status" }, t("confirmAdjust", { member: member.memberNo, sign, points, reason })),
    h("button", { id: "adjust-apply", onclick: () => adjust(member.id, { memberId: member.id, points, reason, idempotencyKey: key }) }, t("apply")),
    " ", h("button", { class: "secondary", onclick: () => $("adjust-confirm").replaceChildren() }, t("cancel")));
}

async function adjust(memberId, input) {
  $("adjust-apply").disabled = true;
  const query = `mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) {
    entry { id balanceAfter } userErrors { code message field } } }`;
  const { adjustPoints } = await gql(query, { input });
  if (adjustPoints.userErrors.length) {
    $("adjust-error").textContent = adjustPoints.userErrors.map((e) => e.message).join(" · ");
    $("adjust-apply").disabled = false;
    return;
  }
  await showMember(memberId);
  $("adjust-confirm").replaceChildren(h("p", { role: "status", class: "ok" }, `${t("done")}: ${adjustPoints.entry.balanceAfter}`));
}
