// Program page: the version in force as a form (each setting next to its own error), the changes a
// new version would make before it is applied, the versions with a diff, and an earn preview.
import { $, h, table } from "/lib/dom.js";
import { gql, idempotencyKey } from "./api.js";
import { diff, pathText } from "./paths.js";
import { formatDate, t } from "./i18n.js";

const VERSION = "version updatedAt updatedBy note";
const UPDATE = `mutation($input: UpdateProgramInput!) { updateProgram(input: $input) {
  changed version { version } changes { path before after } userErrors { code message field } } }`;

let current = null; // the version in force: {version, config, ...}

export async function programPage(view) {
  const data = await gql(`{ programVersion { ${VERSION} config }
    programVersions(first: 50) { edges { node { ${VERSION} } } } }`);
  current = data.programVersion;
  const versions = data.programVersions.edges.map((edge) => edge.node);
  view.replaceChildren(
    h("section", { class: "card", "aria-labelledby": "program-title" },
      h("h2", { id: "program-title" }, `${t("program")} · ${t("version")} ${current.version}`),
      h("form", { id: "program-form", novalidate: true, onsubmit: review },
        h("div", { id: "program-fields" }, fields(current.config, [])),
        h("label", { for: "program-note" }, t("note")),
        h("input", { id: "program-note", maxlength: 500 }),
        h("p", { id: "program-errors", class: "error", role: "alert" }),
        h("button", { type: "submit" }, t("check"))),
      h("div", { id: "program-changes" })),
    versionsCard(versions),
    previewCard());
}

/** One input per setting, labelled with its path; objects and lists as nested fieldsets. */
function fields(value, steps) {
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    const inner = entries.map(([key, v]) => fields(v, [...steps, key]));
    return steps.length ? h("fieldset", {}, h("legend", {}, pathText(steps)), inner) : inner;
  }
  const id = `f-${steps.join("-")}`.replace(/[^\w-]/g, "_");
  const kind = value === null ? "null" : typeof value;
  const input = kind === "boolean"
    ? h("select", { id }, h("option", { selected: value }, "true"), h("option", { selected: !value }, "false"))
    : h("input", { id, value: value ?? "", inputmode: kind === "number" ? "decimal" : null });
  input.dataset.path = steps.join("/");
  input.dataset.kind = kind;
  input.setAttribute("aria-describedby", `${id}-error`);
  return h("div", { class: "field" }, h("label", { for: id }, pathText(steps)), input,
    h("span", { id: `${id}-error`, class: "field-error" }));
}

/** The configuration as edited: the form's values read back into the shape of the version. */
function edited(value, steps = []) {
  if (value !== null && typeof value === "object") {
    if (Array.isArray(value)) return value.map((v, i) => edited(v, [...steps, i]));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, edited(v, [...steps, k])]));
  }
  const input = document.querySelector(`[data-path="${CSS.escape(steps.join("/"))}"]`);
  const text = input.value;
  if (input.dataset.kind === "boolean") return text === "true";
  if (input.dataset.kind === "number") return text.trim() !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
  if (input.dataset.kind === "null") return text === "" ? null : text;
  return text;
}

