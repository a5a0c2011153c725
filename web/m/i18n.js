// The member page's labels in Chinese and English (web/lib/i18n.js does the switching).
import { createI18n } from "/lib/i18n.js";

const TEXT = {
  zh: {
    title: "积分", signIn: "登录", logout: "退出", phone: "手机号", password: "密码",
    balance: "积分余额", points: "积分", pending: "待生效", held: "冻结中", nextExpiry: "最近到期",
    checkIn: "签到", expiring: "即将到期", catalog: "积分商城", history: "积分明细",
    redeem: "兑换", redeemed: "兑换成功：{name}", code: "，券码 {code}，{date} 前有效", usableAt: "仅限 {partner} 使用", streak: "签到成功，连续 {streak} 天，+{points} 积分",
    already: "今天已签到，连续 {streak} 天", none: "暂无", expiresOn: "{points} 积分将于 {date} 到期",
    warning: "提醒：{points} 积分将在 {days} 天后（{date}）到期", details: "明细",
    failed: "登录失败，请检查手机号和密码", error: "出错了：{message}", other: "English",
    debt: "待抵扣欠分", debtNote: "退款扣回了您已用掉的积分：之后到账的积分会先抵扣这部分欠分。",
    owed: "欠分 +{points}", paidOwed: "抵扣欠分 {points}",
  },
  en: {
    title: "Jifen points", signIn: "Sign in", logout: "Sign out", phone: "Phone", password: "Password",
    balance: "Balance", points: "points", pending: "Pending", held: "Held", nextExpiry: "Next expiry",
    checkIn: "Check in", expiring: "Expiring soon", catalog: "Rewards", history: "History",
    redeem: "Redeem", redeemed: "Redeemed: {name}", code: "; code {code}, valid until {date}", usableAt: "at {partner} only", streak: "Checked in: {streak}-day streak, +{points} points",
    already: "Already checked in today ({streak}-day streak)", none: "Nothing yet",
    expiresOn: "{points} points expire on {date}",
    warning: "Heads up: {points} points expire in {days} days ({date})", details: "Details",
    failed: "Sign-in failed: check the phone and password", error: "Something went wrong: {message}",
    debt: "Owed", debtNote: "A refund took back points you had already spent: your next points pay this first.",
    owed: "owed +{points}", paidOwed: "paid {points} owed",
    other: "中文",
  },
};

export const { t, currentLang, formatDate, applyLang } = createI18n(TEXT);
