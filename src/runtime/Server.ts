/**
 * A libvirt remote-program server with keepalive: every accepted client gets its own session under the server's
 * keepalive options and policy.
 *
 * Contract:
 * - The session answers the handshake itself (AUTH_LIST, SUPPORTS_FEATURE, CONNECT_OPEN, CONNECT_CLOSE), pings
 *   advertising clients as the policy allows, and refuses non-advertising clients under `required`.
 * - Every other call after CONNECT_OPEN goes to the {@link Handler}. Without one, or when the handler does not
 *   know the procedure, the client gets libvirt's "this function is not supported by the connection driver"
 *   (VIR_ERR_NO_SUPPORT) error reply: never silence, never a crash.
 * - Connections are independent: a client that dies, misbehaves or sends garbage ends only its own connection.
 * - Options are validated before anything listens: bad settings fail with a typed error naming the field.
 *
 * @since 0.1.0
 */
import { Effect, Exit, Result, Scope } from "effect"
import * as Socket from "effect/socket/Socket"
import type * as SocketServer from "effect/socket/SocketServer"
import * as NetAddress from "effect/net/NetAddress"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import * as Connection from "./Connection.ts"
import type * as Policing from "./Policing.ts"
import * as Reader from "./Reader.ts"
import * as Frame from "../wire/Frame.ts"
import type * as Keepalive from "../core/Keepalive.ts"
import * as Remote from "../wire/RemoteProtocol.ts"
import * as Session from "../session/Session.ts"

/**
 * Answers one remote-program call: the reply payload (empty for a void reply), a libvirt error, or `undefined`
 * when the handler does not know the procedure.
 *
 * @since 0.1.0
 * @category models
 */
export type Handler = (
  call: Frame.Frame,
  connection: Connection.Connection
) => Effect.Effect<Uint8Array | undefined, Remote.RemoteCallError>

/**
 * Options of a server. The limits carry libvirtd.conf's names in camelCase and have libvirtd's defaults where it
 * has one.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServeOptions {
  /** Keepalive options and policy (milliseconds). Default: libvirtd's 5 s × 5 under policy `disabled`. */
  readonly keepalive?: Session.ServerOptions
  readonly handler?: Handler
  /**
   * Called with every accepted connection (after it started), e.g. to watch or test it. It runs on a fiber of its
   * own that is not interrupted when the connection ends (so it can observe the end), only when the server
   * stops.
   */
  readonly onConnection?: (connection: Connection.Connection) => Effect.Effect<void>
  /** Observes every connection's traffic and events (see `Connection.Options`). */
  readonly trace?: Connection.Options["trace"]
  /** max_clients: connections beyond it are closed at once (default 5000). */
  readonly maxClients?: number
  /** max_client_requests: calls of one client in flight at once; past it we stop reading from it (default 5). */
  readonly maxClientRequests?: number
  /** A connection that sends no CONNECT_OPEN within this many ms is closed (default 60 000; 0 disables). */
  readonly handshakeTimeout?: number
  /** Bytes of partial frames buffered across all connections (default 256 MiB). */
  readonly maxBufferedBytes?: number
  /** Unsent output per connection before we stop reading from it (default 1 MiB). */
  readonly maxQueuedBytes?: number
  /** Inbound flood policing over frames of every kind (default `Policing.defaults`; rate 0 disables). */
  readonly policing?: Policing.FramePolicing
}

/**
 * The server limits' defaults.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultLimits = {
  maxClients: 5000,
  maxClientRequests: 5,
  handshakeTimeout: 60_000,
  maxBufferedBytes: 256 * 1024 * 1024
} as const

// libvirtd's convention for a known API the driver lacks: NO_SUPPORT in the API's domain, naming the API
const API_NAMES: Readonly<Record<number, string>> = {
  [Remote.RemoteProc.ConnectGetType]: "virConnectGetType",
  [Remote.RemoteProc.ConnectGetVersion]: "virConnectGetVersion",
  [Remote.RemoteProc.ConnectGetHostname]: "virConnectGetHostname",
  [Remote.RemoteProc.ConnectGetUri]: "virConnectGetURI",
  [Remote.RemoteProc.ConnectListAllDomains]: "virConnectListAllDomains",
  [Remote.RemoteProc.ConnectRegisterCloseCallback]: "virConnectRegisterCloseCallback",
  [Remote.RemoteProc.ConnectUnregisterCloseCallback]: "virConnectUnregisterCloseCallback"
}

const notSupported = (proc: number): Remote.RemoteErrorPayload =>
  Remote.isKnownProcedure(proc)
    ? Remote.libvirtError(Remote.ErrorCode.NoSupport, Remote.ErrorDomain.Domain, API_NAMES[proc] ?? `remote procedure ${proc}`)
    : Remote.libvirtError(Remote.ErrorCode.Rpc, Remote.ErrorDomain.Rpc, `unknown procedure: ${proc}`)

const replyTo = (call: Frame.Frame, outcome: Result.Result<Uint8Array | undefined, Remote.RemoteCallError>): Frame.Frame => {
  const { proc, serial } = call.header
  if (Result.isSuccess(outcome)) {
    return outcome.success === undefined
      ? Frame.make(Remote.replyHeader(proc, serial, Frame.MessageStatus.Error), Remote.encodeRemoteError(notSupported(proc)))
      : Frame.make(Remote.replyHeader(proc, serial, Frame.MessageStatus.Ok), outcome.success)
  }
  const e = outcome.failure
  return Frame.make(
    Remote.replyHeader(proc, serial, Frame.MessageStatus.Error),
    Remote.encodeRemoteError(Remote.remoteError(e.code, e.domain, e.text))
  )
}

/** The per-server state shared by its connections: the partial-frame budget and the live count. */
interface Shared {
  readonly budget: Connection.Budget
  live: number
}

