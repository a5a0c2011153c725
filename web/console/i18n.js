// The console's labels in Chinese and English (web/lib/i18n.js does the switching).
import { createI18n } from "/lib/i18n.js";

const TEXT = {
  zh: {
    title: "积分运营后台", other: "English", signIn: "登录", signOut: "退出", token: "管理员令牌",
    tokenHelp: "粘贴 `jifen token admin` 输出的令牌，或打开它打印的一次性链接。",
    badToken: "令牌无效或已过期", forbidden: "此令牌没有权限：{scope}", error: "出错了：{message}",
    dashboard: "概览", members: "会员", program: "积分规则", catalog: "商城与抽奖", reports: "报表", audit: "审计日志",
    version: "版本", versions: "版本历史", updatedAt: "时间", updatedBy: "操作人", note: "备注",
    edit: "编辑", check: "检查改动", apply: "确认应用", cancel: "取消", noChange: "没有改动",
    changes: "将要应用的改动", applied: "已应用为版本 {version}", fixErrors: "有 {count} 处错误，请修改后再试",
    diff: "比较版本", compare: "比较", path: "字段", before: "原值", after: "新值",
    preview: "积分试算", order: "订单 (JSON)", run: "试算", total: "合计 {points} 积分", rule: "规则", line: "行",
    memberId: "会员 ID", find: "查找", notFound: "没有这个会员", balance: "余额", available: "可用",
    pending: "待生效", held: "冻结", lifetime: "累计获得", history: "积分明细", lots: "积分批次", expires: "到期",
    adjust: "调整积分", points: "积分", reason: "原因", reasonRequired: "请填写原因",
    confirmAdjust: "将为会员 {member} {sign}{points} 积分，原因：{reason}", done: "已完成", never: "永不过期",
  },
  en: {
    title: "Jifen console", other: "中文", signIn: "Sign in", signOut: "Sign out", token: "Admin token",
    tokenHelp: "Paste the token `jifen token admin` prints, or open the one-time link it prints.",
    badToken: "The token is invalid or expired", forbidden: "This token lacks the scope: {scope}",
    error: "Something went wrong: {message}",
    dashboard: "Dashboard", members: "Members", program: "Program", catalog: "Catalog & draws", reports: "Reports", audit: "Audit log",
    version: "Version", versions: "Versions", updatedAt: "When", updatedBy: "By", note: "Note",
    edit: "Edit", check: "Review changes", apply: "Apply", cancel: "Cancel", noChange: "Nothing changed",
    changes: "Changes to apply", applied: "Applied as version {version}", fixErrors: "{count} errors: fix them and try again",
    diff: "Compare versions", compare: "Compare", path: "Field", before: "Before", after: "After",
    preview: "Earn preview", order: "Order (JSON)", run: "Preview", total: "Total {points} points", rule: "Rule", line: "Line",
    memberId: "Member ID", find: "Find", notFound: "No such member", balance: "Balance", available: "Available",
    pending: "Pending", held: "Held", lifetime: "Lifetime earned", history: "History", lots: "Lots", expires: "Expires",
    adjust: "Adjust points", points: "Points", reason: "Reason", reasonRequired: "A reason is required",
    confirmAdjust: "Member {member} will get {sign}{points} points. Reason: {reason}", done: "Done", never: "never",
  },
};

export const { t, currentLang, formatDate, applyLang } = createI18n(TEXT);
