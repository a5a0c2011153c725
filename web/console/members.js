// Members page: one member's profile, balance, expiring points and history with breakdowns, and a
// points adjustment whose effect is shown for confirmation before it is applied.
import { $, h, table } from "/lib/dom.js";
import { gql, idempotencyKey } from "./api.js";
import { formatDate, t } from "./i18n.js";

const MEMBER = `query($id: ID!) { member(id: $id) { id memberNo name phone joinedAt status tier { name }
  balance { available pending held debt lifetimeEarned nextExpiry { points expiresAt } }
  expiringPoints(withinDays: 365) { points expiresAt }
  history(first: 20) { edges { node { id kind points balanceAfter occurredAt description
    breakdown { rule description points lineId } } } } } }`;

export async function membersPage(view, memberId) {
  view.replaceChildren(
    h("section", { class: "card", "aria-labelledby": "find-title" },
      h("h2", { id: "find-title" }, t("members")),
      h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); search(); } },
        h("label", { for: "member-search" }, t("search")),
        h("input", { id: "member-search", required: true, maxlength: 64, placeholder: t("searchHint") }),
        h("button", { type: "submit" }, t("find"))),
      h("div", { id: "member-results" })),
    h("div", { id: "member" }));
  if (memberId) await showMember(memberId);
}

async function search(after = null) {
  const query = `query($s: String!, $after: String) { members(search: $s, first: 20, after: $after) {
    edges { node { id memberNo name phone status } } pageInfo { hasNextPage endCursor } } }`;
  const { members } = await gql(query, { s: $("member-search").value, after });
  const rows = members.edges.map((edge) => edge.node);
  const results = $("member-results");
  if (!after) results.replaceChildren();
  results.append(rows.length || after
    ? table([[t("memberNo"), (m) => h("a", { href: `#/members/${encodeURIComponent(m.id)}` }, m.memberNo)],
      [t("name"), (m) => m.name], [t("phone"), (m) => m.phone ?? "—"], [t("status"), (m) => t(m.status)]], rows)
    : h("p", { role: "status" }, t("notFound")));
  if (members.pageInfo.hasNextPage) {
    const more = h("button", { class: "secondary", onclick: () => { more.remove(); search(members.pageInfo.endCursor); } }, t("more"));
    results.append(more);
  }
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
        h("dt", {}, t("status")), h("dd", { id: "member-status" }, t(member.status)),
        h("dt", {}, t("available")), h("dd", { id: "member-available" }, b.available),
        h("dt", {}, t("pending")), h("dd", {}, b.pending), h("dt", {}, t("held")), h("dd", {}, b.held),
        h("dt", {}, t("debt")), h("dd", { id: "member-debt" }, b.debt),
        h("dt", {}, t("lifetime")), h("dd", {}, b.lifetimeEarned),
        h("dt", {}, t("memberMessages")),
        h("dd", {}, h("a", { href: `#/messages/${encodeURIComponent(member.id)}` }, t("messages")))),
      h("h3", {}, t("lots")),
      table([[t("points"), (l) => l.points], [t("expires"), (l) => formatDate(l.expiresAt)]], member.expiringPoints)),
    adjustCard(member),
    correctionsCard(member),
    statusCard(member),
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

const STATUS_MUTATIONS = {
  suspend: "suspendMember", reactivate: "reactivateMember", erase: "eraseMember",
};

/** Suspend, reactivate or erase, with the reason required and the effect confirmed first. */
function statusCard(member) {
  const actions = member.status === "ACTIVE" ? ["suspend", "erase"] : member.status === "SUSPENDED" ? ["reactivate", "erase"] : [];
  if (!actions.length) return h("section", { class: "card" }, h("p", {}, t("ERASED")));
  return h("section", { class: "card", "aria-labelledby": "status-title" },
    h("h2", { id: "status-title" }, t("status")),
    h("label", { for: "status-reason" }, t("reason")),
    h("input", { id: "status-reason", maxlength: 500 }),
    h("p", { id: "status-error", class: "error", role: "alert" }),
    h("div", { class: "row" }, actions.map((action) =>
      h("button", { id: `status-${action}`, class: action === "reactivate" ? null : "secondary", onclick: () => confirmStatus(member, action) }, t(action)))),
    h("div", { id: "status-confirm" }));
}

