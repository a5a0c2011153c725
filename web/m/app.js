// The member page: sign in, balance, expiring points, check-in, rewards, history, live warnings.
import { $, h as el } from "/lib/dom.js";
import { ApiError, gql, logIn, logOut, onSessionChange } from "./api.js";
import { applyLang, currentLang, formatDate, t } from "./i18n.js";
import { watchWarnings } from "./live.js";

// History page size: 10, or ?page=N (1-50) to see the keyset paging work on a short history.
const PAGE = Math.min(Math.max(Number(new URLSearchParams(location.search).get("page")) || 10, 1), 50);
const BALANCE = "balance { available pending held debt nextExpiry { points expiresAt daysLeft } }";
let historyCursor = null;
let historyDone = false;
let historyLoading = false;
let stopWarnings = null;
let shownBalance = null; // the balance last shown: the banner tells its next expiry
const warned = new Set(); // instants (ms) the server has warned about this session

function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function showBalance(balance) {
  $("available").textContent = balance.available;
  $("pending").textContent = balance.pending;
  $("held").textContent = balance.held;
  $("debt").textContent = balance.debt;
  for (const id of ["debt-label", "debt", "debt-note"]) $(id).hidden = balance.debt === 0;
  const next = balance.nextExpiry;
  $("next-expiry").textContent = next ? t("expiresOn", { points: next.points, date: formatDate(next.expiresAt) }) : "—";
  shownBalance = balance;
  showBanner();
}

// The banner says what "next expiry" says, with the same numbers: the soonest expiring points as
// they are now, shown once the server has warned about them (or about a later instant: the sooner
// ones are the more urgent). A warning only says when to look; a redemption or an earn moves the
// numbers, and the banner follows the balance, never a warning's own count of the moment it was
// issued.
function showBanner() {
  const banner = $("live");
  const next = shownBalance?.nextExpiry;
  const at = next ? Date.parse(next.expiresAt) : NaN;
  banner.hidden = !next || ![...warned].some((instant) => instant >= at);
  if (!banner.hidden) banner.textContent = t("warning", { points: next.points, days: next.daysLeft, date: formatDate(next.expiresAt) });
}

async function loadHome() {
  const data = await gql(`{ me { name ${BALANCE} expiringPoints(withinDays: 30) { points expiresAt } }
    rewards(first: 20) { edges { node { id name description pointsPrice stock partnerName } } } }`);
  showBalance(data.me.balance);
  const expiring = $("expiring");
  expiring.replaceChildren(...data.me.expiringPoints.map((row) =>
    el("li", {}, t("expiresOn", { points: row.points, date: formatDate(row.expiresAt) }))));
  if (!data.me.expiringPoints.length) expiring.append(el("li", { class: "muted" }, t("none")));
  $("catalog").replaceChildren(...data.rewards.edges.map(({ node }) => rewardRow(node)));
}

function rewardRow(reward) {
  const button = el("button", { type: "button", "data-reward": reward.id, "aria-label": `${t("redeem")} ${reward.name}` }, t("redeem"));
  button.addEventListener("click", () => redeem(reward, button));
  const name = el("span", {}, reward.name);
  if (reward.partnerName) name.append(" ", el("small", { class: "muted" }, t("usableAt", { partner: reward.partnerName })));
  return el("li", {}, name, el("strong", {}, `${reward.pointsPrice} ${t("points")}`), button);
}

async function redeem(reward, button) {
  const key = idempotencyKey(); // one key per press: a retry of this press may replay it, never a new one
  button.disabled = true;
  try {
    const data = await gql(`mutation($input: RedeemRewardInput!) { redeemReward(input: $input) {
      member { ${BALANCE} } redemption { couponCode couponExpiresAt } userErrors { code message } } }`,
    { input: { rewardId: reward.id, idempotencyKey: key } });
    const payload = data.redeemReward;
    const coupon = payload.redemption && payload.redemption.couponCode
      ? t("code", { code: payload.redemption.couponCode, date: formatDate(payload.redemption.couponExpiresAt) }) : "";
    $("redeem-result").textContent = payload.userErrors.length ? t("error", { message: payload.userErrors[0].message }) : t("redeemed", { name: reward.name }) + coupon;
    if (payload.member) showBalance(payload.member.balance);
    if (!payload.userErrors.length) { await loadHome(); resetHistory(); } // spent lots leave the expiring list
  } catch (error) {
    $("redeem-result").textContent = t("error", { message: error.message });
  } finally {
    button.disabled = false;
  }
}

