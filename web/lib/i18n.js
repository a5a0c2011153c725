// Chinese and English labels for a page: the default follows navigator.language, a toggle switches.
// Each page gives its own TEXT ({zh: {...}, en: {...}}); elements with data-i18n="key" are relabelled.
export function createI18n(TEXT) {
  let lang = (navigator.language || "zh").toLowerCase().startsWith("zh") ? "zh" : "en";

  function t(key, values = {}) {
    const template = TEXT[lang][key] ?? key;
    return template.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
  }

  function formatDate(iso) {
    return new Date(iso).toLocaleDateString(lang === "zh" ? "zh-CN" : "en-GB", { year: "numeric", month: "short", day: "numeric" });
  }

  function applyLang(next = lang) {
    lang = next;
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = t("title");
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    const toggle = document.getElementById("lang");
    toggle.textContent = lang === "zh" ? "EN" : "中";
    toggle.setAttribute("aria-label", t("other"));
  }

  return { t, formatDate, applyLang, currentLang: () => lang };
}
