// Paths into a program configuration, written as the server writes them (earn.rules[2].multiplier),
// and the difference between two configurations as a list of {path, before, after}.
export function pathText(steps) {
  let text = "";
  for (const step of steps) {
    text += typeof step === "number" ? `[${step}]` : text ? `.${step}` : step;
  }
  return text;
}

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

export function diff(before, after, steps = []) {
  if (Array.isArray(before) && Array.isArray(after)) {
    const changes = [];
    for (let i = 0; i < Math.max(before.length, after.length); i++) changes.push(...diff(before[i], after[i], [...steps, i]));
    return changes;
  }
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => diff(before[key], after[key], [...steps, key]));
  }
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  const show = (value) => (value === undefined ? null : JSON.stringify(value));
  return [{ path: pathText(steps), before: show(before), after: show(after) }];
}
