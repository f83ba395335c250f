/**
 * An explicit-state model checker over the pure sessions: every interleaving of one client session, one server
 * session and the network between them, explored breadth-first within bounds, with the shared keepalive
 * properties checked on every transition and the shortest counterexample returned as a trace.
 *
 * This module is the public face of four parts:
 * - `Bounds`: what the environment may do ({@link resolveBounds}, {@link wide});
 * - `Model`: the packed, hash-consed transition system and what it abstracts away (see its header);
 * - {@link Search}: the breadth-first search ({@link check}, {@link reach});
 * - {@link Properties}: the properties, shared with the simulator's monitor;
 * - {@link Questions}: the design questions of the emails, answered from evidence ({@link questions});
 * - {@link Mutants}: built-in broken sessions that show the properties bite;
 * - {@link Events}: the user's own questions over trace events (`--reach`, `--never`);
 * - {@link Search.detection} and {@link Search.tolerance}: the numbers of a configuration, by search.
 *
 * @since 0.1.0
 */
export * as Events from "./Events.ts"
export * as Mutants from "./Mutants.ts"
export * as Properties from "./Properties.ts"
export * as Questions from "./Questions.ts"
export * as Search from "./Search.ts"
export * as Sweep from "./Sweep.ts"
export { type Bounds, describe, InvalidBounds, type KeepAliveChoice, livenessCut, type ResolvedBounds, resolveBounds, wide } from "./Bounds.ts"
export { type Mutant, mutants } from "./Mutants.ts"
export { type PropertyName, properties } from "./Properties.ts"
export { type Answer, goals, questionBounds, questions } from "./Questions.ts"
export { check, type Options, reach, type Reachability, type Verdict, type Violation } from "./Search.ts"
