/**
 * The Promela model of the checker's transition system (test/bench/promela.ts), without SPIN: it carries the
 * configuration's parameters and the checker's state count, includes the session table, and refuses what it does
 * not model. The benchmark compares the counts with SPIN's where SPIN is installed.
 */
import { describe, expect, it } from "vitest"
import { promela } from "../bench/promela.ts"

const SMALL = {
  allowFreeze: { client: false, server: false },
  maxSetKeepAliveCalls: 0,
  maxDelay: 0,
  intervalTicks: 1,
  countClient: 1,
  serverIntervalTicks: 1,
  serverCount: 1
}

describe("Promela model", () => {
  it("writes the configuration's #defines and one d_step per choice, with the checker's state count", () => {
    const p = promela(SMALL)
    if (typeof p === "string") throw new Error(p)
    expect(p.states).toBe(19)
    expect(p.source).toContain("#define MAXDELAY 0")
    expect(p.source).toContain("#define FREEZE_C 0")
    expect(p.source).toContain("#define MAXSET 0")
    expect(p.source).toContain("\\#include \"keepalive.h\"")
    expect(p.source.match(/:: d_step/g)?.length).toBe(5 + 2)
    expect(p.header).toContain("static int lookup(")
  })

  it("refuses what it does not model", () => {
    expect(promela({ ...SMALL, bothOrders: true })).toBe("not modelled in Promela: both orders or late ticks")
    expect(promela({ ...SMALL, calls: 1 })).toBe("not modelled in Promela: application calls")
  })
})
