/**
 * A libvirt remote-program client with keepalive, on any socket or by URI; as a function, as a service with layers,
 * and as a reconnecting client driven by a `Schedule`.
 *
 * Contract:
 * - {@link connect} is scoped. It runs the open sequence AUTH_LIST → SUPPORTS_FEATURE(PROGRAM_KEEPALIVE) →
 *   CONNECT_OPEN(name) and succeeds once the server accepted CONNECT_OPEN; with `keepalive` in the options it
 *   then calls setKeepAlive. A refusal under policy `required` fails with `Refused` (the tag the server's end of
 *   the connection has too); any other broken handshake with `HandshakeFailed`, carrying libvirt's error.
 * - One timeout, `openTimeout` (default 30 seconds), bounds the whole open: the socket connecting (and TLS), then
 *   each handshake call. Past it the open fails with `OpenTimeout` naming the phase it was stuck in
 *   (`connect`, `tls`, `auth-list`, `supports-feature`, `connect-open`) and releases the socket at once.
 *   {@link connectWith} puts dialling under the same bound.
 * - When the scope closes, an open client sends CONNECT_CLOSE and waits (at most `closeTimeout`) for the reply,
 *   then closes the socket. A connection that is not open (still opening, or ended) or is frozen
 *   (`Testing.freeze`) is simply released: nothing waits for a reply that cannot come.
 * - A socket that never opens fails the open with `ConnectFailed` (the address and the system code), whatever the
 *   entry point; an option that is not a duration with `InvalidOption`, before anything is dialled.
 * - {@link KeepaliveClient} is the service; {@link layer} opens it on the `Socket` in context, {@link layerTcp},
 *   {@link layerUnix} and {@link layerUri} dial too.
 * - {@link reconnecting} keeps a connection up, by URI or by a dialling effect, with its state as a
 *   `SubscriptionRef`: each state emitted once, `Dead` with a typed reason, every attempt bounded by `openTimeout`,
 *   the schedule started over after every connection that opened, and {@link GaveUp} from `client` once `Closed`.
 * - Every interval and timeout is an Effect `Duration.Input` (a plain number means milliseconds).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Pull from "effect/Pull"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type * as FileSystem from "effect/FileSystem"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import type * as Socket from "effect/socket/Socket"
import * as SocketModule from "effect/socket/Socket"
import type * as Keepalive from "../core/Keepalive.ts"
import * as Session from "../session/Session.ts"
import type * as ProtocolVariant from "../session/ProtocolVariant.ts"
import * as Connection from "./Connection.ts"
import * as Controls from "./Controls.ts"
import * as Dial from "./Dial.ts"
import * as Durations from "./Durations.ts"
import * as OpenTimeout from "./OpenTimeout.ts"
import * as Transport from "./Transport.ts"
import type * as Uri from "./Uri.ts"

/**
 * Options of {@link connect}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectOptions {
  /** The connection name sent in CONNECT_OPEN, e.g. `"test:///default"`; absent lets the server choose. */
  readonly name?: string | undefined
  /** CONNECT_OPEN flags (1 = read-only). Default 0. */
  readonly flags?: number
  /** Advertise keepalive while opening (libvirt's client does when it has an event loop). Default true. */
  readonly advertise?: boolean
  /** setKeepAlive right after opening (virsh's `-k interval -K count`). Absent: the client does not ping. */
  readonly keepalive?: { readonly interval: Duration.Input; readonly count: number }
  /** PING-flood policing of the server's PINGs (see `Session.PingPolicing`; `minInterval` a duration). */
  readonly policing?: { readonly minInterval: Duration.Input; readonly strikes: number }
  readonly variant?: ProtocolVariant.ProtocolVariant
  /**
   * One bound on opening: the socket connecting (and TLS), AUTH_LIST, SUPPORTS_FEATURE and CONNECT_OPEN. Past it the
   * open fails with `OpenTimeout` naming the phase it was stuck in. Default 30 seconds; `Duration.infinity` (or ≤ 0)
   * waits forever, as libvirt does.
   */
  readonly openTimeout?: Duration.Input
  /**
   * How long to wait for the CONNECT_CLOSE reply when the scope closes. Default 1 second; 0 skips CONNECT_CLOSE.
   * Under `TestClock` the wait is virtual time: a test whose server is frozen at its end should set 0 (a frozen
   * client is released at once anyway). Not a duration: `InvalidOption`.
   */
  readonly closeTimeout?: Duration.Input
  /** Observes the traffic and events (see `Connection.Options`). */
  readonly trace?: Connection.Options["trace"]
  /** The connection's bounds (see `Connection.Options`): frames waiting on `frames`, unsent output, inbound frame rate. */
  readonly maxPendingFrames?: number
  readonly maxPendingBytes?: number
  /** What a full backlog does to the next frame for `frames`: `drop` (default, counted), `end`, or `pause` (see `Connection.Options`). */
  readonly slowConsumer?: Connection.Options["slowConsumer"]
  readonly maxQueuedBytes?: number
  /** How long reading may stay stopped because the application does not take its frames, before `SlowConsumer` (default 60 seconds). */
  readonly maxStall?: Duration.Input
  /** Calls unanswered at once (default 4, below libvirtd's max_client_requests of 5, so a default daemon never stops reading us). */
  readonly maxCallsInFlight?: number
  /** Calls waiting for a slot, in the callers' order (default 1024); one more fails with `TooManyCalls`. */
  readonly maxQueuedCalls?: number
  readonly framePolicing?: Connection.Options["policing"]
  /** Replaces `Session.step` for the simulator's mutants (see `Connection.Options.step`); never set in production. */
  readonly step?: Connection.Options["step"]
}

