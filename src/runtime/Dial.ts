/**
 * From a libvirt URI to a connection: TCP, Unix, TLS (x509), ssh and ext, each as an `effect/socket` `Socket`.
 *
 * Contract:
 * - {@link socket} resolves a {@link Uri.Uri} to a socket that opens when the runtime starts reading, as the other
 *   transports do. tcp and unix use `NodeSocket.makeNet`; tls uses Node's `tls.connect` with the certificates found
 *   where libvirt's client looks ({@link certificatePaths}); ssh and ext run a program through effect's
 *   `ChildProcessSpawner` and speak over its stdin/stdout ({@link fromProcess}).
 * - {@link connect} dials and runs `Client.connect` with the URI's connection name. A failure to reach the daemon is
 *   a typed {@link DialError} naming the address and the system error code: {@link ConnectFailed},
 *   {@link UntrustedCertificate}, {@link ExpiredCertificate}, {@link HostnameMismatch}, {@link TlsFailure},
 *   {@link CertificateNotFound}, {@link ProcessFailed}. Everything after the socket opened is the connection's own
 *   error (`Connection.ConnectionError`).
 * - {@link connect} bounds the whole open (dialling, TLS, the handshake) by one `openTimeout`, default 30 seconds:
 *   past it, `OpenTimeout` names the phase it was stuck in; a TLS socket tells `connect` from `tls`.
 * - The program of ssh/ext is killed when the connection's scope closes (SIGTERM, then SIGKILL after 500 ms); its
 *   stderr is kept (the last 4 KiB) for the error when it exits early.
 *
 * @since 0.1.0
 */
