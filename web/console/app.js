// The operator console: sign in with an admin token, then pages chosen by the URL's hash.
import { $ } from "/lib/dom.js";
import { ApiError, gql, signIn, signOut, token } from "./api.js";
import { applyLang, currentLang, errorText, t } from "./i18n.js";
import { auditPage } from "./audit.js";
import { catalogPage, leaveCatalog } from "./catalog.js";
import { dashboardPage, leaveDashboard } from "./dashboard.js";
import { importsPage, leaveImports } from "./imports.js";
import { membersPage } from "./members.js";
import { messagesPage } from "./messages.js";
import { programPage } from "./program.js";
import { reportsPage } from "./reports.js";

const PAGES = {
  dashboard: (view) => dashboardPage(view),
  program: (view) => programPage(view),
  catalog: (view) => catalogPage(view),
  reports: (view, name) => reportsPage(view, name),
  members: (view, id) => membersPage(view, id && decodeURIComponent(id)),
  audit: (view, target) => auditPage(view, target),
  messages: (view, id) => messagesPage(view, id && decodeURIComponent(id)),
  import: (view) => importsPage(view),
};

function signedIn(yes) {
  $("signin").hidden = yes;
  if (!yes) $("sandbox-clock").hidden = true;
  $("nav").hidden = !yes;
  $("signout").hidden = !yes;
  if (!yes) $("view").replaceChildren();
}

async function route() {
  $("page-error").textContent = "";
  if (!token()) { signedIn(false); return; }
  signedIn(true);
  await showSandboxClock();
  const [name, arg] = location.hash.replace(/^#\/?/, "").split("/");
  const page = PAGES[name] ? name : "dashboard";
  leaveDashboard();
  leaveCatalog();
  leaveImports();
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === `#/${page}`);
    if (link.hasAttribute("aria-current")) link.setAttribute("aria-current", "page");
  }
  try {
    await PAGES[page]($("view"), arg);
  } catch (error) {
    if (error instanceof ApiError && error.code === "UNAUTHENTICATED") {
      signOut();
      signedIn(false);
      $("signin-error").textContent = t("badToken");
    } else {
      $("page-error").textContent = errorText(error);
    }
  }
  document.body.dataset.page = page;
}

/** A development instance whose sandbox clock was moved (`jifen clock`) says so to a signed-in
 * operator, with its time, in the header: /readyz carries it. */
async function showSandboxClock() {
  const ready = await fetch("/readyz").then((response) => response.json()).catch(() => ({}));
  const sandbox = ready.sandbox_clock;
  const badge = $("sandbox-clock");
  badge.hidden = !sandbox || sandbox.offset_seconds === 0;
  if (!badge.hidden) {
    const time = new Date(sandbox.now).toLocaleString(currentLang() === "zh" ? "zh-CN" : "en-GB");
    badge.textContent = t("sandboxTime", { time });
    badge.dataset.now = sandbox.now;
  }
}

/** A one-time link from `jifen token admin ... --link`: traded once for a token, then dropped
 * from the address bar and history so the used code is not kept or shared. */
async function openLink() {
  const code = new URLSearchParams(location.hash.slice(1)).get("link");
  if (!code) return;
  history.replaceState(null, "", `${location.pathname}#/dashboard`);
  signOut(); // whoever was signed in in this tab, the link decides who is now
  const query = `mutation($code: String!) { openConsoleLink(code: $code) {
    accessToken userErrors { code message } } }`;
  try {
    const { openConsoleLink } = await gql(query, { code });
    if (openConsoleLink.accessToken) signIn(openConsoleLink.accessToken);
    else $("signin-error").textContent = openConsoleLink.userErrors[0].message;
  } catch (error) {
    $("signin-error").textContent = t("error", { message: error.message });
  }
}

applyLang();
$("lang").addEventListener("click", () => { applyLang(currentLang() === "zh" ? "en" : "zh"); route(); });
$("signin").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("token").value);
  $("token").value = "";
  $("signin-error").textContent = "";
  route();
});
$("signout").addEventListener("click", () => { signOut(); route(); });
window.addEventListener("hashchange", route);
openLink().then(route).then(() => { document.body.dataset.ready = "true"; });