/**
 * An open client connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface Client extends Connection.ClientConnection {
  /** What the server answered to SUPPORTS_FEATURE(PROGRAM_KEEPALIVE). */
  readonly serverKeepalive: boolean
}

/**
 * Opens a libvirt connection over `socket`.
 *
 * **Example**
 * ```ts
 * const program = Effect.gen(function*() {
 *   const socket = yield* Transport.tcp({ host: "127.0.0.1", port: 16509 })
 *   const client = yield* Client.connect(socket, { name: "test:///default", keepalive: { interval: "5 seconds", count: 5 } })
 *   return yield* client.closed
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect = (
  socket: Socket.Socket,
  options: ConnectOptions = {}
): Effect.Effect<Client, OpenError, Scope.Scope> =>
  // the socket is given: an invalid option is the caller's defect here (connectWith reports it as InvalidOption)
  Effect.flatMap(Effect.orDie(validate(options)), () => open(Effect.succeed(socket), options))

/**
 * Why {@link connect} failed: the connection's end, a request on an ended connection, a bad keepalive option, or
 * the open timeout.
 *
 * @since 0.2.0
 * @category errors
 */
export type OpenError = Connection.ConnectionError | Connection.ConnectionClosed | Keepalive.InvalidKeepaliveConfig | OpenTimeout.OpenTimeout

/**
 * Why a dialling open ({@link connectWith}, the layers, {@link reconnecting}) failed: {@link OpenError}, or an
 * option that is not valid.
 *
 * @since 0.2.0
 * @category errors
 */
export type DialOpenError = OpenError | InvalidOption