async function checkIn() {
  const button = $("checkin");
  button.disabled = true;
  try {
    const data = await gql(`mutation($key: String) { checkIn(idempotencyKey: $key) {
      checkIn { streak points alreadyDone } userErrors { message } } }`, { key: idempotencyKey() });
    const { checkIn: day, userErrors } = data.checkIn;
    $("checkin-result").textContent = userErrors.length ? t("error", { message: userErrors[0].message })
      : t(day.alreadyDone ? "already" : "streak", day);
    if (day && !day.alreadyDone) { await loadHome(); resetHistory(); }
  } finally {
    button.disabled = false;
  }
}

function historyRow(entry) {
  const sign = entry.points >= 0 ? "plus" : "minus";
  const row = el("li", { "data-entry": entry.id }, el("span", {}, entry.description),
    el("span", { class: sign }, `${entry.points > 0 ? "+" : ""}${entry.points}`),
    el("span", { class: "muted" }, `${formatDate(entry.occurredAt)} · ${t("balance")} ${entry.balanceAfter}`));
  if (entry.debtChange) {
    const owed = entry.debtChange > 0 ? t("owed", { points: entry.debtChange }) : t("paidOwed", { points: -entry.debtChange });
    row.append(el("span", { class: "muted", "data-debt": String(entry.debtChange) }, owed));
  }
  if (entry.breakdown.length) {
    const list = el("ul", {}, ...entry.breakdown.map((part) => el("li", {}, `${part.description}: ${part.points}`)));
    row.append(el("details", { class: "muted" }, el("summary", {}, t("details")), list));
  }
  return row;
}

async function loadHistoryPage() {
  if (historyLoading || historyDone || $("home").hidden) return;
  historyLoading = true;
  $("history").setAttribute("aria-busy", "true");
  try {
    const data = await gql(`query($first: Int!, $after: String) { me { history(first: $first, after: $after) {
      edges { node { id kind points balanceAfter debtChange occurredAt description breakdown { description points } } }
      pageInfo { hasNextPage endCursor } } } }`, { first: PAGE, after: historyCursor });
    const page = data.me.history;
    $("history").append(...page.edges.map(({ node }) => historyRow(node)));
    historyCursor = page.pageInfo.endCursor;
    historyDone = !page.pageInfo.hasNextPage;
  } finally {
    historyLoading = false;
    $("history").setAttribute("aria-busy", "false");
  }
  if (!historyDone && $("history-end").getBoundingClientRect().top < innerHeight) loadHistoryPage();
}

function resetHistory() {
  historyCursor = null;
  historyDone = false;
  $("history").replaceChildren();
  loadHistoryPage();
}

async function onWarning(warning) {
  warned.add(Date.parse(warning.expiresAt));
  const banner = $("live");
  banner.dataset.count = String(Number(banner.dataset.count || 0) + 1);
  if ($("home").hidden) return;
  try {
    showBalance((await gql(`{ me { ${BALANCE} } }`)).me.balance);
  } catch {
    showBanner(); // the balance shown so far; the next refresh brings the rest
  }
}

function showSignedIn(signedIn) {
  $("login").hidden = signedIn;
  $("home").hidden = !signedIn;
  $("logout").hidden = !signedIn;
  if (!signedIn) {
    warned.clear();
    shownBalance = null;
    stopWarnings?.();
    stopWarnings = null;
    $("live").hidden = true;
  }
}

async function onLogIn(event) {
  event.preventDefault();
  const submit = event.submitter;
  submit.disabled = true;
  $("login-error").textContent = "";
  try {
    await logIn($("phone").value.trim(), $("password").value);
    $("password").value = "";
    showSignedIn(true);
    stopWarnings = watchWarnings(onWarning);
    await loadHome();
    resetHistory();
    $("balance-title").focus();
  } catch (error) {
    $("login-error").textContent = error instanceof ApiError ? t("failed") : t("error", { message: error.message });
  } finally {
    submit.disabled = false;
  }
}

applyLang();
$("balance-title").tabIndex = -1;
$("lang").addEventListener("click", () => {
  applyLang(currentLang() === "zh" ? "en" : "zh");
  $("redeem-result").textContent = "";
  $("checkin-result").textContent = "";
  showBanner();
  if (!$("home").hidden) { loadHome(); resetHistory(); }
});
$("login").addEventListener("submit", onLogIn);
$("logout").addEventListener("click", () => logOut());
$("checkin").addEventListener("click", checkIn);
onSessionChange((session) => { if (!session) showSignedIn(false); });
new IntersectionObserver((seen) => { if (seen.some((e) => e.isIntersecting)) loadHistoryPage(); })
  .observe($("history-end"));
document.body.dataset.ready = "true";
