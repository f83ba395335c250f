/**
 * libvirt connection URIs: `driver[+transport]://[user@][host][:port]/[path][?params]`, as libvirt's URI
 * documentation describes them.
 *
 * Contract:
 * - {@link parse} is pure and total: a URI or a typed error naming what was wrong ({@link InvalidUri},
 *   {@link UnknownTransport}, {@link UnknownParameter}, {@link InvalidParameter}, {@link MissingParameter}).
 * - Transports: `tcp` (port 16509), `tls` (port 16514; the default when a host is given), `unix` (the default
 *   without a host, and refused with one; `socket=` picks the socket), `ssh`, `ext` (`command=` is required).
 * - Parameters: `name`, `socket`, `pkipath`, `no_verify`, `keyfile`, `netcat`, `command`, `no_tty`, `mode`,
 *   `proxy`. As in libvirt, a known parameter is accepted on every transport (and ignored where it means nothing);
 *   the last occurrence wins; values are percent-decoded (`+` stays `+`). Unlike libvirt, which hands unknown
 *   parameters to the remote driver, an unknown parameter is an error that names it.
 * - The connection name sent in CONNECT_OPEN is `name=` if given, else the URI without transport, user, host,
 *   port and parameters (`test+tcp://h:5000/default` → `test:///default`); `remote://…` lets the server choose.
 * - {@link sshCommand} is the `ssh` command line libvirt's ssh transport runs: ssh to the host, then `nc -U`
 *   (or `virt-ssh-helper`) on the far side, bridging stdio to the daemon's Unix socket.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"
import * as CommandLine from "effect/process/CommandLine"

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

/**
 * The text is not a libvirt URI; `reason` says which part is wrong.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidUri extends Data.TaggedError("InvalidUri")<{ readonly uri: string; readonly reason: string }> {
  override get message(): string {
    return `invalid libvirt URI "${this.uri}": ${this.reason}`
  }
}

/**
 * The `+transport` part names no transport we know.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownTransport extends Data.TaggedError("UnknownTransport")<{ readonly uri: string; readonly transport: string }> {
  override get message(): string {
    const hint = this.transport === "libssh" || this.transport === "libssh2" ? "; use +ssh, which runs the ssh binary" : ""
    return `unknown transport "${this.transport}" in "${this.uri}": expected one of ${transports.join(", ")}${hint}`
  }
}

/**
 * A query parameter we do not know.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownParameter extends Data.TaggedError("UnknownParameter")<{ readonly uri: string; readonly parameter: string }> {
  override get message(): string {
    return `unknown parameter "${this.parameter}" in "${this.uri}": expected one of ${parameterNames.join(", ")}`
  }
}

/**
 * A query parameter with a value it cannot take.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidParameter extends Data.TaggedError("InvalidParameter")<{
  readonly uri: string
  readonly parameter: string
  readonly value: string
  readonly expected: string
}> {
  override get message(): string {
    return `parameter ${this.parameter}="${this.value}" in "${this.uri}": expected ${this.expected}`
  }
}

/**
 * A parameter the transport needs is missing (`command=` for `ext`).
 *
 * @since 0.1.0
 * @category errors
 */
export class MissingParameter extends Data.TaggedError("MissingParameter")<{
  readonly uri: string
  readonly parameter: string
  readonly transport: Transport
}> {
  override get message(): string {
    return `the ${this.transport} transport needs the parameter "${this.parameter}" in "${this.uri}"`
  }
}

/**
 * Why a URI was refused.
 *
 * @since 0.1.0
 * @category errors
 */
export type UriError = InvalidUri | UnknownTransport | UnknownParameter | InvalidParameter | MissingParameter

// ---------------------------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------------------------

/**
 * The transports.
 *
 * @since 0.1.0
 * @category constants
 */
export const transports = ["tcp", "tls", "unix", "ssh", "ext"] as const

/**
 * A transport.
 *
 * @since 0.1.0
 * @category models
 */
export type Transport = (typeof transports)[number]

/**
 * The default ports of the network transports.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPort = { tcp: 16509, tls: 16514 } as const

/**
 * The query parameters we understand.
 *
 * @since 0.1.0
 * @category constants
 */
export const parameterNames = ["name", "socket", "pkipath", "no_verify", "keyfile", "netcat", "command", "no_tty", "mode", "proxy"] as const

/**
 * The parsed query parameters.
 *
 * @since 0.1.0
 * @category models
 */