import { Cause, Data, Deferred, Duration, Effect, Fiber, Option, Queue, Stream } from "effect"
import type { Scope } from "effect"
import * as FileSystem from "effect/FileSystem"
import * as ChildProcess from "effect/process/ChildProcess"
import { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import * as CommandLine from "effect/process/CommandLine"
import * as Socket from "effect/socket/Socket"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Tls from "node:tls"
import * as Client from "./Client.ts"
import { ConnectFailed } from "./ConnectionError.ts"
import * as OpenTimeout from "./OpenTimeout.ts"
import * as Transport from "./Transport.ts"
import * as Uri from "./Uri.ts"

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

/**
 * The socket could not be opened: `code` is the system error (`ECONNREFUSED`, `ENOENT`, `EACCES`, `ETIMEDOUT`, …).
 * The same class as `Connection.ConnectFailed`, so every entry point reports a refused address alike.
 *
 * @since 0.1.0
 * @category errors
 */
export { ConnectFailed } from "./ConnectionError.ts"

/**
 * The server's certificate is not signed by a CA we trust.
 *
 * @since 0.1.0
 * @category errors
 */
export class UntrustedCertificate extends Data.TaggedError("UntrustedCertificate")<{
  readonly address: string
  readonly code: string
  readonly ca: string | undefined
}> {
  override get message(): string {
    return `the certificate of ${this.address} is not trusted by the CA ${this.ca ?? "(none)"}: ${this.code}`
  }
}

/**
 * The server's certificate has expired (or is not valid yet).
 *
 * @since 0.1.0
 * @category errors
 */
export class ExpiredCertificate extends Data.TaggedError("ExpiredCertificate")<{ readonly address: string; readonly code: string }> {
  override get message(): string {
    return `the certificate of ${this.address} is outside its validity period: ${this.code}`
  }
}

/**
 * The server's certificate does not name the host we dialled.
 *
 * @since 0.1.0
 * @category errors
 */
export class HostnameMismatch extends Data.TaggedError("HostnameMismatch")<{
  readonly address: string
  readonly host: string
  readonly detail: string
}> {
  override get message(): string {
    return `the certificate of ${this.address} does not match the host name "${this.host}": ${this.detail}`
  }
}

/**
 * Another TLS failure: the handshake failed or the server refused our certificate.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsFailure extends Data.TaggedError("TlsFailure")<{ readonly address: string; readonly code: string; readonly detail: string }> {
  override get message(): string {
    return `TLS with ${this.address} failed: ${this.code} (${this.detail})`
  }
}

/**
 * The TLS server did not confirm our certificate: after the handshake libvirtd sends one byte, 1, when it accepts
 * the client's certificate and address; it sent something else or closed.
 *
 * @since 0.1.0
 * @category errors
 */
export class CertificateRefused extends Data.TaggedError("CertificateRefused")<{ readonly address: string; readonly detail: string }> {
  override get message(): string {
    return `${this.address} refused our certificate or address (server verification failed): ${this.detail}`
  }
}

/**
 * A certificate or key file libvirt's client needs was not found (or not readable) in any of the places searched.
 *
 * @since 0.1.0
 * @category errors
 */
export class CertificateNotFound extends Data.TaggedError("CertificateNotFound")<{
  readonly file: "CA certificate" | "client certificate" | "client key" | "server certificate" | "server key"
  readonly searched: ReadonlyArray<string>
}> {
  override get message(): string {
    return `no ${this.file} found; searched ${this.searched.join(", ")}`
  }
}

/**
 * The program of an ssh or ext connection ended: its exit code and the end of its stderr.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProcessFailed extends Data.TaggedError("ProcessFailed")<{
  readonly command: string
  readonly exitCode: number | undefined
  readonly stderr: string
}> {
  override get message(): string {
    const how = this.exitCode === undefined ? "ended" : `exited with code ${this.exitCode}`
    const err = this.stderr.trim()
    return `${this.command} ${how}${err === "" ? "" : `: ${err}`}`
  }
}

/**
 * Why a URI could not be dialled.
 *
 * @since 0.1.0
 * @category errors
 */
export type DialError =
  | Uri.UriError
  | ConnectFailed
  | UntrustedCertificate
  | ExpiredCertificate
  | HostnameMismatch
  | TlsFailure
  | CertificateRefused
  | CertificateNotFound
  | ProcessFailed

// ---------------------------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------------------------

/**
 * Where libvirt's client looks for its x509 files, in order: `pkipath` only, when given; otherwise (not root)
 * `~/.pki/libvirt/`, then the system paths `/etc/pki/CA/cacert.pem`, `/etc/pki/libvirt/clientcert.pem`,
 * `/etc/pki/libvirt/private/clientkey.pem`.
 *
 * @since 0.1.0
 * @category tls
 */
export const certificatePaths = (
  uri: Uri.Uri,
  where: { readonly home: string; readonly root: boolean }
): { readonly ca: ReadonlyArray<string>; readonly cert: ReadonlyArray<string>; readonly key: ReadonlyArray<string> } => {
  const pki = uri.params.pkipath
  if (pki !== undefined) {
    return { ca: [Path.join(pki, "cacert.pem")], cert: [Path.join(pki, "clientcert.pem")], key: [Path.join(pki, "clientkey.pem")] }
  }
  const user = where.root ? [] : [Path.join(where.home, ".pki", "libvirt")]
  return {
    ca: [...user.map((d) => Path.join(d, "cacert.pem")), "/etc/pki/CA/cacert.pem"],
    cert: [...user.map((d) => Path.join(d, "clientcert.pem")), "/etc/pki/libvirt/clientcert.pem"],
    key: [...user.map((d) => Path.join(d, "clientkey.pem")), "/etc/pki/libvirt/private/clientkey.pem"]
  }
}

const firstReadable = (fs: FileSystem.FileSystem, paths: ReadonlyArray<string>) =>
  Effect.findFirst(paths, (p) => fs.access(p).pipe(Effect.as(true), Effect.orElseSucceed(() => false))).pipe(
    Effect.flatMap((found) =>
      found._tag === "None" ? Effect.succeed(undefined) : fs.readFile(found.value).pipe(
        Effect.map((bytes) => ({ path: found.value, bytes })),
        Effect.orElseSucceed(() => undefined)
      )
    )
  )

/**
 * The x509 files for a tls URI. The CA is required unless `no_verify`; under `pkipath` all three are (as in
 * libvirt); elsewhere the client certificate and key are used when both are found.
 *
 * @since 0.1.0
 * @category tls
 */
export const loadCredentials = Effect.fnUntraced(function*(uri: Uri.Uri, where: { readonly home: string; readonly root: boolean }) {
  const fs = yield* FileSystem.FileSystem
  const paths = certificatePaths(uri, where)
  const [ca, cert, key] = yield* Effect.all([firstReadable(fs, paths.ca), firstReadable(fs, paths.cert), firstReadable(fs, paths.key)])
  const strict = uri.params.pkipath !== undefined
  if (ca === undefined && (strict || !uri.params.noVerify)) return yield* new CertificateNotFound({ file: "CA certificate", searched: paths.ca })
  if (strict && cert === undefined) return yield* new CertificateNotFound({ file: "client certificate", searched: paths.cert })
  if (strict && key === undefined) return yield* new CertificateNotFound({ file: "client key", searched: paths.key })
  return { ca, identity: cert !== undefined && key !== undefined ? { cert: cert.bytes, key: key.bytes } : undefined }
})

// ---------------------------------------------------------------------------------------------------------------
// Classifying open failures
// ---------------------------------------------------------------------------------------------------------------

const UNTRUSTED = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED"
])
const EXPIRED = new Set(["CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID"])

