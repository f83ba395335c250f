/**
 * Leak measurements for lifecycle tests: live fibers (through Effect's fiber runtime metrics), the heap after a
 * full collection, and Node's timers and sockets.
 */
import * as V8 from "node:v8"
import * as Vm from "node:vm"
import type { Metric } from "effect"

V8.setFlagsFromString("--expose-gc")
const gc = Vm.runInNewContext("gc") as () => void

/** The heap in use after two full collections. */
export const heapAfterGc = (): number => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

/** Node's live timers and TCP handles. */
export const timersAndSockets = (): number => process.getActiveResourcesInfo().filter((r) => r === "Timeout" || r.startsWith("TCP")).length

/** A fiber counter to provide as `Metric.FiberRuntimeMetrics`; `active()` is the number of live fibers. */
export const fiberCounter = (): { readonly service: Metric.FiberRuntimeMetricsService; readonly active: () => number } => {
  let active = 0
  return {
    service: { recordFiberStart: () => void active++, recordFiberEnd: () => void active-- },
    active: () => active
  }
}
