// Reports: each report of the API for a period, as a table (and a chart where it is a series),
// with its CSV to download exactly as the API gives it.
import { lineChart } from "/lib/chart.js";
import { $, h, table } from "/lib/dom.js";
import { gql } from "./api.js";
import { t } from "./i18n.js";

const PERIOD = "(from: $from, to: $to)";
const REPORTS = {
  pointsFlow: { field: `pointsFlow(by: DAY, from: $from, to: $to) { csv }`, chart: ["issued", "redeemed", "expired", "cleared"] },
  liabilitySeries: { field: `liabilitySeries${PERIOD} { csv }`, chart: ["points", "available", "pending", "held"] },
  breakage: { field: `breakage${PERIOD} { csv }` },
  earnByRule: { field: `earnByRule${PERIOD} { csv }` },
  byPartner: { field: `byPartner${PERIOD} { csv }` },
  topEarners: { field: `topEarners${PERIOD} { csv }` },
  redemptionsByReward: { field: `redemptionsByReward${PERIOD} { csv }` },
  memberActivity: { field: "memberActivity(dormantDays: 365) { csv }", noPeriod: true },
};

/** CSV as the API writes it (RFC 4180): rows of cells, quotes doubled. */
export function parseCsv(text) {
  const rows = [[]];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false; else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { rows.at(-1).push(cell); cell = ""; }
    else if (c === "\n") { rows.at(-1).push(cell.replace(/\r$/, "")); cell = ""; rows.push([]); }
    else cell += c;
  }
  if (cell || rows.at(-1).length) rows.at(-1).push(cell);
  return rows.filter((row) => row.length && row.some((c) => c !== ""));
}

export async function reportsPage(view, name = "pointsFlow") {
  const today = new Date().toISOString().slice(0, 10);
  const monthAgo = new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10);
  view.replaceChildren(
    h("section", { class: "card", "aria-labelledby": "reports-title" },
      h("h2", { id: "reports-title" }, t("reports")),
      h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); show(); } },
        h("select", { id: "report-name", "aria-label": t("reports") },
          Object.keys(REPORTS).map((key) => h("option", { value: key, selected: key === name }, t(`report_${key}`)))),
        h("label", { for: "report-from" }, t("from")), h("input", { id: "report-from", type: "date", value: monthAgo }),
        h("label", { for: "report-to" }, t("to")), h("input", { id: "report-to", type: "date", value: today }),
        h("button", { type: "submit" }, t("show"))),
      h("p", { id: "report-error", class: "error", role: "alert" }),
      h("div", { id: "report-body" })));
  await show();
}

async function show() {
  const name = $("report-name").value;
  const report = REPORTS[name];
  const query = report.noPeriod
    ? `{ reports { ${report.field} } }`
    : `query($from: Date!, $to: Date!) { reports { ${report.field} } }`;
  const variables = report.noPeriod ? {} : { from: $("report-from").value, to: $("report-to").value };
  $("report-error").textContent = "";
  let csv;
  try {
    csv = (await gql(query, variables)).reports[name.replace(/\(.*/, "")].csv;
  } catch (error) {
    $("report-error").textContent = error.message;
    return;
  }
  const [header, ...rows] = parseCsv(csv);
  const link = h("a", { href: URL.createObjectURL(new Blob([csv], { type: "text/csv" })), download: `${name}.csv`, id: "report-csv" }, t("downloadCsv"));
  const body = [link];
  if (report.chart && rows.length) {
    const series = report.chart.filter((c) => header.includes(c)).map((c) => ({ name: c, values: rows.map((r) => Number(r[header.indexOf(c)])) }));
    body.push(lineChart(t(`report_${name}`), rows.map((r) => r[0]), series));
  }
  body.push(table(header.map((column, i) => [column, (row) => row[i]]), rows));
  $("report-body").replaceChildren(...body);
}
