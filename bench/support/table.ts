/** The report as a plain-text table: figure, median, min–max, unit, ratio, goal. */
import type { Figure } from "../report-types.js";

const GROUP_NAMES: Readonly<Record<number, string>> = {
  1: "1. in-process check",
  2: "2. lookups on wide graphs",
  3: "3. writes, bulk load, snapshot, memory",
  4: "4. network",
  5: "5. casbin (RBAC)",
  6: "6. SpiceDB embedded (memdb)",
  7: "7. identity",
  8: "8. OAuth2 against plain oidc-provider",
  9: "9. gateway (Oathkeeper-compatible proxy)",
};

/** A number for people: thousands separators above 1,000, three significant digits below. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return "-";
  const abs = Math.abs(x);
  if (abs >= 1000) return Math.round(x).toLocaleString("en-US");
  if (abs === 0) return "0";
  return Number(x.toPrecision(3)).toString();
}

function goalCell(f: Figure): string {
  if (f.goal === undefined) return "";
  const verdict = f.goal.met === undefined ? "n/a" : f.goal.met ? "met" : "MISSED";
  return `${verdict} (${f.goal.text})`;
}

function row(f: Figure): string[] {
  if (f.skipped !== undefined) return [f.id, "skipped", "", f.unit, "", `${goalCell(f)} ${f.skipped}`.trim()];
  const ratio = f.ratio === undefined ? "" : `${formatNumber(f.ratio.value)}x ${f.ratio.against}`;
  return [f.id, formatNumber(f.median), `${formatNumber(f.min)}–${formatNumber(f.max)}`, f.unit, ratio, goalCell(f)];
}

/** The table, grouped by figure number, columns padded to their widest cell. */
export function formatTable(figures: readonly Figure[]): string {
  const header = ["figure", "median", "min–max", "unit", "ratio", "goal"];
  const groups = [...new Set(figures.map((f) => f.group))].sort((a, b) => a - b);
  const body: Array<string[] | string> = [];
  for (const g of groups) {
    body.push(GROUP_NAMES[g] ?? `${g}.`);
    for (const f of figures.filter((x) => x.group === g)) body.push(row(f));
  }
  const rows = body.filter((r): r is string[] => Array.isArray(r));
  // The last column (goal) is not padded, so a long reason does not widen every line.
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  // Numbers right-aligned (median), text left-aligned.
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : i === 1 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  const out = [line(header), widths.map((w, i) => "-".repeat(i === header.length - 1 ? 4 : w)).join("  ")];
  for (const r of body) out.push(typeof r === "string" ? `\n${r}` : line(r));
  return out.join("\n");
}
