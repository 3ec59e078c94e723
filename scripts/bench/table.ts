import type { Plans } from './hold-plan.ts'
import { planText } from './hold-plan.ts'
import { say } from './settings.ts'

/** The table the bench prints: one row per figure, with its target and whether it was met. */

export interface Row { phase: string, metric: string, value: string, target: string, pass?: boolean }

export const yes = (ok: boolean): string => ok ? 'yes' : 'no'

export function planRow (phase: string, plan: Plans): Row {
  const [start, end] = [planText(plan.start), planText(plan.end)]
  return { phase, metric: 'hold plan (start -> end)', value: start === end ? start : `${start} -> ${end}`, target: '' }
}

export function printTable (rows: Row[]): void {
  const cells = rows.map((row) => [row.phase, row.metric, row.value, row.target, row.pass === undefined ? '' : row.pass ? 'pass' : 'MISS'])
  const header = ['phase', 'metric', 'value', 'target', 'pass/fail']
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((cell) => cell[column]!.length)))
  const line = (cell: string[]): string => cell.map((text, column) => text.padEnd(widths[column]!)).join('  ').trimEnd()
  say('')
  say(line(header))
  say(widths.map((width) => '-'.repeat(width)).join('  '))
  for (const cell of cells) say(line(cell))
  say('')
  const missed = rows.filter((row) => row.pass === false)
  say(missed.length === 0
    ? 'All targets met.'
    : `MISSED ${missed.length}: ${missed.map((row) => `${row.phase} ${row.metric} (${row.value}, target ${row.target})`).join('; ')}`)
  const slow = rows.filter((row) => row.metric.startsWith('hold plan') && row.value !== 'fast')
  if (slow.length > 0) {
    say(`Slow hold plan in: ${slow.map((row) => row.phase).join(', ')}. The planner lacked fresh statistics for the show; those figures measure that plan.`)
  }
}
