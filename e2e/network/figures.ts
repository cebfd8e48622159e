/** The figures table: one row per case, from the JSON lines the cases wrote. */
import { writeFileSync } from 'node:fs'

export const FIGURES_FILE = new URL('./results/figures.jsonl', import.meta.url).pathname

export function figuresTable (jsonl: string): string {
  const rows = jsonl.split('\n').filter(l => l.trim() !== '').map(l => JSON.parse(l))
  const head = '| case | path | first message ms | throughput KiB/s (msg/s) | sent | lost | duplicated | out of order | peer:leave | errors | case s | notes |\n|---|---|---|---|---|---|---|---|---|---|---|---|'
  const fmt = (x: number | undefined, d = 0): string => x == null ? '–' : x.toFixed(d)
  const lines = rows.map(r => `| ${r.case} | ${r.path} | ${fmt(r.firstMessageMs)} | ${fmt(r.throughputKiBs, 1)}${r.throughputMsgs != null ? ` (${fmt(r.throughputMsgs)})` : ''} | ${r.sent} | ${r.lost} | ${r.duplicated} | ${r.outOfOrder} | ${r.peerLeaves} | ${r.errors} | ${fmt(r.durationMs / 1000)} | ${r.notes ?? ''} |`)
  const table = [head, ...lines].join('\n')
  writeFileSync(FIGURES_FILE.replace('.jsonl', '.md'), table + '\n')
  return table
}