const codeOf = (cause: unknown): string => {
  const code = (cause as { code?: unknown } | undefined)?.code
  return typeof code === "string" ? code : "EUNKNOWN"
}

const detailOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** What was dialled, as far as explaining an open failure needs it. */
type Dialled = Pick<Dialed, "address" | "tls">

const classifyOpen = (dialled: Dialled, reason: Socket.SocketOpenError): DialError => {
  const { address, tls } = dialled
  if (reason.cause instanceof ProcessFailed || reason.cause instanceof ConnectFailed || reason.cause instanceof CertificateRefused) return reason.cause
  if (reason.kind === "Timeout") return new ConnectFailed({ address, code: "ETIMEDOUT", detail: "no connection within the open timeout" })
  const code = codeOf(reason.cause)
  const detail = detailOf(reason.cause)
  if (tls !== undefined) {
    if (UNTRUSTED.has(code)) return new UntrustedCertificate({ address, code, ca: tls.ca })
    if (EXPIRED.has(code)) return new ExpiredCertificate({ address, code })
    if (code === "ERR_TLS_CERT_ALTNAME_INVALID") return new HostnameMismatch({ address, host: tls.host, detail })
    if (code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS") || code === "ECONNRESET") return new TlsFailure({ address, code, detail })
  }
  return new ConnectFailed({ address, code, detail })
}

// a connection that failed because its socket never opened (or its program failed) becomes the DialError that
// says why; other errors pass unchanged
const explain = (dialled: Dialled) => <E extends { readonly _tag: string }>(error: E): E | DialError => {
  // the address as the URI names it (the client reports the one the system resolved)
  if (error instanceof ConnectFailed) return new ConnectFailed({ address: dialled.address, code: error.code, detail: error.detail })
  if (error._tag !== "SocketFailure") return error
  const cause = (error as unknown as { readonly cause: Socket.SocketError }).cause
  const reason = cause.reason
  if (reason._tag === "SocketOpenError") return classifyOpen(dialled, reason)
  if (reason._tag === "SocketReadError" && reason.cause instanceof ProcessFailed) return reason.cause
  return error
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes as sockets
// ---------------------------------------------------------------------------------------------------------------

const asBytes = (chunk: Uint8Array | string) => (typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk)
const readError = (cause: unknown) => new Socket.SocketError({ reason: new Socket.SocketReadError({ cause }) })
const openError = (cause: unknown) => new Socket.SocketError({ reason: new Socket.SocketOpenError({ kind: "Unknown", cause }) })
const closedWith = (code: number) => new Socket.SocketError({ reason: new Socket.SocketCloseError({ code }) })
const cleanClose = closedWith(1000)

/**
 * A socket over a program's stdin and stdout: acquiring the reader spawns it (in the reader's scope, which kills
 * it: SIGTERM, then SIGKILL after 500 ms); writes go to its stdin (queued until then); releasing the writer closes
 * its stdin. A `CloseEvent` destroys the socket: a pending read fails at once (a frozen program would never close
 * its stdout). When its stdout ends, a zero exit is a clean close, anything else a read error carrying
 * {@link ProcessFailed}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromProcess = (command: string, args: ReadonlyArray<string>): Effect.Effect<Socket.Socket, never, ChildProcessSpawner> =>
  Effect.gen(function*() {
    const spawner = yield* ChildProcessSpawner
    // bounded: a program that stops reading its stdin makes our writes wait, so the connection stops reading too
    // (flow control, as over a socket) instead of queueing without bound
    const input = yield* Queue.bounded<Uint8Array, Cause.Done>(64)
    const destroyed = yield* Deferred.make<never, Socket.SocketError>()
    const shown = CommandLine.display([command, ...args])
    const spawn = spawner.spawn(ChildProcess.make(command, args, {
      stdin: { stream: Stream.fromQueue(input) },
      forceKillAfter: "500 millis"
    })).pipe(Effect.mapError((e) => openError(new ConnectFailed({ address: shown, code: codeOf(e.reason.cause ?? e), detail: e.message }))))
    const reader = Effect.gen(function*() {
      const handle = yield* spawn
      let stderr = ""
      const stderrRead = yield* handle.stderr.pipe(
        Stream.decodeText(),
        Stream.runForEach((text) => Effect.sync(() => void (stderr = (stderr + text).slice(-4096)))),
        Effect.ignore,
        Effect.forkScoped
      )
      const ended = handle.exitCode.pipe(
        Effect.timeoutOption(Duration.seconds(2)),
        Effect.map(Option.getOrUndefined),
        Effect.orElseSucceed(() => undefined),
        // the exit can come before the last of stderr: read it to its end (briefly) so the error carries it
        Effect.tap(() => Fiber.await(stderrRead).pipe(Effect.timeoutOption(Duration.millis(500)))),
        Effect.flatMap((exitCode) =>
          Effect.fail(exitCode === 0 ? cleanClose : readError(new ProcessFailed({ command: shown, exitCode, stderr })))
        )
      )
      const pull = yield* Stream.toPull(handle.stdout)
      return {
        pull: Effect.catch(pull, (e): Effect.Effect<never, Socket.SocketError> => (Cause.isDone(e) ? ended : Effect.fail(readError(e)))).pipe(
          Effect.raceFirst(Deferred.await(destroyed))
        ),
        upgrade: Socket.SocketUpgradeError.unsupported
      }
    })
    const writer: Socket.Writer = {
      write: (chunk) =>
        Socket.isCloseEvent(chunk)
          ? Deferred.fail(destroyed, closedWith(chunk.code)).pipe(Effect.andThen(Queue.end(input)), Effect.asVoid)
          : Queue.offer(input, asBytes(chunk)).pipe(Effect.asVoid),
      writeAll: (chunks) => Queue.offerAll(input, chunks.map(asBytes)).pipe(Effect.asVoid)
    }
    return Socket.make({ reader, writer: Effect.acquireRelease(Effect.succeed(writer), () => Queue.end(input)) })
  })

// ---------------------------------------------------------------------------------------------------------------
// libvirt's TLS check byte
// ---------------------------------------------------------------------------------------------------------------

/**
 * The byte libvirtd sends right after a TLS handshake when it accepted the client's certificate and address.
 *
 * @since 0.1.0
 * @category tls
 */
export const CHECK_BYTE = 1


const endOf = (e: Socket.SocketError): string =>
  e.reason._tag === "SocketCloseError" ? "closed by the server" : `${codeOf(e.reason.cause)}: ${detailOf(e.reason.cause)}`

/**
 * A TLS client socket that, once open, reads libvirtd's check byte before anything else: a `1` lets the
 * connection go on (bytes that came with it are kept), anything else or the end fails the open with
 * {@link CertificateRefused}.
 *
 * @since 0.1.0
 * @category tls
 */
export const expectCheckByte = (socket: Socket.Socket, address: string): Socket.Socket =>
  Socket.make({
    writer: socket.writer,
    reader: Effect.gen(function*() {
      const inner = yield* socket.reader
      const refused = (detail: string) => openError(new CertificateRefused({ address, detail }))
      const first = yield* inner.pull.pipe(Effect.mapError((e) => refused(`the connection ended before the check byte (${endOf(e)})`)))
      const [head, ...rest] = first.map(asBytes)
      if (head === undefined || head[0] !== CHECK_BYTE) return yield* refused(`the check byte was ${head?.[0] ?? "missing"}, not ${CHECK_BYTE}`)
      let pending: Array<Uint8Array> = [head.subarray(1), ...rest].filter((c) => c.length > 0)
      const pull = Effect.suspend(() => {
        const [next, ...more] = pending
        if (next === undefined) return inner.pull
        pending = []
        return Effect.succeed([next, ...more] as const)
      })
      return { pull, upgrade: inner.upgrade }
    })
  })

// ---------------------------------------------------------------------------------------------------------------
// Dialling
// ---------------------------------------------------------------------------------------------------------------

/**
 * The same socket, but once opening it has failed, its writes fail with that error instead of waiting for an open
 * that will never come (a Node socket's writes wait until its reader has opened it). A runtime that writes, or
 * closes with a `CloseEvent`, while the dial fails then ends instead of hanging.
 *
 * @since 0.1.0
 * @category constructors
 */
export const failWritesIfOpenFails = (socket: Socket.Socket): Effect.Effect<Socket.Socket> =>
  Effect.map(Deferred.make<never, Socket.SocketError>(), (failed) => {
    const orFailed = <A>(effect: Effect.Effect<A, Socket.SocketError>) => Effect.raceFirst(effect, Deferred.await(failed))
    return Socket.make({
      reader: socket.reader.pipe(Effect.tapError((e) => Deferred.fail(failed, e))),
      writer: Effect.map(socket.writer, (w): Socket.Writer => ({
        write: (chunk) => orFailed(w.write(chunk)),
        writeAll: (chunks) => orFailed(w.writeAll(chunks))
      }))
    })
  })

/**
 * Options of {@link socket} and {@link connect}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * How long opening may take. {@link connect}: the whole open (connecting, TLS, AUTH_LIST, SUPPORTS_FEATURE,
   * CONNECT_OPEN), failing with `OpenTimeout` naming the phase; {@link socket}: opening the socket (TCP, TLS
   * handshake). Default 30 seconds; `Duration.infinity` (or ≤ 0) waits forever, as libvirt does.
   */
  readonly openTimeout?: Duration.Input
  /** Use the read-only default socket (unix, ssh). Default false. */
  readonly readOnly?: boolean
  /** Extra ssh arguments, placed before the host (e.g. `-o UserKnownHostsFile=…`). */
  readonly sshOptions?: ReadonlyArray<string>
  /** Home directory and root-ness for the certificate search; default: this process's. */
  readonly pki?: { readonly home: string; readonly root: boolean }
}

/**
 * A dialled socket and a description of where it goes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Dialed {
  readonly uri: Uri.Uri
  readonly socket: Socket.Socket
  /** `host:port`, a socket path, or the command line. */
  readonly address: string
  readonly tls: { readonly host: string; readonly ca: string | undefined } | undefined
}