export interface Params {
  /** The name sent in CONNECT_OPEN instead of the derived one. */
  readonly name: string | undefined
  /** The daemon's Unix socket (unix transport; far side of ssh). */
  readonly socket: string | undefined
  /** Directory with cacert.pem, clientcert.pem and clientkey.pem (tls). */
  readonly pkipath: string | undefined
  /** tls: do not verify the server's certificate; ssh: accept unknown host keys. */
  readonly noVerify: boolean
  /** ssh: the private key file. */
  readonly keyfile: string | undefined
  /** ssh: the netcat command on the far side (default `nc`). */
  readonly netcat: string | undefined
  /** ssh: the ssh binary; ext: the program to run. */
  readonly command: string | undefined
  /** ssh: never ask for a password (BatchMode). */
  readonly noTty: boolean
  /** Which daemon: `auto`/`legacy` (libvirtd) or `direct` (the per-driver daemon). */
  readonly mode: "auto" | "direct" | "legacy"
  /** ssh: what bridges to the socket on the far side. */
  readonly proxy: "auto" | "netcat" | "native"
}

/**
 * A parsed libvirt URI.
 *
 * @since 0.1.0
 * @category models
 */
export interface Uri {
  /** The text it was parsed from. */
  readonly text: string
  readonly driver: string
  readonly transport: Transport
  readonly user: string | undefined
  /** The host as written (IPv6 without brackets); undefined when absent. */
  readonly host: string | undefined
  /** The port as written; see {@link port} for the default. */
  readonly port: number | undefined
  readonly path: string
  /** The name for CONNECT_OPEN; undefined lets the server choose. */
  readonly name: string | undefined
  readonly params: Params
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------------------------

const SHAPE = "expected driver[+transport]://[user@][host][:port]/[path][?params]"
const URI_RE = /^([A-Za-z][A-Za-z0-9.-]*)(?:\+([A-Za-z0-9.-]*))?:\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#.*)?$/
const AUTHORITY_RE = /^(?:([^@]*)@)?(\[[^\]]*\]|[^:]*)(?::(.*))?$/

const decode = (text: string): string | undefined => {
  try {
    return decodeURIComponent(text)
  } catch {
    return undefined
  }
}

interface Authority {
  readonly user: string | undefined
  readonly host: string | undefined
  readonly port: number | undefined
}

const parseAuthority = (uri: string, text: string): Result.Result<Authority, InvalidUri> => {
  const m = AUTHORITY_RE.exec(text)
  if (m === null) return Result.fail(new InvalidUri({ uri, reason: `cannot read the authority "${text}"` }))
  const [, rawUser, rawHost = "", rawPort] = m
  const user = rawUser === undefined ? undefined : decode(rawUser)
  if (user === undefined && rawUser !== undefined) return Result.fail(new InvalidUri({ uri, reason: `bad percent-escape in the user "${rawUser}"` }))
  const host = rawHost.startsWith("[") ? rawHost.slice(1, -1) : decode(rawHost)
  if (host === undefined) return Result.fail(new InvalidUri({ uri, reason: `bad percent-escape in the host "${rawHost}"` }))
  if (rawPort === undefined || rawPort === "") return Result.succeed({ user, host: host === "" ? undefined : host, port: undefined })
  const port = /^\d+$/.test(rawPort) ? Number(rawPort) : Number.NaN
  if (!(port >= 1 && port <= 65535)) return Result.fail(new InvalidUri({ uri, reason: `the port "${rawPort}" is not a number from 1 to 65535` }))
  return Result.succeed({ user, host: host === "" ? undefined : host, port })
}

type ParamName = (typeof parameterNames)[number]

const isParamName = (name: string): name is ParamName => (parameterNames as ReadonlyArray<string>).includes(name)

const flag = (uri: string, parameter: string, value: string): Result.Result<boolean, InvalidParameter> =>
  /^[+-]?\d+$/.test(value)
    ? Result.succeed(Number(value) !== 0)
    : Result.fail(new InvalidParameter({ uri, parameter, value, expected: "an integer (0 = off, anything else = on)" }))

const choice = <T extends string>(uri: string, parameter: string, value: string, choices: ReadonlyArray<T>): Result.Result<T, InvalidParameter> =>
  (choices as ReadonlyArray<string>).includes(value)
    ? Result.succeed(value as T)
    : Result.fail(new InvalidParameter({ uri, parameter, value, expected: `one of ${choices.join(", ")}` }))

