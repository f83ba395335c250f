/**
 * The flag vocabulary the `keepalive` commands share: the same names for the same settings, durations written
 * `5s`, `250ms`, `1.5s` (or a plain number in the command's unit), addresses written `HOST:PORT`, and the default
 * shown in every flag's help.
 *
 * Contract: every constructor returns an effect/cli `Flag`; a bad value is refused with a message naming the flag
 * and what it expects. {@link parseDuration} and {@link parseHostPort} throw an `Error` saying what was expected.
 * {@link toTicks} converts a parsed duration to whole ticks, or says why it cannot.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Flag from "effect/cli/Flag"

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/**
 * Parses `500ms`, `1s`, `1.5s`, `2m`, `1h` or an Effect duration (`1 second`) into milliseconds (> 0).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseDuration = (text: string): number => {
  const short = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/.exec(text.trim())
  const millis = short !== null
    ? Number(short[1]) * UNITS[short[2]!]!
    : Option.match(Duration.fromInput(text as Duration.Input), { onNone: () => Number.NaN, onSome: Duration.toMillis })
  if (!(millis > 0 && Number.isFinite(millis))) throw new Error(`expected a duration such as 500ms, 1s or 2m, not "${text}"`)
  return millis
}

/**
 * Parses `HOST:PORT` (`[v6]:PORT` too).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseHostPort = (text: string): { readonly host: string; readonly port: number } => {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text)
  const port = m === null ? Number.NaN : Number(m[3])
  if (m === null || !(port >= 0 && port <= 65535)) throw new Error(`expected HOST:PORT, e.g. 127.0.0.1:9464, not "${text}"`)
  return { host: m[1] ?? m[2]!, port }
}

/**
 * A time given on the command line: milliseconds, or a plain number in the command's own unit.
 *
 * @since 0.1.0
 * @category models
 */
export type Time = { readonly ms: number } | { readonly plain: number }

/**
 * Parses `0`, a plain number, or a duration (`5s`, `250ms`).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseTime = (text: string): Time => {
  const trimmed = text.trim()
  if (/^\d+$/.test(trimmed)) return { plain: Number(trimmed) }
  return { ms: parseDuration(trimmed) }
}

/**
 * The time in ms, a plain number counting `unitMs` each.
 *
 * @since 0.1.0
 * @category parsing
 */
export const toMs = (time: Time, unitMs: number): number => ("ms" in time ? time.ms : time.plain * unitMs)

/**
 * The time in whole ticks of `tickMs` (a plain number is already ticks), or a message naming `name` when the
 * duration is not a whole number of ticks.
 *
 * @since 0.1.0
 * @category parsing
 */
export const toTicks = (time: Time, tickMs: number, name: string): number | string => {
  if ("plain" in time) return time.plain
  const ticks = time.ms / tickMs
  return Number.isInteger(ticks) ? ticks : `--${name}: ${time.ms} ms is not a whole number of ticks of ${tickMs} ms (see --tick)`
}

const described = (description: string, fallback: string | number | boolean): string => `${description} (default: ${String(fallback)})`

/**
 * A time flag with its default shown.
 *
 * @since 0.1.0
 * @category flags
 */
export const time = (name: string, fallback: string, description: string) =>
  Flag.String(name).pipe(
    Flag.withDescription(described(description, fallback)),
    Flag.withDefault(fallback),
    Flag.mapTryCatch(parseTime, (e) => `--${name}: ${e instanceof Error ? e.message : String(e)}`)
  )

/**
 * A whole-number flag, at least `min`, with its default shown.
 *
 * @since 0.1.0
 * @category flags
 */
export const whole = (name: string, fallback: number, description: string, min = 0) =>
  Flag.Int(name).pipe(
    Flag.withDescription(described(description, fallback)),
    Flag.withDefault(fallback),
    Flag.filter((n) => n >= min, (n) => `--${name} must be ${min === 0 ? "0 or more" : `at least ${min}`}, not ${n}`)
  )

/**
 * A choice flag with its default shown.
 *
 * @since 0.1.0
 * @category flags
 */
export const choice = <const T extends string>(name: string, choices: ReadonlyArray<T>, fallback: NoInfer<T>, description: string) =>
  Flag.Literals(name, choices).pipe(Flag.withDescription(described(description, fallback)), Flag.withDefault(fallback))

/**
 * A boolean flag (`--name` / `--no-name`) with its default shown.
 *
 * @since 0.1.0
 * @category flags
 */
export const toggle = (name: string, fallback: boolean, description: string) =>
  Flag.Boolean(name).pipe(Flag.withDescription(described(description, fallback)), Flag.withDefault(fallback))