function showErrors(errors) {
  for (const node of document.querySelectorAll(".field-error")) node.textContent = "";
  for (const node of document.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  const unplaced = [];
  for (const error of errors) {
    const steps = (error.field ?? []).slice(2); // ["input", "config", ...path]
    const input = document.querySelector(`[data-path="${CSS.escape(steps.join("/"))}"]`);
    if (input && steps.length) {
      input.setAttribute("aria-invalid", "true");
      $(input.getAttribute("aria-describedby")).textContent = error.message;
    } else unplaced.push(`${steps.join(".") || t("program")}: ${error.message}`);
  }
  $("program-errors").textContent = errors.length ? [t("fixErrors", { count: errors.length }), ...unplaced].join(" · ") : "";
  document.querySelector("[aria-invalid]")?.focus();
}

async function review(event) {
  event.preventDefault();
  const config = edited(current.config);
  const input = { config, dryRun: true, note: $("program-note").value || null, idempotencyKey: idempotencyKey() };
  const result = (await gql(UPDATE, { input })).updateProgram;
  showErrors(result.userErrors);
  const box = $("program-changes");
  box.replaceChildren();
  if (result.userErrors.length) return;
  if (!result.changed) { box.append(h("p", { role: "status" }, t("noChange"))); return; }
  const key = idempotencyKey(); // this confirmation: a retried press applies once
  box.append(
    h("h3", {}, t("changes")),
    table([[t("path"), (c) => c.path], [t("before"), (c) => c.before ?? "—"], [t("after"), (c) => c.after ?? "—"]], result.changes),
    h("button", { id: "program-apply", onclick: () => apply({ ...input, dryRun: false, idempotencyKey: key }) }, t("apply")),
    " ",
    h("button", { class: "secondary", onclick: () => box.replaceChildren() }, t("cancel")));
}

async function apply(input) {
  $("program-apply").disabled = true;
  const result = (await gql(UPDATE, { input })).updateProgram;
  showErrors(result.userErrors);
  if (result.userErrors.length) return;
  await programPage($("view"));
  $("program-errors").replaceChildren(); // the page was rebuilt; say what happened where it is read
  $("program-changes").append(h("p", { role: "status", class: "ok" }, t("applied", { version: result.version.version })));
}

function versionsCard(versions) {
  const choose = (id, selected) => h("select", { id, "aria-label": `${t("version")} ${id.slice(-1)}` },
    versions.map((v) => h("option", { value: v.version, selected: v.version === selected }, String(v.version))));
  const previous = versions[1]?.version ?? current.version;
  return h("section", { class: "card", "aria-labelledby": "versions-title" },
    h("h2", { id: "versions-title" }, t("versions")),
    table([[t("version"), (v) => v.version], [t("updatedAt"), (v) => (v.updatedAt ? formatDate(v.updatedAt) : "—")],
      [t("updatedBy"), (v) => v.updatedBy ?? "—"], [t("note"), (v) => v.note ?? ""]], versions),
    h("h3", {}, t("diff")),
    h("div", { class: "row" }, choose("diff-a", previous), choose("diff-b", current.version),
      h("button", { onclick: compare }, t("compare"))),
    h("div", { id: "diff-result" }));
}

async function compare() {
  const query = "query($a: Int!, $b: Int!) { a: programVersion(version: $a) { config } b: programVersion(version: $b) { config } }";
  const data = await gql(query, { a: Number($("diff-a").value), b: Number($("diff-b").value) });
  const changes = diff(data.a.config, data.b.config);
  $("diff-result").replaceChildren(changes.length
    ? table([[t("path"), (c) => c.path], [t("before"), (c) => c.before ?? "—"], [t("after"), (c) => c.after ?? "—"]], changes)
    : h("p", {}, t("noChange")));
}

const SAMPLE_ORDER = {
  member: { id: "m_demo" }, orderId: "preview-1", occurredAt: new Date().toISOString(), channel: "online",
  lines: [{ lineId: "1", sku: "SKU-1", category: "general", quantity: 1, amount: "128.50" }],
};

function previewCard() {
  return h("section", { class: "card", "aria-labelledby": "preview-title" },
    h("h2", { id: "preview-title" }, t("preview")),
    h("label", { for: "preview-order" }, t("order")),
    h("textarea", { id: "preview-order", rows: 10, spellcheck: "false" }, JSON.stringify(SAMPLE_ORDER, null, 2)),
    h("button", { onclick: preview }, t("run")),
    h("p", { id: "preview-error", class: "error", role: "alert" }),
    h("div", { id: "preview-result", "aria-live": "polite" }));
}

async function preview() {
  $("preview-error").textContent = "";
  let input;
  try { input = JSON.parse($("preview-order").value); } catch (error) { $("preview-error").textContent = error.message; return; }
  const query = `query($input: RecordPurchaseInput!) { previewEarn(input: $input) {
    total breakdown { rule description points lineId ruleVersion } } }`;
  try {
    const { previewEarn } = await gql(query, { input });
    $("preview-result").replaceChildren(
      h("p", { class: "big" }, t("total", { points: previewEarn.total })),
      table([[t("line"), (c) => c.lineId ?? "—"], [t("rule"), (c) => `${c.rule} (v${c.ruleVersion ?? "?"})`],
        ["", (c) => c.description], [t("points"), (c) => c.points]], previewEarn.breakdown));
  } catch (error) {
    $("preview-error").textContent = error.message;
  }
}