/**
 * An option of {@link connect} that is not what it must be (e.g. `closeTimeout: NaN`): which option, what it was,
 * and the rule.
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidOption extends Data.TaggedError("InvalidOption")<{
  readonly option: "openTimeout" | "closeTimeout" | "maxStall" | "policing.minInterval"
  readonly value: string
  readonly rule: string
}> {
  override get message(): string {
    return `invalid ${this.option} ${this.value}: ${this.rule}`
  }
}

/** The durations of `options` that must be durations, checked before anything is dialled. */
const validate = (options: ConnectOptions): Effect.Effect<void, InvalidOption> => {
  const durations = [
    ["openTimeout", options.openTimeout],
    ["closeTimeout", options.closeTimeout],
    ["maxStall", options.maxStall],
    ["policing.minInterval", options.policing?.minInterval]
  ] as const
  for (const [option, value] of durations) {
    if (value !== undefined && Durations.toMillis(value) === undefined) {
      return Effect.fail(new InvalidOption({ option, value: String(value), rule: "not a duration (a Duration, \"1 second\", or a number of milliseconds)" }))
    }
  }
  return Effect.void
}

/**
 * Dials with `dial`, then opens as {@link connect} does; the open timeout bounds both. A failed or timed-out open
 * releases what it acquired (the socket, the connection) at once.
 *
 * @since 0.2.0
 * @category constructors
 */
export const connectWith = <E, R>(
  dial: Effect.Effect<Socket.Socket, E, R>,
  options: ConnectOptions = {}
): Effect.Effect<Client, E | DialOpenError, Exclude<R, Scope.Scope> | Scope.Scope> => Effect.flatMap(validate(options), () => open(dial, options))

/** Dials and opens, the open timeout bounding both; a failure releases what was acquired. */
const open = <E, R>(
  dial: Effect.Effect<Socket.Socket, E, R>,
  options: ConnectOptions
): Effect.Effect<Client, E | OpenError, Exclude<R, Scope.Scope> | Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Scope.fork(yield* Effect.scope, "sequential")
    let phase = (): OpenTimeout.OpenPhase => "connect"
    const opening = Effect.gen(function*() {
      const watched = OpenTimeout.watch(yield* dial)
      const connection = yield* start(watched.socket, options)
      phase = () => watched.opening() ?? OpenTimeout.sessionPhase(Controls.of(connection).phase())
      return yield* handshake(connection, options)
    })
    return yield* opening.pipe(
      Scope.provide(scope),
      OpenTimeout.bound(options.openTimeout, () => phase()),
      Effect.onExit((exit) => (Exit.isFailure(exit) ? Scope.close(scope, exit) : Effect.void))
    )
  })

/** The connection, with the finalizer that closes it: CONNECT_CLOSE (within `closeTimeout`) only once it is open. */
const start = (socket: Socket.Socket, options: ConnectOptions) =>
  Effect.gen(function*() {
    const clientOptions: Session.ClientOptions = {
      ...(options.advertise === undefined ? {} : { advertise: options.advertise }),
      ...(options.variant === undefined ? {} : { variant: options.variant }),
      ...(options.policing === undefined
        ? {}
        : { policing: { minInterval: Durations.toMillis(options.policing.minInterval) ?? 0, strikes: options.policing.strikes } })
    }
    const connection = yield* Connection.makeClient(socket, (now) => Session.client(now, clientOptions), {
      ...(options.trace === undefined ? {} : { trace: options.trace }),
      ...(options.maxPendingFrames === undefined ? {} : { maxPendingFrames: options.maxPendingFrames }),
      ...(options.maxPendingBytes === undefined ? {} : { maxPendingBytes: options.maxPendingBytes }),
      ...(options.slowConsumer === undefined ? {} : { slowConsumer: options.slowConsumer }),
      ...(options.maxStall === undefined ? {} : { maxStall: Durations.toMillis(options.maxStall) ?? Number.NaN }),
      ...(options.maxCallsInFlight === undefined ? {} : { maxCallsInFlight: options.maxCallsInFlight }),
      ...(options.maxQueuedCalls === undefined ? {} : { maxQueuedCalls: options.maxQueuedCalls }),
      ...(options.maxQueuedBytes === undefined ? {} : { maxQueuedBytes: options.maxQueuedBytes }),
      ...(options.framePolicing === undefined ? {} : { policing: options.framePolicing }),
      ...(options.step === undefined ? {} : { step: options.step })
    })
    const closeTimeout = Durations.toMillis(options.closeTimeout ?? 1000) ?? 1000
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        // only an open connection can get a CONNECT_CLOSE answered: anything else is released at once, and so is a
        // frozen one (a stopped process sends nothing: a test that ends with a frozen client ends at once)
        const controls = Controls.of(connection)
        const phase = controls.phase()
        if (closeTimeout <= 0 || controls.frozen() || (phase !== "open" && phase !== "closing") || !(yield* connection.status).alive) return
        yield* connection.close.pipe(Effect.timeoutOption(Duration.millis(closeTimeout)), Effect.ignore)
      })
    )
    return connection
  })

