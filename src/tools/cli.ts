#!/usr/bin/env node
/**
 * The `keepalive` command line: `keepalive simulate` runs a scenario (or a swarm of seeded ones) in virtual time,
 * draws it and judges it (see SimulateCommand.ts); `keepalive verify` model-checks the pure sessions (see
 * VerifyCommand.ts); `keepalive probe <uri>` pings a real libvirt daemon (see ProbeCommand.ts); `keepalive proxy`
 * stands in front of one with our keepalive policy and limits (see ProxyCommand.ts).
 *
 * Contract:
 * - Every flag has a default and a description (`--help` on each command); a bad value is refused with a message
 *   naming the flag and what it expects, and the exit code is non-zero.
 * - Times on the command line are durations (`5s`, `250ms`) or plain numbers: milliseconds of virtual time
 *   (simulate) or ticks (verify); defaults are shown in `--help`.
 * - Long runs report progress on stderr; results go to stdout.
 * - `verify` and `simulate` exit with 1 when a property is violated (after printing the counterexample), 2 for
 *   invalid bounds or a bad schedule; `verify` exits with 3 when its search stopped before it was complete.
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect, References } from "effect"
import { Command } from "effect/cli"
import { probe } from "./ProbeCommand.ts"
import { proxy } from "./ProxyCommand.ts"
import { simulate } from "./SimulateCommand.ts"
import { verify } from "./VerifyCommand.ts"

const keepalive = Command.make("keepalive").pipe(
  Command.withDescription("libvirt's keepalive protocol: simulate it in virtual time, model-check its designs, or probe a real daemon."),
  Command.withSubcommands([simulate, verify, probe, proxy])
)

Command.run(keepalive, { version: "0.1.0" }).pipe(
  Effect.provideService(References.MinimumLogLevel, "Error"),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
