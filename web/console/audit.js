// Audit log page: who changed what, newest first, filtered by target, actor or action, paged.
import { $, h, table } from "/lib/dom.js";
import { gql } from "./api.js";
import { t } from "./i18n.js";

const QUERY = `query($filter: AuditLogFilter, $after: String) { auditLog(first: 50, after: $after, filter: $filter) {
  edges { node { at actor action target requestId before after note } } pageInfo { hasNextPage endCursor } } }`;

export async function auditPage(view, target) {
  view.replaceChildren(
    h("section", { class: "card", "aria-labelledby": "audit-title" },
      h("h2", { id: "audit-title" }, t("auditTitle")),
      h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); load(); } },
        h("select", { id: "audit-by", "aria-label": t("target") },
          ["target", "actor", "action"].map((by) => h("option", { value: by }, t(by)))),
        h("input", { id: "audit-value", maxlength: 200, placeholder: t("filterTarget"), value: target ? decodeURIComponent(target) : "" }),
        h("button", { type: "submit" }, t("find"))),
      h("div", { id: "audit-rows" })));
  await load();
}

async function load(after = null) {
  const value = $("audit-value").value.trim();
  const filter = value ? { [$("audit-by").value]: value } : null;
  const { auditLog } = await gql(QUERY, { filter, after });
  const rows = auditLog.edges.map((edge) => edge.node);
  const box = $("audit-rows");
  if (!after) box.replaceChildren();
  const change = (e) => (e.before || e.after
    ? h("details", {}, h("summary", {}, e.note ?? "…"), h("pre", {}, JSON.stringify({ before: e.before, after: e.after }, null, 2)))
    : e.note ?? "");
  box.append(table([[t("updatedAt"), (e) => new Date(e.at).toLocaleString()], [t("actor"), (e) => e.actor],
    [t("action"), (e) => e.action], [t("target"), (e) => e.target], ["", change]], rows));
  if (auditLog.pageInfo.hasNextPage) {
    const more = h("button", { class: "secondary", onclick: () => { more.remove(); load(auditLog.pageInfo.endCursor); } }, t("more"));
    box.append(more);
  }
}
