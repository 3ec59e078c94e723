const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Whether `value` is a uuid: ids that are not cannot name a row, and PostgreSQL would refuse them. */
export function isUuid (value: string): boolean {
  return uuidPattern.test(value)
}
