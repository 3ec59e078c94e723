/** Everything the bench starts is stopped in reverse order, on success, failure or Ctrl-C. */

const steps: Array<() => Promise<void>> = []

export function onCleanUp (step: () => Promise<void>): void {
  steps.push(step)
}

/** Runs one step now, ahead of the others, for something a phase is done with. */
export async function cleanUpNow (step: () => Promise<void>): Promise<void> {
  const index = steps.indexOf(step)
  if (index >= 0) steps.splice(index, 1)
  await step()
}

export async function cleanUp (): Promise<void> {
  for (const step of steps.splice(0).reverse()) {
    try {
      await step()
    } catch (error) {
      process.stderr.write(`clean-up step failed: ${(error as Error).message}\n`)
    }
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping the servers and dropping the bench databases\n`)
    void cleanUp().finally(() => process.exit(130))
  })
}
