// Catalog and draws: rewards with their stock (moved by a signed amount with a reason, once per
// press), coupon batches generated, and the draws with their prizes' stock refreshed live.
import { $, h, table } from "/lib/dom.js";
import { gql, idempotencyKey } from "./api.js";
import { formatDate, t } from "./i18n.js";

const DRAWS = "allDraws(first: 100) { edges { node { id name cost startsAt endsAt closed prizes { id name remaining chance } } } }";
const CATALOG = `{ catalog(first: 100) { edges { node { id name kind pointsPrice stock active } } }
  ${DRAWS} }`;
let refresher = null;

export async function catalogPage(view) {
  const data = await gql(CATALOG);
  const rewards = data.catalog.edges.map((edge) => edge.node);
  view.replaceChildren(
    h("section", { class: "card", "aria-labelledby": "rewards-title" },
      h("h2", { id: "rewards-title" }, t("rewards")),
      table([[t("name"), (r) => r.name], [t("kind"), (r) => r.kind], [t("points"), (r) => r.pointsPrice],
        [t("stock"), (r) => h("span", { "data-stock": r.id }, r.stock ?? "∞")], [t("status"), (r) => (r.active ? t("ACTIVE") : t("archived"))]], rewards),
      stockForm(rewards),
      couponForm(rewards)),
    h("section", { class: "card", "aria-labelledby": "draws-title" },
      h("h2", { id: "draws-title" }, t("draws")), h("div", { id: "draws-list" })));
  showDraws(data.allDraws.edges.map((edge) => edge.node));
  clearInterval(refresher);
  refresher = setInterval(refreshDraws, 5_000);
}

export function leaveCatalog() { clearInterval(refresher); refresher = null; }

function stockForm(rewards) {
  return h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); moveStock(); } },
    h("select", { id: "stock-reward", "aria-label": t("rewards") }, rewards.filter((r) => r.stock !== null)
      .map((r) => h("option", { value: r.id }, r.name))),
    h("label", { for: "stock-delta" }, t("stockChange")), h("input", { id: "stock-delta", type: "number", step: 1, required: true }),
    h("label", { for: "stock-reason" }, t("reason")), h("input", { id: "stock-reason", required: true, maxlength: 500 }),
    h("button", { type: "submit" }, t("apply")),
    h("span", { id: "stock-result", role: "status" }));
}

function couponForm(rewards) {
  const coupons = rewards.filter((r) => r.kind === "COUPON");
  if (!coupons.length) return null;
  return h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); addCoupons(); } },
    h("select", { id: "coupon-reward", "aria-label": t("couponReward") }, coupons.map((r) => h("option", { value: r.id }, r.name))),
    h("label", { for: "coupon-count" }, t("generateCodes")),
    h("input", { id: "coupon-count", type: "number", min: 1, max: 10000, step: 1 }),
    h("label", { for: "coupon-codes" }, t("orCodes")),
    h("textarea", { id: "coupon-codes", rows: 2, placeholder: "CODE-1\nCODE-2" }),
    h("button", { type: "submit" }, t("addCoupons")),
    h("span", { id: "coupon-result", role: "status" }));
}

async function addCoupons() {
  const codes = $("coupon-codes").value.split(/\s+/).filter(Boolean);
  const input = { rewardId: $("coupon-reward").value, idempotencyKey: idempotencyKey(),
    ...(codes.length ? { codes } : { generate: Number($("coupon-count").value) }) };
  const query = `mutation($i: AddCouponsInput!) { addCoupons(input: $i) { added reward { id stock } userErrors { message } } }`;
  const { addCoupons: result } = await gql(query, { i: input });
  if (result.userErrors.length) { $("coupon-result").textContent = result.userErrors[0].message; return; }
  document.querySelector(`[data-stock="${CSS.escape(result.reward.id)}"]`).textContent = result.reward.stock;
  $("coupon-result").textContent = t("couponsAdded", { count: result.added });
}

async function moveStock() {
  const input = { rewardId: $("stock-reward").value, delta: Number($("stock-delta").value),
    reason: $("stock-reason").value, idempotencyKey: idempotencyKey() };
  const query = `mutation($i: MoveStockInput!) { moveStock(input: $i) { reward { id stock } userErrors { message } } }`;
  const { moveStock: result } = await gql(query, { i: input });
  if (result.userErrors.length) { $("stock-result").textContent = result.userErrors[0].message; return; }
  document.querySelector(`[data-stock="${CSS.escape(result.reward.id)}"]`).textContent = result.reward.stock;
  $("stock-result").textContent = t("done");
}

function showDraws(draws) {
  const box = $("draws-list");
  if (!box) return;
  box.replaceChildren(...draws.map((d) => h("div", { class: "draw" },
    h("h3", {}, `${d.name} · ${d.cost} ${t("points")} · ${formatDate(d.startsAt)} – ${formatDate(d.endsAt)}${d.closed ? ` · ${t("closed")}` : ""}`),
    table([[t("prize"), (p) => p.name], [t("chance"), (p) => `${(p.chance * 100).toFixed(1)}%`],
      [t("stock"), (p) => h("span", { "data-prize": `${d.id}:${p.id}` }, p.remaining ?? "∞")]], d.prizes))));
  if (!draws.length) box.append(h("p", {}, t("none")));
}

async function refreshDraws() {
  if (!$("draws-list")) { leaveCatalog(); return; }
  const { allDraws } = await gql(`{ ${DRAWS} }`);
  showDraws(allDraws.edges.map((edge) => edge.node));
}