const connectionOptions = (options: ServeOptions, shared: Shared | undefined): Connection.Options => {
  const handler = options.handler ?? (() => Effect.succeed(undefined))
  const timeout = options.handshakeTimeout ?? defaultLimits.handshakeTimeout
  return {
    budget: shared?.budget ?? Reader.budget(options.maxBufferedBytes ?? defaultLimits.maxBufferedBytes),
    ...(timeout > 0 ? { handshakeTimeout: timeout } : {}),
    ...(options.maxQueuedBytes === undefined ? {} : { maxQueuedBytes: options.maxQueuedBytes }),
    ...(options.policing === undefined ? {} : { policing: options.policing }),
    ...(options.trace === undefined ? {} : { trace: options.trace }),
    dispatch: {
      maxRequests: options.maxClientRequests ?? defaultLimits.maxClientRequests,
      // without a handler, every call gets NO_SUPPORT at once
      ...(options.handler === undefined ? { answer: (call: Frame.Frame) => replyTo(call, Result.succeed(undefined)) } : {}),
      handle: (call, connection) =>
        handler(call, connection).pipe(
          Effect.result,
          Effect.flatMap((outcome) => connection.send(replyTo(call, outcome))),
          Effect.ignore
        )
    }
  }
}

/**
 * Serves one accepted socket until its connection ends, on the calling fiber. Scoped.
 *
 * @since 0.1.0
 * @category running
 */
export const handleSocket = (
  socket: Socket.Socket,
  options: ServeOptions = {},
  /** Where watcher fibers (`onConnection`) live; by default they are detached. */
  watchers?: Scope.Scope,
  shared?: Shared
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const keepalive = options.keepalive ?? Session.defaultServerOptions
    const watch = options.onConnection
    const end = yield* Connection.run(socket, (now) => Session.server(now, keepalive), connectionOptions(options, shared), (connection) =>
      watch === undefined ? Effect.void : Effect.asVoid(watchers === undefined ? Effect.forkDetach(watch(connection)) : Effect.forkIn(watch(connection), watchers)))
    yield* Effect.logDebug("client connection ended").pipe(Effect.annotateLogs({ end: end._tag === "Success" ? "closed" : String(end.cause) }))
  })

/** Closes a connection beyond max_clients at once (its reader is acquired, or the socket server would leak it). */
const refuse = (socket: Socket.Socket) =>
  Effect.gen(function*() {
    yield* socket.reader
    const writer = yield* socket.writer
    yield* writer.write(new Socket.CloseEvent(1000))
  }).pipe(Effect.scoped, Effect.ignore)

/**
 * Serves every client of a `SocketServer`, each on its own fiber. Runs until interrupted.
 *
 * @since 0.1.0
 * @category running
 */
export const serve = (
  server: SocketServer.SocketServer["Service"],
  options: ServeOptions = {}
): Effect.Effect<never, SocketServer.SocketServerError | Keepalive.InvalidKeepaliveConfig | Session.InvalidPolicy> =>
  Effect.gen(function*() {
    if (options.keepalive !== undefined) {
      const valid = Session.validateServerOptions(options.keepalive)
      if (Result.isFailure(valid)) return yield* Effect.fail(valid.failure)
    }
    // watchers live as long as the server runs
    const watchers = yield* Scope.make()
    const shared: Shared = { budget: Reader.budget(options.maxBufferedBytes ?? defaultLimits.maxBufferedBytes), live: 0 }
    const maxClients = options.maxClients ?? defaultLimits.maxClients
    return yield* server.run((socket) => {
      if (shared.live >= maxClients) return refuse(socket)
      shared.live++
      return Effect.scoped(handleSocket(socket, options, watchers, shared)).pipe(Effect.ensuring(Effect.sync(() => void shared.live--)))
    }).pipe(
      Effect.ensuring(Scope.close(watchers, Exit.void))
    )
  })

/**
 * A running server: the address it listens on.
 *
 * @since 0.1.0
 * @category models
 */
export interface Listening {
  readonly address: NetAddress.SocketAddress
  /** The TCP port, or -1 for a Unix socket. */
  readonly port: number
}

/**
 * Listens on TCP (`{ host, port }`, port 0 for any free port) or a Unix socket (`{ path }`) and serves clients
 * until the scope closes.
 *
 * @since 0.1.0
 * @category running
 */
export const listen = (
  where: { readonly host: string; readonly port: number } | { readonly path: string },
  options: ServeOptions = {}
): Effect.Effect<Listening, SocketServer.SocketServerError | Keepalive.InvalidKeepaliveConfig | Session.InvalidPolicy, Scope.Scope> =>
  Effect.gen(function*() {
    if (options.keepalive !== undefined) {
      const valid = Session.validateServerOptions(options.keepalive)
      if (Result.isFailure(valid)) return yield* Effect.fail(valid.failure)
    }
    const server = yield* NodeSocketServer.make(where)
    yield* serve(server, options).pipe(Effect.forkScoped)
    const address = server.address
    return { address, port: NetAddress.isInetAddress(address) ? address.port : -1 }
  })
