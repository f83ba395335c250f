/**
 * The one seed of every property test, and the coverage of their generators.
 *
 * - {@link SEED}: fixed, so a property test checks the same inputs on every run; `PROPERTY_SEED=<integer>` explores
 *   other inputs (a failure then names the seed to replay). Printed once per test file.
 * - {@link options}: what to pass as the last argument of `it.prop` (the seed, the number of runs, a timeout).
 * - {@link coverage}: the inputs that `it.prop` with the same arbitraries and {@link options} checks, classified,
 *   so that a test can assert that the generator reaches the cases its property is about. It replays the same
 *   search (same seed, runs and size schedule) with a property that always holds, so it sees exactly those inputs.
 */
import { Arbitrary, Effect, Schema } from "effect"

const DEFAULT_SEED = 20_240_611

const fromEnvironment = (): number => {
  const text = process.env["PROPERTY_SEED"]
  if (text === undefined || text === "") return DEFAULT_SEED
  const seed = Number(text)
  if (!Number.isSafeInteger(seed)) throw new Error(`PROPERTY_SEED must be an integer, not ${JSON.stringify(text)}`)
  return seed
}

/** The seed of every property test in this run. */
export const SEED: number = fromEnvironment()

console.log(`property tests: seed ${SEED}${SEED === DEFAULT_SEED ? " (the fixed default; PROPERTY_SEED=<integer> explores others)" : " (from PROPERTY_SEED)"}`)

/** The number of runs of a property test unless it says otherwise. */
export const RUNS = 100

/** `it.prop`'s options: the shared seed, `runs` cases, a timeout when given, and the size (default 10) when given. */
export const options = (runs: number = RUNS, timeout?: number, size?: number) => ({
  ...(timeout === undefined ? {} : { timeout }),
  arbitrary: { seed: SEED, runs, ...(size === undefined ? {} : { size }) }
})

/**
 * A keepalive interval drawn so that about a quarter of the draws are -1 or 0 (no keepalive) and the rest 1..3000
 * ms: draw {@link IntervalDraw}, then map it with {@link interval}. A plain range would reach the boundary once in
 * thousands of draws.
 */
export const IntervalDraw = Schema.Int.check(Schema.isBetween({ minimum: -1000, maximum: 3000 }))
export const interval = (draw: number): number => (draw > 0 ? draw : draw % 2 === 0 ? 0 : -1)

type Input = Schema.Schema<any> | Arbitrary.Arbitrary<any>

const compile = (input: Input): Arbitrary.Arbitrary<any> => Arbitrary.isArbitrary(input) ? input : Arbitrary.schema(input as any)

/** The arbitrary `it.prop` builds from the same inputs (a tuple for an array, a record for an object). */
const arbitraryOf = (inputs: ReadonlyArray<Input> | Readonly<Record<string, Input>>): Arbitrary.Arbitrary<any> =>
  Arbitrary.all(
    Array.isArray(inputs)
      ? (inputs as ReadonlyArray<Input>).map(compile)
      : Object.fromEntries(Object.entries(inputs).map(([key, input]) => [key, compile(input as Input)]))
  )

/** How many of the inputs checked by `it.prop(…, inputs, …, options(runs, _, size))` fall in each class `classify` names. */
export const coverage = <A>(
  inputs: ReadonlyArray<Input> | Readonly<Record<string, Input>>,
  classify: (value: A) => Iterable<string>,
  runs: number = RUNS,
  size?: number
): { readonly runs: number; readonly counts: Readonly<Record<string, number>> } => {
  const counts: Record<string, number> = {}
  let seen = 0
  const result = Effect.runSync(Arbitrary.checkEffect(arbitraryOf(inputs), (value: A) => {
    seen++
    for (const c of classify(value)) counts[c] = (counts[c] ?? 0) + 1
    return true
  }, { seed: SEED, runs, ...(size === undefined ? {} : { size }) }))
  if (result._tag !== "Passed") throw new Error(`the coverage replay did not pass: ${result._tag}`)
  return { runs: seen, counts }
}

/** A one-line summary of a coverage, for the test log. */
export const describeCoverage = (label: string, c: ReturnType<typeof coverage>): string =>
  `${label}: ${c.runs} inputs; ${
    Object.entries(c.counts).sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k} ${((100 * n) / c.runs).toFixed(0)} %`).join(", ")
  }`