const hostPort = (host: string, port: number | undefined) => `${Net.isIPv6(host) ? `[${host}]` : host}:${port}`

const unixSocket = (uri: Uri.Uri, options: Options) =>
  uri.params.socket ?? Uri.defaultSocket(uri, {
    readOnly: options.readOnly ?? false,
    ...(process.env.XDG_RUNTIME_DIR === undefined ? {} : { runtimeDir: process.env.XDG_RUNTIME_DIR })
  })

const tlsSocket = Effect.fnUntraced(function*(uri: Uri.Uri, options: Options, openTimeout: Duration.Input | undefined) {
  const host = Uri.host(uri)
  const port = Uri.port(uri)
  const where = options.pki ?? { home: Os.homedir(), root: process.getuid?.() === 0 }
  const credentials = yield* loadCredentials(uri, where)
  // dialled as NodeSocket.makeTls does, telling the open timeout whether TCP is up (then the TLS handshake is on)
  let connected = false
  const tlsOptions: Tls.ConnectionOptions = {
    host,
    ...(port === undefined ? {} : { port }),
    ...(Net.isIP(host) === 0 ? { servername: host } : {}),
    ...(credentials.ca === undefined ? {} : { ca: Buffer.from(credentials.ca.bytes) }),
    ...(credentials.identity === undefined ? {} : { cert: Buffer.from(credentials.identity.cert), key: Buffer.from(credentials.identity.key) }),
    rejectUnauthorized: !uri.params.noVerify
  }
  const connect = () => Tls.connect(tlsOptions).once("connect", () => void (connected = true))
  const socket = yield* Transport.fromConnect(connect, { ready: "secureConnect", openTimeout }).pipe(Effect.flatMap(failWritesIfOpenFails))
  const address = hostPort(host, port)
  const checked = OpenTimeout.withTransportPhase(expectCheckByte(socket, address), () => (connected ? "tls" : "connect"))
  return { socket: checked, address, tls: { host, ca: credentials.ca?.path } }
})