/**
 * The settings both commands share: the server's keepalive_interval, keepalive_count and policy, the client's
 * setKeepAlive, whether it advertises, and the negotiation design. `unit` names what a plain number means.
 *
 * @since 0.1.0
 * @category flags
 */
export const settings = (defaults: { readonly serverInterval: string; readonly clientInterval: string; readonly unit: string }) => ({
  serverInterval: time(
    "server-interval",
    defaults.serverInterval,
    `the server's keepalive_interval, a duration or a number of ${defaults.unit} (0: answer only)`
  ),
  serverCount: whole("server-count", 2, "the server's keepalive_count"),
  policy: choice("policy", ["disabled", "if-supported", "required"], "if-supported", "the server's keepalive policy"),
  clientInterval: time(
    "client-interval",
    defaults.clientInterval,
    `the client's setKeepAlive interval, a duration or a number of ${defaults.unit} (0: never pings)`
  ),
  advertise: toggle("advertise", true, "the client advertises keepalive (--no-advertise: as a libvirt client without an event loop)"),
  variant: choice("variant", ["libvirt", "draft"], "libvirt", "the negotiation design (draft: seed 000)")
})

/**
 * The stalls both commands share: a call limit on the server with slow calls, a client application that stops
 * reading its frames, and silence before open. The defaults leave them all out.
 *
 * @since 0.1.0
 * @category flags
 */
export const stalls = () => ({
  callLimit: whole("call-limit", 0, "the server's max_client_requests: calls of the client its handlers run at once (0: no limit)"),
  slowCalls: whole("slow-calls", 0, "calls the server's application handles slowly, holding them (0: as many as the call limit)"),
  appStalls: toggle("app-stalls", false, "the client's application may stop reading its frames (and read them again)"),
  silentOpen: toggle("silent-open", false, "a side may say nothing before the connection opens: judged by the open and handshake timeouts")
})

/**
 * A time flag that may be left out (`Option.none()`): a command that layers flags over a drawn scenario needs to
 * know which were given. The help still shows what leaving it out means.
 *
 * @since 0.1.0
 * @category flags
 */
export const optionalTime = (name: string, fallback: string, description: string) =>
  Flag.String(name).pipe(
    Flag.withDescription(described(description, fallback)),
    Flag.mapTryCatch(parseTime, (e) => `--${name}: ${e instanceof Error ? e.message : String(e)}`),
    Flag.optional
  )

/**
 * A whole-number flag, at least `min`, that may be left out.
 *
 * @since 0.1.0
 * @category flags
 */
export const optionalWhole = (name: string, fallback: string | number, description: string, min = 0) =>
  Flag.Int(name).pipe(
    Flag.withDescription(described(description, fallback)),
    Flag.filter((n) => n >= min, (n) => `--${name} must be ${min === 0 ? "0 or more" : `at least ${min}`}, not ${n}`),
    Flag.optional
  )

/**
 * A choice flag that may be left out.
 *
 * @since 0.1.0
 * @category flags
 */
export const optionalChoice = <const T extends string>(name: string, choices: ReadonlyArray<T>, fallback: string, description: string) =>
  Flag.Literals(name, choices).pipe(Flag.withDescription(described(description, fallback)), Flag.optional)

/**
 * A boolean flag (`--name` / `--no-name`) that may be left out.
 *
 * @since 0.1.0
 * @category flags
 */
export const optionalToggle = (name: string, fallback: boolean, description: string) =>
  Flag.Boolean(name).pipe(Flag.withDescription(described(description, fallback)), Flag.optional)

/**
 * A flag given any number of times, each value parsed by `parse` (a bad one refused naming the flag).
 *
 * @since 0.1.0
 * @category flags
 */
export const repeated = <A>(name: string, description: string, parse: (text: string) => A) =>
  Flag.String(name).pipe(
    Flag.withDescription(`${description} (repeatable)`),
    Flag.mapTryCatch(parse, (e) => `--${name}: ${e instanceof Error ? e.message : String(e)}`),
    Flag.atLeast(0)
  )

/**
 * The keepalive rules flag: ours (the default) or libvirt 9.0's (whole-second wall clock, the interval restarting
 * at each tick, no pause, `keepalive_required` ignored).
 *
 * @since 0.1.0
 * @category flags
 */
export const rules = () =>
  choice(
    "rules",
    ["ours", "libvirt"],
    "ours",
    "the keepalive rules: ours, or libvirt 9.0's (whole-second wall clock, interval restarting at each tick, no pause, keepalive_required ignored)"
  )
