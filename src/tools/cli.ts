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
 * - A usage error (an unknown flag, a bad value, a command's own `UserError`) is one line on stderr naming the
 *   command, and a pointer to `--help`, with exit code 64: never 1, which means a dead peer or a violation.
 * - Only the command that runs is loaded (see Commands.ts): `keepalive --help` loads none, `keepalive proxy` only
 *   the proxy's code; a completion script or the wizard loads them all.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as CliError from "effect/cli/CliError"
import * as CliOutput from "effect/cli/CliOutput"
import * as Command from "effect/cli/Command"
import * as Commands from "./Commands.ts"

/** The global flags that need every command's flags (a completion script, the wizard): every command is loaded. */
const WHOLE_TREE = ["--completions", "--wizard"]

/** The commands to load for these arguments: the one named (the first argument that is a command's name), or all. */
const wanted = (args: ReadonlyArray<string>): ReadonlySet<string> => {
  if (args.some((a) => WHOLE_TREE.includes(a) || WHOLE_TREE.some((flag) => a.startsWith(`${flag}=`)))) return new Set(Commands.COMMANDS.map((c) => c.name))
  const named = args.find((a) => Commands.COMMANDS.some((c) => c.name === a))
  return new Set(named === undefined ? [] : [named])
}

/** A command that is not run: its name and description, for the list in `keepalive --help`. */
const listed = (entry: Commands.Entry): Commands.Loaded => Command.make(entry.name).pipe(Command.withDescription(entry.description))

/** `keepalive`, with the commands these arguments run loaded and the others only listed. */
const keepalive = (args: ReadonlyArray<string>) =>
  Effect.forEach(Commands.COMMANDS, (entry) => (wanted(args).has(entry.name) ? Effect.promise(entry.load) : Effect.succeed(listed(entry)))).pipe(
    Effect.map((subcommands) =>
      Command.make("keepalive").pipe(
        Command.withDescription("libvirt's keepalive protocol: simulate it in virtual time, model-check its designs, or probe a real daemon."),
        Command.withSubcommands(subcommands)
      )
    )
  )

/** The exit code of a usage error (BSD's EX_USAGE): not 1, which `probe` and `verify` give a dead peer or a violation. */
const USAGE = 64

/** A usage error in one line and a pointer to `--help`, instead of the whole help text. */
const presenter = CliOutput.layerPresenter({
  present: (event) =>
    event._tag !== "InvalidInvocation"
      ? CliOutput.defaultPresenter.present(event)
      : Console.error(
        [...event.errors.map((e) => `${event.commandPath.join(" ")}: ${e.message}`), `try '${event.commandPath.join(" ")} --help'`].join("\n")
      )
})

/** A command's own usage error (`CliError.UserError`) in the same one line and pointer as the parser's. */
const formatter = (() => {
  const base = CliOutput.defaultFormatter()
  const command = ["keepalive", ...process.argv.slice(2, 3).filter((a) => !a.startsWith("-"))].join(" ")
  return CliOutput.layer({
    ...base,
    formatError: (error) => (error instanceof CliError.UserError ? `${command}: ${error.message}\ntry '${command} --help'` : base.formatError(error))
  })
})()

/** Usage errors, the parser's and the commands' own (`CliError.UserError`), exit with {@link USAGE}. */
const usageExit = <A, E, R>(program: Effect.Effect<A, E, R>) =>
  program.pipe(
    Effect.catchIf(
      (e): e is E => (CliError.isCliError(e) && e._tag === "ShowHelp" && e.errors.length > 0) || e instanceof CliError.UserError,
      () => Effect.sync(() => void (process.exitCode = USAGE))
    )
  )

keepalive(process.argv.slice(2)).pipe(
  Effect.flatMap((command) => Command.run(command, { version: "0.2.0" })),
  usageExit,
  Effect.provideService(References.MinimumLogLevel, "Error"),
  Effect.provide(Layer.mergeAll(NodeServices.layer, presenter, formatter)),
  NodeRuntime.runMain
)