/** AUTH_LIST → SUPPORTS_FEATURE → CONNECT_OPEN, then setKeepAlive when asked. */
const handshake = (connection: Connection.ClientConnection, options: ConnectOptions) =>
  Effect.gen(function*() {
    yield* Controls.of(connection).request((now) => Session.Input.Open(now, options.name, options.flags ?? 0))
    yield* connection.opened
    if (options.keepalive !== undefined) {
      yield* connection.setKeepAlive(options.keepalive.interval, options.keepalive.count).pipe(
        Effect.catchTag("NotAllowed", () => Effect.void)
      )
    }
    return connection
  })

// ---------------------------------------------------------------------------------------------------------------
// The service and its layers
// ---------------------------------------------------------------------------------------------------------------

/**
 * The client service: one open connection.
 *
 * @since 0.2.0
 * @category services
 */
export class KeepaliveClient extends Context.Service<KeepaliveClient, Client>()("effect-keepalive/Client") {}

/**
 * Opens the client on the `Socket` in context (e.g. `NodeSocket.layerNet`); CONNECT_CLOSE when the layer is released.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  options: ConnectOptions = {}
): Layer.Layer<KeepaliveClient, OpenError, SocketModule.Socket> =>
  Layer.effect(KeepaliveClient, Effect.flatMap(SocketModule.Socket, (socket) => connect(socket, options)))

/**
 * Dials `host:port` over TCP and opens the client. `options.openTimeout` bounds dialling and opening together;
 * `where.openTimeout` bounds the TCP connect alone (as in `Transport.tcp`, default 5 seconds).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerTcp = (where: { readonly host: string; readonly port: number; readonly openTimeout?: Duration.Input }, options: ConnectOptions = {}) =>
  Layer.effect(KeepaliveClient, connectWith(Transport.tcp(where), options))

/**
 * Dials a Unix socket and opens the client (the timeouts as in {@link layerTcp}).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerUnix = (where: { readonly path: string; readonly openTimeout?: Duration.Input }, options: ConnectOptions = {}) =>
  Layer.effect(KeepaliveClient, connectWith(Transport.unix(where), options))

// ---------------------------------------------------------------------------------------------------------------
// Reconnecting
// ---------------------------------------------------------------------------------------------------------------

/**
 * Why a reconnecting client's connection ended or failed to open: the dial's own error `E` (a `Dial.DialError` when
 * it dials a URI), or the open's and the connection's typed ends. A connection the application closed itself
 * ended with `ConnectionClosed`.
 *
 * @since 0.2.0
 * @category models
 */
export type Reason<E = never> = E | DialOpenError

/**
 * Where a reconnecting client is: dialing (the `attempt`th dial of this outage: 1 after a start or after a
 * connection that had opened), open (with the client), dead with the reason its last connection ended or failed to
 * open (a new attempt follows the schedule), or closed for good, with the last reason when there was one.
 *
 * @since 0.2.0
 * @category models
 */
export type State<E = never> =
  | { readonly _tag: "Connecting"; readonly attempt: number }
  | { readonly _tag: "Open"; readonly client: Client; readonly attempt: number }
  | { readonly _tag: "Dead"; readonly reason: Reason<E>; readonly attempt: number }
  | { readonly _tag: "Closed"; readonly reason: Reason<E> | undefined }

