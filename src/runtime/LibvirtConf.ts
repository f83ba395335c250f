/**
 * libvirt's configuration files (libvirtd.conf, libvirt.conf) as an Effect `ConfigProvider`, and the reading of
 * one key whichever way it is spelled.
 *
 * Contract:
 * - {@link parse} reads the file format (`key = value` lines, `#` comments, double-quoted strings, integers, and
 *   lists `[ "a", "b" ]` that may span lines) into a plain object of strings and string arrays; a line it cannot
 *   read is a {@link ConfFileError} naming the line and what was wrong. Pure.
 * - {@link fromFile} and {@link layer} make a `ConfigProvider` of a file, so `ServerConfig.config`,
 *   `ServerConfig.limits` and `ClientConfig.config` read it unchanged.
 * - {@link setting} reads one key as libvirt spells it (`keepalive_interval`) or in constant case
 *   (`KEEPALIVE_INTERVAL`, as the default provider reads environment variables). Missing is `None`; a value that
 *   is set but invalid fails with a `ConfigError` naming the key and the value, never silently.
 *
 * @since 0.2.0
 */
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Fs from "node:fs/promises"

/**
 * A configuration file that could not be read or parsed.
 *
 * @since 0.2.0
 * @category errors
 */
export class ConfFileError extends Data.TaggedError("ConfFileError")<{
  readonly path: string
  readonly line: number | undefined
  readonly reason: string
}> {
  override get message(): string {
    return `${this.path}${this.line === undefined ? "" : `:${this.line}`}: ${this.reason}`
  }
}

/** One value: a string, a number (kept as its text), or a list of them. */
type Value = string | ReadonlyArray<string>

const scalar = /^\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+))\s*/

/** Reads the items of a list body (`"a", "b"`), or undefined when it is malformed. */
const listItems = (body: string): Array<string> | undefined => {
  const items: Array<string> = []
  let rest = body.trim()
  while (rest !== "") {
    const m = scalar.exec(rest)
    if (m === null) return undefined
    items.push(m[1] ?? m[2]!)
    rest = rest.slice(m[0].length)
    if (rest.startsWith(",")) rest = rest.slice(1).trim()
    else if (rest !== "") return undefined
  }
  return items
}

/** Removes a `#` comment that is not inside a string. */
const uncomment = (line: string): string => {
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (c === "\\" && quoted) i++
    else if (c === "\"") quoted = !quoted
    else if (c === "#" && !quoted) return line.slice(0, i)
  }
  return line
}

/**
 * Parses the text of a libvirt configuration file.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parse = (text: string, path = "<text>"): Effect.Effect<Record<string, Value>, ConfFileError> =>
  Effect.suspend(() => {
    const out: Record<string, Value> = {}
    const lines = text.split("\n")
    for (let i = 0; i < lines.length; i++) {
      let line = uncomment(lines[i]!).trim()
      if (line === "") continue
      const at = i + 1
      const eq = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line)
      if (eq === null) return Effect.fail(new ConfFileError({ path, line: at, reason: `expected "key = value", got "${line}"` }))
      const key = eq[1]!
      const raw = eq[2]!
      if (raw.startsWith("[")) {
        // a list may span lines until its closing bracket
        line = raw
        while (!line.includes("]") && i + 1 < lines.length) line += " " + uncomment(lines[++i]!).trim()
        const close = line.lastIndexOf("]")
        const items = close < 0 || line.slice(close + 1).trim() !== "" ? undefined : listItems(line.slice(1, close))
        if (items === undefined) return Effect.fail(new ConfFileError({ path, line: at, reason: `malformed list for ${key}` }))
        out[key] = items
        continue
      }
      const m = scalar.exec(raw)
      if (m === null || raw.slice(m[0].length).trim() !== "") {
        return Effect.fail(new ConfFileError({ path, line: at, reason: `malformed value for ${key}: ${raw} (a quoted string, an integer or a list)` }))
      }
      out[key] = m[1] ?? m[2]!
    }
    return Effect.succeed(out)
  })

/**
 * A `ConfigProvider` of a libvirt configuration file.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromFile = (path: string): Effect.Effect<ConfigProvider.ConfigProvider, ConfFileError> =>
  Effect.tryPromise({
    try: () => Fs.readFile(path, "utf8"),
    catch: (cause) => new ConfFileError({ path, line: undefined, reason: cause instanceof Error ? cause.message : String(cause) })
  }).pipe(Effect.flatMap((text) => parse(text, path)), Effect.map((values) => ConfigProvider.fromUnknown(values)))

/**
 * Makes a libvirt configuration file the `ConfigProvider` of everything built on this layer.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (path: string): Layer.Layer<never, ConfFileError> => Layer.unwrap(Effect.map(fromFile(path), (provider) => ConfigProvider.layer(provider)))

const invalid = (key: string, raw: string, why: string) =>
  new Config.ConfigError(new ConfigProvider.SourceError({ message: `invalid value for ${key}: "${raw}" (${why})` }))

/**
 * One key, as libvirt spells it or in constant case, decoded with `schema` from its text (numbers from their
 * digits). `None` when missing.
 *
 * @since 0.2.0
 * @category config
 */
export const setting = <A>(key: string, schema: Schema.Decoder<A>, kind: "number" | "string"): Config.Config<Option.Option<A>> =>
  Config.all({
    plain: Config.option(Config.String(key)),
    constant: Config.option(Config.String(key.toUpperCase()))
  }).pipe(Config.mapEffect(({ plain, constant }) => {
    const raw = Option.isSome(plain) ? plain.value : Option.isSome(constant) ? constant.value : undefined
    if (raw === undefined) return Effect.succeed(Option.none())
    const name = Option.isSome(plain) ? key : key.toUpperCase()
    const value = kind === "number" ? (raw.trim() === "" ? Number.NaN : Number(raw)) : raw
    if (kind === "number" && !Number.isFinite(value)) return Effect.fail(invalid(name, raw, "not a number"))
    return Schema.decodeUnknownEffect(schema)(value).pipe(
      Effect.map(Option.some),
      Effect.mapError((e) => invalid(name, raw, e.message.split("\n")[0] ?? "invalid"))
    )
  }))
