// Import page: upload an old system's members.csv and balances.csv; the worker imports them and
// the page follows the job (importJob) until its summary and refused rows are in.
import { $, h, table } from "/lib/dom.js";
import { gql, idempotencyKey, upload } from "./api.js";
import { errorText, t } from "./i18n.js";

const START = `mutation($i: StartImportInput!) { startImport(input: $i) {
  job { id } userErrors { code field message } } }`;
const JOB_FIELDS = `id status dryRun createdAt total done failure membersFile { name bytes }
  result { membersImported membersUnchanged membersChanged balancesImported pointsImported errorCount
           errors { file line field message } }`;
const JOB = `query($id: ID!) { importJob(id: $id) { ${JOB_FIELDS} } }`;
const JOBS = `{ importJobs(first: 10) { edges { node { id status dryRun createdAt total done
  membersFile { name } } } } }`;
const POLL_MS = 1500;
let polling = null;

export function leaveImports() {
  clearTimeout(polling);
  polling = null;
}

export async function importsPage(view) {
  view.replaceChildren(
    h("section", { class: "card", "aria-labelledby": "import-title" },
      h("h2", { id: "import-title" }, t("importTitle")),
      h("p", { class: "muted" }, t("importHelp")),
      h("form", { id: "import-form", class: "row", onsubmit: (e) => { e.preventDefault(); start(); } },
        h("label", { for: "import-members" }, "members.csv"),
        h("input", { id: "import-members", type: "file", accept: ".csv,text/csv", required: true }),
        h("label", { for: "import-balances" }, "balances.csv"),
        h("input", { id: "import-balances", type: "file", accept: ".csv,text/csv" }),
        h("label", {}, h("input", { id: "import-dry", type: "checkbox" }), " ", t("dryRun")),
        h("button", { id: "import-start", type: "submit" }, t("upload"))),
      h("p", { id: "import-error", class: "error", role: "alert" }),
      h("div", { id: "import-job", "aria-live": "polite" })),
    h("section", { class: "card", "aria-labelledby": "imports-title" },
      h("h2", { id: "imports-title" }, t("importJobs")),
      h("div", { id: "import-jobs" })));
  await listJobs();
}

async function start() {
  const members = $("import-members").files[0];
  const balances = $("import-balances").files[0];
  $("import-error").textContent = "";
  $("import-start").disabled = true;
  try {
    const files = { members };
    if (balances) files.balances = balances;
    const input = { idempotencyKey: idempotencyKey(), dryRun: $("import-dry").checked };
    const { startImport } = await upload(START, input, files);
    if (startImport.userErrors.length) {
      $("import-error").textContent = startImport.userErrors.map((e) => `${e.field?.at(-1) ?? ""}: ${e.message}`).join("; ");
      return;
    }
    await follow(startImport.job.id);
  } catch (error) {
    show(error);
  } finally {
    $("import-start").disabled = false;
  }
}

async function follow(id) {
  leaveImports();
  const { importJob } = await gql(JOB, { id });
  if (!$("import-job")) return; // the operator left the page
  $("import-job").replaceChildren(jobView(importJob));
  if (importJob.status === "QUEUED" || importJob.status === "RUNNING") {
    polling = setTimeout(() => follow(id).catch(show), POLL_MS);
  } else {
    await listJobs();
  }
}

function show(error) {
  const box = $("import-error");
  if (!box) return;
  box.textContent = errorText(error);
}

function jobView(job) {
  const parts = [h("p", { id: "import-status", dataset: { status: job.status } },
    t(`import_${job.status}`), job.total === null ? "" : ` · ${t("importRows", { done: job.done, total: job.total })}`)];
  if (job.total) parts.push(h("progress", { max: job.total, value: job.done, "aria-label": t("importTitle") }));
  if (job.failure) parts.push(h("p", { class: "error" }, job.failure));
  const r = job.result;
  if (r) {
    parts.push(h("p", { id: "import-summary" }, t("importSummary", {
      members: r.membersImported, unchanged: r.membersUnchanged, changed: r.membersChanged,
      balances: r.balancesImported, points: r.pointsImported, refused: r.errorCount })));
    if (r.errors.length) {
      parts.push(table([[t("file"), (e) => e.file], [t("line"), (e) => e.line], [t("path"), (e) => e.field],
        [t("note"), (e) => e.message]], r.errors));
    }
  }
  return h("div", {}, parts);
}

async function listJobs() {
  const box = $("import-jobs");
  if (!box) return;
  const { importJobs } = await gql(JOBS);
  const jobs = importJobs.edges.map((edge) => edge.node);
  box.replaceChildren(table([
    [t("updatedAt"), (j) => new Date(j.createdAt).toLocaleString()],
    ["members.csv", (j) => j.membersFile.name],
    [t("status"), (j) => t(`import_${j.status}`) + (j.dryRun ? ` (${t("dryRun")})` : "")],
    [t("importRowsHead"), (j) => (j.total === null ? "" : `${j.done}/${j.total}`)],
    ["", (j) => h("button", { class: "secondary", onclick: () => follow(j.id).catch(show) }, t("show"))],
  ], jobs));
}