const processSocket = Effect.fnUntraced(function*(uri: Uri.Uri, options: Options) {
  const cmd = uri.transport === "ext"
    ? { command: uri.params.command ?? "", args: [] }
    : yield* Effect.fromResult(Uri.sshCommand(uri, options.sshOptions ?? []))
  const socket = yield* fromProcess(cmd.command, cmd.args)
  return { socket, address: CommandLine.display([cmd.command, ...cmd.args]), tls: undefined }
})

/**
 * A socket for a URI (a string is parsed first). It opens when the runtime starts reading.
 *
 * @since 0.1.0
 * @category constructors
 */
export const socket = (
  target: string | Uri.Uri,
  options: Options = {}
): Effect.Effect<Dialed, Uri.UriError | CertificateNotFound, FileSystem.FileSystem | ChildProcessSpawner> =>
  Effect.flatMap(parse(target), (uri) => dial(uri, options, OpenTimeout.millis(options.openTimeout)))

const parse = (target: string | Uri.Uri) => (typeof target === "string" ? Effect.fromResult(Uri.parse(target)) : Effect.succeed(target))

/** The socket for a URI, its opening bounded by `openTimeout` ms when given. */
const dial = (uri: Uri.Uri, options: Options, openTimeout: number | undefined) =>
  Effect.gen(function*() {
    const bound = openTimeout === undefined ? {} : { openTimeout }
    switch (uri.transport) {
      case "tcp":
      case "unix": {
        const where = uri.transport === "tcp" ? { host: Uri.host(uri), port: Uri.port(uri) ?? 0 } : { path: unixSocket(uri, options) }
        const socket = yield* NodeSocket.makeNet({ ...where, noDelay: true, ...bound }).pipe(Effect.flatMap(failWritesIfOpenFails))
        return { uri, socket, address: "path" in where ? where.path : hostPort(where.host, where.port), tls: undefined }
      }
      case "tls":
        return { uri, ...(yield* tlsSocket(uri, options, openTimeout)) }
      case "ssh":
      case "ext":
        return { uri, ...(yield* processSocket(uri, options)) }
    }
  })

