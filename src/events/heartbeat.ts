/** A repeating timer that runs only while started; it never keeps the process alive. */
export function createHeartbeat (beat: () => void, periodMs: number) {
  let timer: NodeJS.Timeout | undefined
  return {
    start (): void {
      if (timer !== undefined) return
      timer = setInterval(beat, periodMs)
      timer.unref()
    },
    stop (): void {
      clearInterval(timer)
      timer = undefined
    }
  }
}
