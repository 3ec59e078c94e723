export interface BatchLimits {
  /** Batches of one key running at once. */
  batchesPerKey: number
  /** Items waiting before a key that has a batch running starts another. */
  itemsToStartAnother: number
  /** Items in one batch at most. */
  itemsPerBatch: number
}

/**
 * A batch of many holds does several times the holds per second of single ones; a second batch
 * lets a show's next holds run while the last batch's answers are sent, but a second batch of one
 * or two holds costs nearly what a full one does and delays the batch behind it. A batch's
 * statements cost much the same for 64 holds as for 256, so under a stampede large batches keep
 * the queue short. (Measurements in docs/design.md, "Batched holds".)
 */
export const defaultBatchLimits: BatchLimits = { batchesPerKey: 2, itemsToStartAnother: 16, itemsPerBatch: 256 }

/** Runs one batch of one key: a result for each item, in the items' order. */
export type RunBatch<Item, Result> = (key: string, items: Item[]) => Promise<Result[]>

interface Waiting<Item, Result> {
  item: Item
  /** performance.now() when it began to wait. */
  since: number
  resolve: (result: Result) => void
  reject: (error: unknown) => void
}

interface KeyQueue<Item, Result> {
  waiting: Array<Waiting<Item, Result>>
  running: number
}

/**
 * Coalesces work on one key (a show, for holds) into batches. When sales open, every request
 * wants the same show; a transaction per hold would make each pay its statements, a commit and
 * the round trips, and make the concurrent ones walk past each other's locked seats. Instead, an
 * item that arrives while a batch of its key is running waits, and goes with every other item that
 * waited, in one batch, when a batch of the key ends (or, with enough of them waiting, at once
 * beside it). An item for a quiet key goes at once: no timer, no added wait.
 *
 * A batch that fails fails every item in it with its error, as it would have failed each alone.
 */
export function createBatchQueue<Item, Result> (runBatch: RunBatch<Item, Result>, limits: BatchLimits = defaultBatchLimits) {
  const queues = new Map<string, KeyQueue<Item, Result>>()

  async function run (key: string, batch: Array<Waiting<Item, Result>>): Promise<void> {
    try {
      const results = await runBatch(key, batch.map((waiting) => waiting.item))
      if (results.length !== batch.length) throw new Error(`a batch of ${batch.length} answered ${results.length} results`)
      batch.forEach((waiting, index) => { waiting.resolve(results[index]!) })
    } catch (error) {
      for (const waiting of batch) waiting.reject(error)
    }
  }

  const mayStart = (queue: KeyQueue<Item, Result>): boolean => queue.waiting.length > 0 && (queue.running === 0 ||
    (queue.running < limits.batchesPerKey && queue.waiting.length >= limits.itemsToStartAnother))

  function dispatch (key: string, queue: KeyQueue<Item, Result>): void {
    while (mayStart(queue)) {
      const batch = queue.waiting.splice(0, limits.itemsPerBatch)
      queue.running++
      void run(key, batch).finally(() => {
        queue.running--
        if (queue.running === 0 && queue.waiting.length === 0) queues.delete(key)
        else dispatch(key, queue)
      })
    }
  }

  return {
    /** The item's result, once a batch of its key has run with it. */
    submit: async (key: string, item: Item): Promise<Result> => await new Promise((resolve, reject) => {
      let queue = queues.get(key)
      if (queue === undefined) {
        queue = { waiting: [], running: 0 }
        queues.set(key, queue)
      }
      queue.waiting.push({ item, since: performance.now(), resolve, reject })
      dispatch(key, queue)
    }),
    /** Items waiting for a batch, over all keys. */
    waiting: () => [...queues.values()].reduce((sum, queue) => sum + queue.waiting.length, 0),
    /**
     * How long (ms) the item that has waited longest for its batch has waited, 0 when none waits:
     * what load shedding watches. A count would not do: a flash sale's thousands of waiting holds
     * are a fraction of a second of batched work, while a stalled database shows as age.
     */
    longestWaitMs: () => {
      const now = performance.now()
      let longest = 0
      for (const queue of queues.values()) {
        const first = queue.waiting[0]
        if (first !== undefined) longest = Math.max(longest, now - first.since)
      }
      return longest
    }
  }
}

export type BatchQueue<Item, Result> = ReturnType<typeof createBatchQueue<Item, Result>>