/**
 * A reconnecting client stopped for good (its schedule was done, or its scope closed): what `kept.client` fails
 * with from then on. `reason` is why the last connection ended or failed to open, when there was one.
 *
 * @since 0.2.0
 * @category errors
 */
export class GaveUp<E = never> extends Data.TaggedError("GaveUp")<{ readonly reason: Reason<E> | undefined }> {
  override get message(): string {
    const reason = this.reason as { readonly message?: unknown } | undefined
    return `the reconnecting client gave up${reason === undefined ? "" : `: ${String(reason.message ?? reason)}`}`
  }
}

/**
 * A connection kept up by {@link reconnecting}.
 *
 * @since 0.2.0
 * @category models
 */
export interface Reconnecting<E = never> {
  readonly state: SubscriptionRef.SubscriptionRef<State<E>>
  /** Every state, starting with the current one; each state is emitted once. */
  readonly changes: Stream.Stream<State<E>>
  /** The open client, waiting for one if need be; `GaveUp` once the state is `Closed`. */
  readonly client: Effect.Effect<Client, GaveUp<E>>
}

/**
 * Options of {@link reconnecting} by URI: `Dial.connect`'s (the connection name defaults to the URI's).
 *
 * @since 0.2.0
 * @category models
 */
export type UriOptions = Dial.ConnectOptions

/**
 * Keeps a connection up: dials, opens, and when the connection ends (keepalive timeout, the peer closing, a refused
 * or failed open, an open past `openTimeout`) waits as `schedule` says and dials again, so the state goes
 * `Connecting` → `Dead` → `Connecting` … while the server does not answer. The schedule is consulted after each
 * `Dead` with its reason, and starts over after every connection that opened: `Schedule.recurs(2)` allows two
 * more dials per outage, however many outages there are. Stops for good when the schedule is done or the scope
 * closes (state `Closed`; `client` then fails with {@link GaveUp}).
 *
 * `target` is a libvirt URI (a string or a parsed `Uri.Uri`), dialled by `Dial.connect` with the URI's connection
 * name, or an effect that dials a socket (then `options.name` is the connection name).
 *
 * **Example**
 * ```ts
 * const kept = yield* Client.reconnecting("test+tcp://127.0.0.1/default", {
 *   keepalive: { interval: "5 seconds", count: 5 },
 *   openTimeout: "10 seconds"
 * }, Schedule.spaced("1 second"))
 * const client = yield* kept.client
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const reconnecting: {
  <O, R2>(
    target: string | Uri.Uri,
    options: UriOptions,
    schedule: Schedule.Schedule<O, Reason<Dial.DialError>, never, R2>
  ): Effect.Effect<Reconnecting<Dial.DialError>, never, R2 | Scope.Scope | FileSystem.FileSystem | ChildProcessSpawner>
  <E, R, O, R2>(
    dial: Effect.Effect<Socket.Socket, E, R>,
    options: ConnectOptions,
    schedule: Schedule.Schedule<O, Reason<E>, never, R2>
  ): Effect.Effect<Reconnecting<E>, never, Exclude<R, Scope.Scope> | R2 | Scope.Scope>
} = (
  target: string | Uri.Uri | Effect.Effect<Socket.Socket, unknown, unknown>,
  options: ConnectOptions,
  schedule: Schedule.Schedule<unknown, any, never, unknown>
): Effect.Effect<Reconnecting<any>, never, any> => keepUp(Effect.isEffect(target) ? connectWith(target, options) : Dial.connect(target, options), schedule)

/**
 * Keeps up the client `open` opens (in a scope of its own each time), as {@link reconnecting} describes.
 *
 * @since 0.2.0
 * @category constructors
 */
