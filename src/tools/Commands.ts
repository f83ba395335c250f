/**
 * The `keepalive` commands by name: what each one does, and how to load it.
 *
 * Contract:
 * - {@link COMMANDS} lists every subcommand of `keepalive`, in the order `--help` shows them, each with its
 *   description (the command's own, which `--help` lists) and a loader that imports the command's module.
 * - This module imports nothing but effect's `Command` type: listing the commands (`keepalive --help`) loads none
 *   of them; a command's code is loaded only by {@link Entry.load}.
 *
 * @since 0.2.0
 */
import type * as Command from "effect/cli/Command"
import type { NodeServices } from "@effect/platform-node/NodeServices"

/**
 * A command as the CLI runs it: any name and flags, the services Node provides.
 *
 * @since 0.2.0
 * @category models
 */
export type Loaded = Command.Command<any, never, unknown, unknown, NodeServices>

/**
 * A subcommand of `keepalive`: its name, its description, and how to load it.
 *
 * @since 0.2.0
 * @category models
 */
export interface Entry {
  readonly name: Name
  readonly description: string
  /** Imports the command's module and returns the command. */
  readonly load: () => Promise<Loaded>
}

/**
 * The names of the subcommands.
 *
 * @since 0.2.0
 * @category models
 */
export type Name = "simulate" | "verify" | "probe" | "proxy"

const DESCRIPTIONS: Record<Name, string> = {
  simulate:
    "Run the production runtime over simulated links in virtual time, with faults and busy or silent peers; draw the trace and judge it with the keepalive properties; or run a swarm of seeded fault schedules with the same flags laid over each.",
  verify:
    "Explore every interleaving of the pure client and server sessions within bounds, check the keepalive properties, and print the shortest counterexample; or ask whether an event is reachable (--reach, --never); or sweep a grid of bounds; or answer the design questions. Every run prints its bounds and what it reached.",
  probe:
    "Ping a libvirt daemon with keepalive: RTT per PONG, PINGs from the daemon, a ping-style summary. Exit 0 alive, 1 declared dead, 2 unreachable or refused, 64 a usage error (a bad flag or URI).",
  proxy: "Stand in front of a libvirt daemon: our keepalive policy, limits and keepalive toward clients, every remote-program frame relayed to the daemon."
}

/**
 * What a command does, as `--help` lists it.
 *
 * @since 0.2.0
 * @category getters
 */
export const describe = (name: Name): string => DESCRIPTIONS[name]

/**
 * Every subcommand, in the order `--help` lists them.
 *
 * @since 0.2.0
 * @category constants
 */
export const COMMANDS: ReadonlyArray<Entry> = [
  { name: "simulate", description: DESCRIPTIONS.simulate, load: () => import("./SimulateCommand.ts").then((m) => m.simulate) },
  { name: "verify", description: DESCRIPTIONS.verify, load: () => import("./VerifyCommand.ts").then((m) => m.verify) },
  { name: "probe", description: DESCRIPTIONS.probe, load: () => import("./ProbeCommand.ts").then((m) => m.probe) },
  { name: "proxy", description: DESCRIPTIONS.proxy, load: () => import("./ProxyCommand.ts").then((m) => m.proxy) }
]
