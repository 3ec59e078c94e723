/**
 * Items by the time they are due, earliest first (a binary heap): taking the next due item of tens
 * of thousands costs a few comparisons, where scanning and sorting them all would keep the load
 * generator busy and late reading the answers it times.
 */
export function createDueQueue<T> (dueAt: (item: T) => number, items: Iterable<T> = []) {
  const heap: T[] = []
  const before = (i: number, j: number): boolean => dueAt(heap[i]!) < dueAt(heap[j]!)
  const swap = (i: number, j: number): void => { [heap[i], heap[j]] = [heap[j]!, heap[i]!] }

  function up (i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(i, parent)) return
      swap(i, parent)
      i = parent
    }
  }

  function down (i: number): void {
    for (;;) {
      const [left, right] = [2 * i + 1, 2 * i + 2]
      let first = i
      if (left < heap.length && before(left, first)) first = left
      if (right < heap.length && before(right, first)) first = right
      if (first === i) return
      swap(i, first)
      i = first
    }
  }

  const queue = {
    get size (): number { return heap.length },
    push (item: T): void {
      heap.push(item)
      up(heap.length - 1)
    },
    /** The earliest item if it is due by `now`, taken out of the queue. */
    takeDue (now: number): T | undefined {
      if (heap.length === 0 || dueAt(heap[0]!) > now) return undefined
      const first = heap[0]!
      const last = heap.pop()!
      if (heap.length > 0) {
        heap[0] = last
        down(0)
      }
      return first
    },
    /** When the earliest item is due; Infinity when there is none. */
    nextDue: (): number => heap.length === 0 ? Infinity : dueAt(heap[0]!)
  }
  for (const item of items) queue.push(item)
  return queue
}