const noParams: Params = {
  name: undefined,
  socket: undefined,
  pkipath: undefined,
  noVerify: false,
  keyfile: undefined,
  netcat: undefined,
  command: undefined,
  noTty: false,
  mode: "auto",
  proxy: "auto"
}

const setParam = (uri: string, params: Params, name: ParamName, value: string): Result.Result<Params, InvalidParameter> => {
  switch (name) {
    case "no_verify":
      return Result.map(flag(uri, name, value), (noVerify) => ({ ...params, noVerify }))
    case "no_tty":
      return Result.map(flag(uri, name, value), (noTty) => ({ ...params, noTty }))
    case "mode":
      return Result.map(choice(uri, name, value, ["auto", "direct", "legacy"] as const), (mode) => ({ ...params, mode }))
    case "proxy":
      return Result.map(choice(uri, name, value, ["auto", "netcat", "native"] as const), (proxy) => ({ ...params, proxy }))
    default:
      if (value === "") return Result.fail(new InvalidParameter({ uri, parameter: name, value, expected: "a non-empty value" }))
      return Result.succeed({ ...params, [name]: value })
  }
}

const parseQuery = (uri: string, query: string | undefined): Result.Result<Params, UnknownParameter | InvalidParameter> => {
  let params = noParams
  for (const pair of (query ?? "").split("&")) {
    if (pair === "") continue
    const eq = pair.indexOf("=")
    const rawName = eq < 0 ? pair : pair.slice(0, eq)
    const rawValue = eq < 0 ? "" : pair.slice(eq + 1)
    const name = decode(rawName) ?? rawName
    if (!isParamName(name)) return Result.fail(new UnknownParameter({ uri, parameter: name }))
    const value = decode(rawValue)
    if (value === undefined) return Result.fail(new InvalidParameter({ uri, parameter: name, value: rawValue, expected: "valid percent-escapes" }))
    const next = setParam(uri, params, name, value)
    if (Result.isFailure(next)) return next
    params = next.success
  }
  return Result.succeed(params)
}

const parseTransport = (uri: string, written: string | undefined, host: string | undefined): Result.Result<Transport, UnknownTransport> => {
  if (written === undefined) return Result.succeed(host === undefined ? "unix" : "tls")
  const t = written.toLowerCase()
  return (transports as ReadonlyArray<string>).includes(t)
    ? Result.succeed(t as Transport)
    : Result.fail(new UnknownTransport({ uri, transport: written }))
}

const connectionName = (driver: string, path: string, params: Params): string | undefined =>
  params.name !== undefined ? params.name : driver.toLowerCase() === "remote" ? undefined : `${driver}://${path}`

/**
 * Parses a libvirt URI.
 *
 * **Example**
 * ```ts
 * Uri.parse("qemu+ssh://root@host/system?keyfile=/k") // Result.succeed({ transport: "ssh", user: "root", name: "qemu:///system", ... })
 * Uri.parse("qemu:///system?bogus=1")                // Result.fail(UnknownParameter { parameter: "bogus" })
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (text: string): Result.Result<Uri, UriError> =>
  Result.gen(function*() {
    const m = URI_RE.exec(text.trim())
    if (m === null) return yield* Result.fail(new InvalidUri({ uri: text, reason: SHAPE }))
    const [, driver = "", written, authorityText = "", rawPath = "", query] = m
    if (written === "") return yield* Result.fail(new InvalidUri({ uri: text, reason: `an empty transport after "+": ${SHAPE}` }))
    const authority = yield* parseAuthority(text, authorityText)
    const transport = yield* parseTransport(text, written, authority.host)
    const path = decode(rawPath)
    if (path === undefined) return yield* Result.fail(new InvalidUri({ uri: text, reason: `bad percent-escape in the path "${rawPath}"` }))
    const params = yield* parseQuery(text, query)
    if (transport === "unix" && authority.host !== undefined) {
      return yield* Result.fail(new InvalidUri({ uri: text, reason: `the unix transport is local: it takes no host ("${authority.host}")` }))
    }
    if (transport === "ext" && params.command === undefined) {
      return yield* Result.fail(new MissingParameter({ uri: text, parameter: "command", transport }))
    }
    return { text, driver, transport, ...authority, path, name: connectionName(driver, path, params), params }
  })

/**
 * The host to dial for tcp, tls and ssh: the URI's, or `localhost`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const host = (uri: Uri): string => uri.host ?? "localhost"

/**
 * The port to dial: the URI's, or the transport's default (undefined for ssh: ssh's own default).
 *
 * @since 0.1.0
 * @category accessors
 */
