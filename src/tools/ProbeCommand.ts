/**
 * The `keepalive probe <uri>` subcommand: flags, output and exit code around {@link Probe.run}.
 *
 * Contract:
 * - Prints one line per event (or one JSON object with `--json`) on stdout, then the summary, and sets the exit
 *   code: 0 alive throughout, 1 declared dead (or closed) during the probe, 2 unreachable or refused, 64 a usage
 *   error (a bad flag, flags that do not go together, a URI that does not parse), reported in one line on stderr.
 * - One PING every `--interval` by default, whatever the daemon sends (`--after-silence`: libvirt's rule, a PING
 *   only after an interval of silence); `--pings N` therefore always ends.
 *   Without `--for` or `--pings` it runs until interrupted (Ctrl-C), then prints the summary and exits with 130.
 * - Durations are written `500ms`, `1s`, `1.5s`, `2m` (or Effect's `1 second`); a bad value is refused with a
 *   message naming the flag.
 * - `--metrics HOST:PORT` serves Prometheus metrics at `http://HOST:PORT/metrics` while the probe runs.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Argument from "effect/cli/Argument"
import * as CliError from "effect/cli/CliError"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Commands from "./Commands.ts"
import * as Uri from "../runtime/Uri.ts"
import * as OpenTimeout from "../runtime/OpenTimeout.ts"
import { parseDuration, parseHostPort } from "./Flags.ts"
import * as Probe from "./Probe.ts"

const durationFlag = (name: string, description: string) =>
  Flag.String(name).pipe(
    Flag.withDescription(description),
    Flag.mapTryCatch(parseDuration, (e) => `--${name}: ${e instanceof Error ? e.message : String(e)}`)
  )

/**
 * A usage error the command found itself (flags that do not go together, a bad URI): reported as the parser's are,
 * in one line, with exit code 64.
 *
 * @since 0.2.0
 * @category errors
 */
export const usage = (message: string) => new CliError.UserError({ cause: new Error(message), userMessage: message })

const print = (json: boolean, target: string) => (event: Probe.ProbeEvent) =>
  Effect.sync(() => console.log(json ? Probe.eventJson(event) : Probe.formatEvent(event, target)))

/**
 * `keepalive probe`.
 *
 * @since 0.1.0
 * @category commands
 */
export const probe = Command.make("probe", {
  uri: Argument.String("uri").pipe(Argument.withDescription("the daemon's libvirt URI, e.g. qemu+tls://host/system or test+tcp://127.0.0.1:16509/default")),
  interval: durationFlag("interval", "send one PING every interval (default: 1s)").pipe(Flag.withDefault(1000)),
  afterSilence: Flag.Boolean("after-silence").pipe(
    Flag.withDescription("libvirt's rule instead: a PING only after an interval of silence, so a daemon that pings us gets none (default: false)"),
    Flag.withDefault(false)
  ),
  count: Flag.Int("count").pipe(
    Flag.withDescription("unanswered PINGs before the daemon is declared dead, at (count+1)·interval of silence (default: 5)"),
    Flag.withDefault(5),
    Flag.filter((n) => n >= 0 && n <= 1000, (n) => `--count must be from 0 to 1000, not ${n}`)
  ),
  for: durationFlag("for", "stop after this long (default: until --pings, the end of the connection, or Ctrl-C)").pipe(Flag.optional),
  pings: Flag.Int("pings").pipe(
    Flag.withDescription("stop after this many PONGs (default: no limit)"),
    Flag.filter((n) => n >= 1, (n) => `--pings must be at least 1, not ${n}`),
    Flag.optional
  ),
  openTimeout: durationFlag("open-timeout", "how long connecting, TLS and the open handshake may take (default: 30s)").pipe(
    Flag.withAlias("timeout"),
    Flag.withDefault(Duration.toMillis(OpenTimeout.defaultTimeout))
  ),
  json: Flag.Boolean("json").pipe(Flag.withDescription("print one JSON object per event (default: false)"), Flag.withDefault(false)),
  metrics: Flag.String("metrics").pipe(
    Flag.withDescription("serve Prometheus metrics at http://HOST:PORT/metrics while probing (default: none)"),
    Flag.mapTryCatch(parseHostPort, (e) => `--metrics: ${e instanceof Error ? e.message : String(e)}`),
    Flag.optional
  )
}, (o) =>
  Effect.gen(function*() {
    if (Option.isSome(o.for) && Option.isSome(o.pings)) return yield* Effect.fail(usage("give --for or --pings, not both"))
    if (Option.isSome(o.metrics)) yield* Probe.serveMetrics(o.metrics.value.host, o.metrics.value.port)
    const stop: Probe.Stop = Option.isSome(o.for)
      ? { _tag: "For", ms: o.for.value }
      : Option.isSome(o.pings)
      ? { _tag: "Pings", count: o.pings.value }
      : undefined
    const uri = Uri.parse(o.uri)
    if (Result.isFailure(uri)) return yield* Effect.fail(usage(`not a libvirt URI: ${uri.failure.message}`))
    const cadence = o.afterSilence ? `a PING after ${o.interval} ms of silence` : `a PING every ${o.interval} ms`
    if (!o.json) console.log(`PROBE ${o.uri}: ${cadence}, dead after ${o.count} unanswered`)
    yield* Probe.run({
      uri: o.uri,
      interval: o.interval,
      cadence: o.afterSilence ? "after-silence" : "fixed",
      count: o.count,
      stop,
      connectTimeout: o.openTimeout,
      onEvent: print(o.json, Probe.target(o.uri)),
      onSummary: (summary) =>
        Effect.sync(() => {
          console.log(o.json ? Probe.eventJson({ _tag: "Summary", ...summary }) : `\n${Probe.formatSummary(summary)}`)
          process.exitCode = summary.exitCode
        })
    })
  }).pipe(Effect.scoped)).pipe(
    Command.withDescription(Commands.describe("probe"))
  )
