/**
 * Moving virtual time in runtime tests: the testing module's `settle` and `advance`.
 *
 * `TestClock.adjust` waits for the fibers that a sleeper's wake-up sets running, but not for work started
 * outside a sleep (a peer writing, a freeze). `settle` lets such work run to rest first; `advance` settles, moves
 * the clock, and settles again.
 */
export { advance, settle } from "../../src/testing/Testing.ts"
