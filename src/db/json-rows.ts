import { sql } from 'kysely'

/**
 * Rows given to a statement as one JSON parameter and read back as table `h`: a batch of any size
 * is one statement text, prepared and planned once per connection (a VALUES list would make a
 * text a size). Not unnest() of arrays: the planner counts a literal array's elements, so every
 * run planned for its own values looked cheaper than the generic plan, and was planned anew each
 * time. The builder has no form for it; `columns` (names and PostgreSQL types) come from the code.
 */
export function jsonRows<Row extends object> (rows: Row[], columns: { [K in keyof Row & string]: string }) {
  const definitions = Object.entries<string>(columns).map(([name, type]) => sql`${sql.ref(name)} ${sql.raw(type)}`)
  return sql<Row>`jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)`.as<'h'>(sql`h(${sql.join(definitions)})`)
}

/**
 * `values` as an array read from one JSON parameter, for `column = ANY (...)` beside a join with
 * jsonRows. The index lookup is then bounded by the values given whatever the table's statistics
 * say: a plan made while a table was nearly empty (a show's first keys, say) hash-joined every row
 * of the show, and a generic plan is kept for the connection's life. An array made by a
 * sub-select, not a literal parameter, so that the planner cannot count it (see jsonRows).
 */
export function jsonArray<T extends string | number> (values: T[], type: 'int' | 'bigint' | 'text' | 'uuid') {
  return sql<T[]>`array(SELECT e.value::${sql.raw(type)} FROM jsonb_array_elements_text(${JSON.stringify(values)}::jsonb) AS e(value))`
}
