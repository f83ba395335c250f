/**
 * The first half of `npm start`: the two flows of the 2011 design email and a dead peer, each from a real
 * simulation run (the production client and server over a simulated link, in virtual time), printed as the
 * email's numbered arrows. `npm run diagram` prints the dead-peer run as the Mermaid diagram in the README.
 */
import { Effect, References } from "effect"
import * as Mermaid from "../src/tools/Mermaid.ts"
import * as Simulation from "../src/simulation/Simulation.ts"
import * as Trace from "../src/trace/Trace.ts"

const link = { latency: 2, jitter: 1 }

/** The dead-peer scenario, shared with the README's diagram. */
export const deadPeer: Simulation.Scenario = {
  seed: 2011,
  duration: 12_000,
  server: { interval: 2000, count: 2, policy: "if-supported" },
  toServer: link,
  toClient: link,
  faults: [{ at: 5000, kind: "freeze", side: "client" }]
}

const scenarios: ReadonlyArray<readonly [string, string, Simulation.Scenario]> = [
  [
    "Flow a: client -> server pings",
    "The client calls setKeepAlive(1000 ms, 3); the server's policy is `disabled`, so it only answers.",
    {
      seed: 2011,
      duration: 3200,
      server: { interval: 5000, count: 5, policy: "disabled" },
      client: { keepalive: { interval: 1000, count: 3 } },
      toServer: link,
      toClient: link
    }
  ],
  [
    "Flow b: server -> client pings",
    "The client advertised keepalive while opening and never calls setKeepAlive; the server's policy is\n`if-supported` with interval 2000 ms, count 2, so it pings after 2 s of silence.",
    { seed: 2011, duration: 6500, server: { interval: 2000, count: 2, policy: "if-supported" }, toServer: link, toClient: link }
  ],
  [
    "Dead peer: the client freezes",
    "As in flow b, but the client freezes at 5 s: its socket stays open and it answers nothing. The server\nsends its 2 PINGs and declares the client dead (C+1)·I = 6 s after the last frame it received.",
    deadPeer
  ]
]

const program = Effect.gen(function*() {
  console.log("=== Simulated: the production client and server over a simulated link (2 ± 1 ms each way), virtual time")
  for (const [title, explanation, scenario] of scenarios) {
    const out = yield* Simulation.run(scenario)
    console.log(`\n=== ${title}\n${explanation}\n${Trace.arrows(out.trace)}`)
    if (scenario === deadPeer) console.log(`\n${Trace.timeline(out.trace, "server")}`)
  }
}).pipe(Effect.provideService(References.MinimumLogLevel, "Error"))

/** The dead-peer run as Mermaid (what the README embeds). */
export const diagram = Simulation.run(deadPeer).pipe(
  Effect.map((out) => Mermaid.sequenceDiagram(out.trace)),
  Effect.provideService(References.MinimumLogLevel, "Error")
)

if (process.argv[2] === "--mermaid") console.log(await Effect.runPromise(diagram))
else if (import.meta.main) await Effect.runPromise(program)