function confirmStatus(member, action) {
  const reason = $("status-reason").value.trim();
  $("status-error").textContent = reason ? "" : t("reasonRequired");
  if (!reason) return;
  $("status-confirm").replaceChildren(
    h("p", { role: "status" }, t(`confirm_${action}`, { member: member.memberNo, reason })),
    h("button", { id: "status-apply", onclick: () => applyStatus(member.id, action, reason) }, t("apply")),
    " ", h("button", { class: "secondary", onclick: () => $("status-confirm").replaceChildren() }, t("cancel")));
}

async function applyStatus(memberId, action, reason) {
  $("status-apply").disabled = true;
  const name = STATUS_MUTATIONS[action];
  const query = `mutation($i: MemberStatusInput!) { ${name}(input: $i) { member { status } userErrors { message } } }`;
  const payload = (await gql(query, { i: { memberId, reason } }))[name];
  if (payload.userErrors.length) {
    $("status-error").textContent = payload.userErrors.map((e) => e.message).join(" · ");
    return;
  }
  await showMember(memberId);
}

/** Extend expiries up to a date, or clear (清零) the member's points: the effect shown first. */
function correctionsCard(member) {
  const b = member.balance;
  return h("section", { class: "card", "aria-labelledby": "corrections-title" },
    h("h2", { id: "corrections-title" }, t("corrections")),
    h("label", { for: "correction-reason" }, t("reason")),
    h("input", { id: "correction-reason", maxlength: 200 }),
    h("label", { for: "extend-until" }, t("extendUntil")),
    h("input", { id: "extend-until", type: "date" }),
    h("p", { id: "correction-error", class: "error", role: "alert" }),
    h("div", { class: "row" },
      h("button", { id: "extend-review", class: "secondary", onclick: () => confirmCorrection(member, "extend") }, t("extend")),
      h("button", { id: "clear-review", class: "secondary", onclick: () => confirmCorrection(member, "clear") },
        t("clear", { points: b.available + b.pending }))),
    h("div", { id: "correction-confirm" }));
}

function confirmCorrection(member, kind) {
  const reason = $("correction-reason").value.trim();
  const until = $("extend-until").value;
  $("correction-error").textContent = !reason ? t("reasonRequired") : kind === "extend" && !until ? t("extendUntil") : "";
  if ($("correction-error").textContent) return;
  const b = member.balance;
  const effect = kind === "clear"
    ? t("confirmClear", { member: member.memberNo, points: b.available + b.pending, reason })
    : t("confirmExtend", { member: member.memberNo, until, reason });
  const key = idempotencyKey();
  $("correction-confirm").replaceChildren(
    h("p", { role: "status" }, effect),
    h("button", { id: "correction-apply", onclick: () => applyCorrection(member.id, kind, { reason, until, key }) }, t("apply")),
    " ", h("button", { class: "secondary", onclick: () => $("correction-confirm").replaceChildren() }, t("cancel")));
}

async function applyCorrection(memberId, kind, { reason, until, key }) {
  $("correction-apply").disabled = true;
  const name = kind === "clear" ? "clearPoints" : "extendExpiry";
  const type = kind === "clear" ? "ClearPointsInput" : "ExtendExpiryInput";
  const input = { memberId, reason, idempotencyKey: key };
  if (kind === "extend") input.until = new Date(`${until}T23:59:59`).toISOString();
  const query = `mutation($i: ${type}!) { ${name}(input: $i) { entry { points } userErrors { message } } }`;
  const payload = (await gql(query, { i: input }))[name];
  if (payload.userErrors.length) {
    $("correction-error").textContent = payload.userErrors.map((e) => e.message).join(" · ");
    $("correction-apply").disabled = false;
    return;
  }
  await showMember(memberId);
  $("correction-confirm").replaceChildren(h("p", { role: "status", class: "ok" }, t("done")));
}
