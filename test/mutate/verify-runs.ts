/**
 * The model-checking runs of the mutation harness: small bounds, each with one of the wider model's choices, so
 * that together they cover the model in seconds. Exits with 1 at the first violation (printing it as JSON: the
 * run, the property, the depth), 0 when every run holds.
 *
 * @since 0.1.0
 */
import * as ModelChecker from "../../src/verify/ModelChecker.ts"

const small: ModelChecker.Bounds = { intervalTicks: 2, countClient: 1, serverIntervalTicks: 1, serverCount: 1, maxDelay: 1 }
const reconfigure: ModelChecker.Bounds = {
  setKeepAliveChoices: [{ interval: 2, count: 1 }, { interval: 1, count: 2 }, { interval: 3, count: 1 }, { interval: 0, count: 0 }],
  maxSetKeepAliveCalls: 3
}

/**
 * The runs, in order: the default model first, then one wider choice at a time.
 *
 * @since 0.1.0
 * @category constants
 */
export const runs: ReadonlyArray<{ readonly label: string; readonly bounds: ModelChecker.Bounds }> = [
  { label: "default I=C=2 d=1", bounds: { maxDelay: 1 } },
  { label: "I=1 C=1 d=0", bounds: { intervalTicks: 1, countClient: 1, serverIntervalTicks: 1, serverCount: 1, maxDelay: 0 } },
  { label: "C=0", bounds: { intervalTicks: 2, countClient: 0, serverIntervalTicks: 3, serverCount: 0, maxDelay: 1 } },
  { label: "reconfiguration", bounds: { ...small, ...reconfigure } },
  { label: "late ticks", bounds: { ...small, lateTicks: 1 } },
  { label: "both orders", bounds: { ...small, bothOrders: true } },
  { label: "close", bounds: { ...small, closes: { client: true, server: true } } },
  { label: "calls, silent client", bounds: { ...small, calls: 2, clientAdvertises: false } },
  { label: "calls, server answers only", bounds: { intervalTicks: 3, countClient: 1, serverIntervalTicks: 0, serverCount: 0, maxDelay: 1, calls: 2 } },
  { label: "calls", bounds: { ...small, calls: 2 } },
  { label: "thaw", bounds: { ...small, maxDelay: 0, allowThaw: { client: true, server: true } } },
  { label: "thaw, late", bounds: { ...small, maxDelay: 0, allowThaw: { client: true, server: false }, lateTicks: 1 } },
  { label: "no advertisement", bounds: { ...small, clientAdvertises: false } },
  { label: "required", bounds: { ...small, policy: "required" } },
  { label: "required, silent client", bounds: { ...small, policy: "required", clientAdvertises: false } },
  { label: "disabled", bounds: { ...small, policy: "disabled" } },
  { label: "draft", bounds: { ...small, variant: "draft" } },
  { label: "draft, calls", bounds: { ...small, variant: "draft", calls: 1 } },
  {
    label: "wide, ticks of I/2",
    bounds: ModelChecker.wide({ intervalTicks: 2, countClient: 1, serverIntervalTicks: 2, serverCount: 1, maxDelay: 0, tickMs: 500 })
  }
]

const main = (): void => {
  for (const run of runs) {
    const v = ModelChecker.check(run.bounds, { maxStates: 2_000_000 })
    if (v.violation !== undefined || v.invalid !== undefined) {
      console.log(
        JSON.stringify({
          run: run.label,
          property: v.violation?.property ?? "invalid",
          depth: v.violation?.depth,
          description: v.violation?.description ?? v.invalid?.message
        })
      )
      process.exitCode = 1
      return
    }
  }
  console.log(JSON.stringify({ holds: runs.length }))
}

if (import.meta.main === true) main()