/**
 * Options of {@link connect}: dialling plus `Client.connect`'s (the connection name defaults to the URI's).
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectOptions extends Options, Omit<Client.ConnectOptions, "name"> {
  readonly name?: string | undefined
}

/**
 * Connects to the daemon a URI names and opens the connection (AUTH_LIST, SUPPORTS_FEATURE, CONNECT_OPEN).
 *
 * **Example**
 * ```ts
 * const program = Effect.gen(function*() {
 *   const client = yield* Dial.connect("qemu+tls://host/system?pkipath=/etc/pki/me")
 *   yield* client.setKeepAlive(5000, 5)
 *   return yield* client.closed
 * }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect = (
  target: string | Uri.Uri,
  options: ConnectOptions = {}
): Effect.Effect<
  Client.Client,
  DialError | Client.DialOpenError,
  Scope.Scope | FileSystem.FileSystem | ChildProcessSpawner
> =>
  Effect.gen(function*() {
    const uri = yield* parse(target)
    const { name, ...rest } = options
    let dialed: Dialed | undefined
    // the socket has no bound of its own: the open timeout covers it with the handshake, and names the phase
    const dialing = Effect.map(dial(uri, options, undefined), (d) => ((dialed = d), d.socket))
    return yield* Client.connectWith(dialing, { ...rest, name: name ?? uri.name }).pipe(
      Effect.mapError((error) => (dialed === undefined ? error : explain(dialed)(error)))
    )
  })