export const port = (uri: Uri): number | undefined => uri.port ?? (uri.transport === "tcp" || uri.transport === "tls" ? defaultPort[uri.transport] : undefined)

/**
 * The daemon's Unix socket when the URI names none: libvirtd's system socket (or the per-driver daemon's under
 * `mode=direct`), read-only variant when asked; `runtimeDir` holds session sockets (`/session` paths).
 *
 * @since 0.1.0
 * @category accessors
 */
export const defaultSocket = (uri: Uri, options: { readonly readOnly?: boolean; readonly runtimeDir?: string } = {}): string => {
  const daemon = uri.params.mode === "direct" ? `virt${uri.driver.toLowerCase()}d` : "libvirt"
  const file = `${daemon}-sock${options.readOnly === true ? "-ro" : ""}`
  return uri.path === "/session" && options.runtimeDir !== undefined
    ? `${options.runtimeDir}/libvirt/${file}`
    : `/var/run/libvirt/${file}`
}

// ---------------------------------------------------------------------------------------------------------------
// ssh
// ---------------------------------------------------------------------------------------------------------------

/**
 * A program and its arguments.
 *
 * @since 0.1.0
 * @category models
 */
export interface Command {
  readonly command: string
  readonly args: ReadonlyArray<string>
}

const q = (uri: Uri, parameter: string, word: string): Result.Result<string, InvalidParameter> =>
  Result.mapError(CommandLine.quote(word), () => new InvalidParameter({ uri: uri.text, parameter, value: word, expected: "no NUL character" }))

// netcat-openbsd keeps running after stdin's end unless given -q0; older netcats do not know -q at all
const netcatScript = (nc: string, socket: string): string =>
  `if ${nc} -q 2>&1 | grep "requires an argument" >/dev/null 2>&1; then ARG=-q0; else ARG=; fi; exec ${nc} $ARG -U ${socket}`

/**
 * The script run on the far side of ssh: `nc -U socket` (`proxy=netcat`, or `auto` with a `socket=`),
 * `virt-ssh-helper name` (`proxy=native`), or the helper when installed and netcat otherwise (`auto`).
 *
 * @since 0.1.0
 * @category ssh
 */
export const remoteScript = (uri: Uri): Result.Result<string, InvalidParameter> =>
  Result.gen(function*() {
    const nc = yield* q(uri, "netcat", uri.params.netcat ?? "nc")
    const socket = yield* q(uri, "socket", uri.params.socket ?? defaultSocket(uri))
    const helper = `virt-ssh-helper ${yield* q(uri, "name", uri.name ?? `${uri.driver}://${uri.path}`)}`
    const proxy = uri.params.proxy === "auto" && uri.params.socket !== undefined ? "netcat" : uri.params.proxy
    switch (proxy) {
      case "netcat":
        return netcatScript(nc, socket)
      case "native":
        return `exec ${helper}`
      case "auto":
        return `if command -v virt-ssh-helper >/dev/null 2>&1; then exec ${helper}; else ${netcatScript(nc, socket)}; fi`
    }
  })

/**
 * The ssh command line for an `ssh` URI: `ssh [-p port] [-l user] [-i keyfile] -T -e none [-o BatchMode=yes]
 * [-o StrictHostKeyChecking=no] -- host sh -c '<remoteScript>'`. `command=` replaces the ssh binary;
 * `extraOptions` (e.g. `-o UserKnownHostsFile=…`) come before the host.
 *
 * @since 0.1.0
 * @category ssh
 */
export const sshCommand = (uri: Uri, extraOptions: ReadonlyArray<string> = []): Result.Result<Command, InvalidParameter> =>
  Result.gen(function*() {
    const script = yield* q(uri, "socket", yield* remoteScript(uri))
    const p = port(uri)
    return {
      command: uri.params.command ?? "ssh",
      args: [
        ...(p === undefined ? [] : ["-p", String(p)]),
        ...(uri.user === undefined ? [] : ["-l", uri.user]),
        ...(uri.params.keyfile === undefined ? [] : ["-i", uri.params.keyfile]),
        "-T",
        "-e",
        "none",
        ...(uri.params.noTty ? ["-o", "BatchMode=yes"] : []),
        ...(uri.params.noVerify ? ["-o", "StrictHostKeyChecking=no"] : []),
        ...extraOptions,
        "--",
        host(uri),
        `sh -c ${script}`
      ]
    }
  })
