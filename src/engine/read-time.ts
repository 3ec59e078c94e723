import { sql } from 'kysely'

/**
 * When a read happened by the database's clock (the statement's start, the same clock its `now()`
 * judges lapsed holds by), in microseconds since the epoch, as a decimal string. Every process
 * reads the one database clock, so the times of reads made in different processes compare: live
 * events use it as their id.
 */
export const readTime = sql<string>`(extract(epoch FROM now()) * 1000000)::bigint::text`