export const keepUp = <E, R, O, R2>(
  open: Effect.Effect<Client, E, R>,
  schedule: Schedule.Schedule<O, Reason<E>, never, R2>
): Effect.Effect<Reconnecting<E>, never, Exclude<R, Scope.Scope> | R2 | Scope.Scope> =>
  Effect.gen(function*() {
    const state = yield* SubscriptionRef.make<State<E>>({ _tag: "Connecting", attempt: 1 })
    yield* supervise(open, schedule, state).pipe(
      Effect.flatMap((reason) => SubscriptionRef.set(state, { _tag: "Closed", reason })),
      Effect.onInterrupt(() => SubscriptionRef.update(state, (s): State<E> => ({ _tag: "Closed", reason: s._tag === "Dead" ? s.reason : undefined }))),
      Effect.forkScoped
    )
    const changes = SubscriptionRef.changes(state)
    return { state, changes, client: waitOpen(changes) }
  })

/** The first `Open` client from now on, or `GaveUp` at `Closed`. */
const waitOpen = <E>(changes: Stream.Stream<State<E>>): Effect.Effect<Client, GaveUp<E>> =>
  changes.pipe(
    Stream.filter((s): s is Extract<State<E>, { _tag: "Open" | "Closed" }> => s._tag === "Open" || s._tag === "Closed"),
    Stream.runHead,
    Effect.flatMap((o) =>
      o._tag === "None"
        ? Effect.fail(new GaveUp<E>({ reason: undefined }))
        : o.value._tag === "Open"
        ? Effect.succeed(o.value.client)
        : Effect.fail(new GaveUp<E>({ reason: o.value.reason }))
    )
  )

/** Dials until the schedule is done; the last reason. The first `Connecting` is the initial state, not set again. */
const supervise = <E, R, O, R2>(
  open: Effect.Effect<Client, E, R>,
  schedule: Schedule.Schedule<O, Reason<E>, never, R2>,
  state: SubscriptionRef.SubscriptionRef<State<E>>
) =>
  Effect.gen(function*() {
    let step = yield* Schedule.toStepWithSleep(schedule)
    let attempt = 1
    while (true) {
      const { reason, opened } = yield* once(open, state, attempt)
      yield* SubscriptionRef.set(state, { _tag: "Dead", reason, attempt })
      // a connection that opened ends an outage: the schedule starts over
      if (opened) [step, attempt] = [yield* Schedule.toStepWithSleep(schedule), 0]
      const again = yield* step(reason).pipe(Effect.as(true), Pull.catchDone(() => Effect.succeed(false)))
      if (!again) return reason
      attempt++
      yield* SubscriptionRef.set(state, { _tag: "Connecting", attempt })
    }
  })

/** One connection: open it, report `Open`, and wait for its end; why it ended, and whether it had opened. */
const once = <E, R>(open: Effect.Effect<Client, E, R>, state: SubscriptionRef.SubscriptionRef<State<E>>, attempt: number) => {
  let opened = false
  return Effect.scoped(Effect.gen(function*() {
    const client = yield* open
    opened = true
    yield* SubscriptionRef.set(state, { _tag: "Open", client, attempt })
    return yield* client.closed.pipe(Effect.flatMap(() => Effect.fail(new Connection.ConnectionClosed())))
  })).pipe(
    Effect.flip,
    Effect.map((reason): { readonly reason: Reason<E>; readonly opened: boolean } => ({ reason, opened }))
  )
}

/**
 * Dials a libvirt URI and opens the client (`Dial.connect`, the connection name the URI's); CONNECT_CLOSE when the
 * layer is released. Needs a `FileSystem` and a `ChildProcessSpawner` (TLS files, ssh), e.g. `NodeServices.layer`.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerUri = (
  uri: string | Uri.Uri,
  options: UriOptions = {}
): Layer.Layer<KeepaliveClient, Dial.DialError | DialOpenError, FileSystem.FileSystem | ChildProcessSpawner> =>
  Layer.effect(KeepaliveClient, Dial.connect(uri, options))
