/**
 * Benchmark (not a test): keepalive core inputs per second, against a hand-written mutable implementation of
 * the same rules, on the same input sequence, in the same run. Run with `npm run bench`.
 */
import * as os from "node:os"
import * as Keepalive from "../../src/core/Keepalive.ts"

// ---------------------------------------------------------------------------------------------------------------
// The baseline: the same rules, written the usual imperative way (fields mutated in place).
// ---------------------------------------------------------------------------------------------------------------

// The same output contract as the core (commands as values, shared constant arrays), so that the two differ
// only in how they keep state: fields mutated in place versus a new immutable state per input.
const NOTHING: ReadonlyArray<Keepalive.Command> = []
const SEND_PING: ReadonlyArray<Keepalive.Command> = [Keepalive.SendPing]
const SEND_PONG: ReadonlyArray<Keepalive.Command> = [Keepalive.SendPong]

class MutableKeepalive {
  running = false
  dead = false
  interval = 0
  count = 0
  pingsSent = 0
  lastReceived = 0
  intervalStart = 0
  now = 0

  handle(input: Keepalive.Input): ReadonlyArray<Keepalive.Command> {
    if (this.dead) return NOTHING
    if (input.now > this.now) this.now = input.now
    const now = this.now
    switch (input._tag) {
      case "Tick":
        if (!this.running || now < this.intervalStart + this.interval) return NOTHING
        if (this.pingsSent >= this.count) {
          this.dead = true
          return [{ _tag: "PeerDead", silence: now - this.lastReceived, pingsSent: this.pingsSent }]
        }
        this.pingsSent++
        this.intervalStart = now
        return SEND_PING
      case "Received":
        this.pingsSent = 0
        this.lastReceived = this.intervalStart = now
        return input.kind === "ping" ? SEND_PONG : NOTHING
      case "Start": {
        if (!Number.isInteger(input.interval) || !Number.isInteger(input.count) || input.count < 0) return NOTHING
        if (input.interval <= 0) {
          this.running = false
          return NOTHING
        }
        const sent = this.running ? this.pingsSent : 0
        const from = this.lastReceived + sent * input.interval
        this.intervalStart = Math.max(from, now - input.interval)
        this.interval = input.interval
        this.count = input.count
        this.pingsSent = sent
        this.running = true
        return NOTHING
      }
      case "Pause":
      case "Resume":
      case "ClockStep":
      case "RunLoop":
        // the benchmark's traffic never pauses, steps a clock or holds an event loop: the hand-written floor leaves pausing out
        return NOTHING
      case "Stop":
        this.running = false
        return NOTHING
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The workload: a long-lived connection with a realistic mix of traffic, generated once and fed to both.
// ---------------------------------------------------------------------------------------------------------------

const makeWorkload = (size: number): Array<Keepalive.Input> => {
  const inputs: Array<Keepalive.Input> = [Keepalive.Input.Start(0, 1000, 5)]
  let t = 0
  let seed = 42
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff
  while (inputs.length < size) {
    const r = random()
    if (r < 0.4) {
      t += Math.floor(random() * 300)
      inputs.push(Keepalive.Input.Received(t, "other"))
    } else if (r < 0.6) {
      t += 1000
      inputs.push(Keepalive.Input.Tick(t)) // a due deadline: PING
      t += 3
      inputs.push(Keepalive.Input.Received(t, "pong"))
    } else if (r < 0.75) {
      t += 5
      inputs.push(Keepalive.Input.Received(t, "ping"))
    } else {
      inputs.push(Keepalive.Input.Tick(t)) // early / spurious tick
    }
  }
  return inputs
}

const N = 2_000_000
const ROUNDS = 7
const workload = makeWorkload(N)

const runPure = (): number => {
  let state = Keepalive.make(0)
  let commands = 0
  for (let i = 0; i < workload.length; i++) {
    const [next, out] = Keepalive.step(state, workload[i]!)
    state = next
    commands += out.length
  }
  return commands
}

const runMutable = (): number => {
  const ka = new MutableKeepalive()
  let commands = 0
  for (let i = 0; i < workload.length; i++) commands += ka.handle(workload[i]!).length
  return commands
}

const measure = (f: () => number): { readonly best: number; readonly commands: number } => {
  let best = Number.POSITIVE_INFINITY
  let commands = 0
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint()
    commands = f()
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    if (ms < best) best = ms
  }
  return { best, commands }
}

// warm up both before measuring, alternating so neither gets a JIT advantage
for (let i = 0; i < 3; i++) {
  runPure()
  runMutable()
}
const pure = measure(runPure)
const mutable = measure(runMutable)
if (pure.commands !== mutable.commands) {
  console.error(`the two implementations disagree: ${pure.commands} vs ${mutable.commands} commands`)
  process.exit(1)
}

const rate = (ms: number) => (N / (ms / 1000) / 1e6).toFixed(1)
console.log(`machine: ${os.cpus()[0]?.model ?? "unknown cpu"}, ${os.cpus().length} cores, Node ${process.version}`)
console.log(
  `workload: ${N.toLocaleString("en")} inputs (40% data, 20% due ticks + PONG, 15% PINGs, 25% early ticks), ${pure.commands} commands; best of ${ROUNDS}`
)
console.log("")
console.log("| implementation                     | time (ms) | M inputs/s | time ratio |")
console.log("|------------------------------------|----------:|-----------:|-----------:|")
console.log(
  `| Keepalive.step (pure, immutable)   | ${pure.best.toFixed(1).padStart(9)} | ${rate(pure.best).padStart(10)} | ${
    (pure.best / mutable.best).toFixed(2).padStart(9)
  }x |`
)
console.log(`| mutable baseline (same rules)      | ${mutable.best.toFixed(1).padStart(9)} | ${rate(mutable.best).padStart(10)} | ${"1.00".padStart(9)}x |`)
console.log("")
console.log("goal: >= 20 M inputs/s, and at most 1.5x the baseline's time")
