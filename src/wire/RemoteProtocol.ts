/**
 * The subset of libvirt's remote program (src/remote/remote_protocol.x) that the open handshake and error replies
 * need: program and procedure numbers, the constants the handshake sends, header builders and XDR codecs for a few
 * payloads.
 *
 * Contract:
 * - Encoders are total and produce exactly the bytes libvirt's rpcgen code produces for the same struct (see the golden
 *   frames of the reference's §3.4 in the tests).
 * - Decoders never throw: they return a `Result` with an {@link Xdr.XdrError} naming what could not be read, and
 *   refuse trailing bytes. Limits are libvirt's: strings of at most `REMOTE_STRING_MAX` bytes, at most 20 auth types.
 * - A `remote_error` is encoded with its `dom` and `net` pointers absent (as every libvirt daemon sends it for RPC-level
 *   errors); a decoder skips a present `dom` or `net` correctly and drops them.
 *
 * Pure: no I/O, no clock, no exceptions.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"
import * as Frame from "./Frame.ts"
import * as Xdr from "./Xdr.ts"

/**
 * `REMOTE_PROGRAM`.
 *
 * @since 0.1.0
 * @category constants
 */
export const REMOTE_PROGRAM = 0x20008086

/**
 * `REMOTE_PROTOCOL_VERSION`.
 *
 * @since 0.1.0
 * @category constants
 */
export const REMOTE_VERSION = 1

/**
 * The procedures of `enum remote_procedure` used here.
 *
 * @since 0.1.0
 * @category constants
 */
export const RemoteProc = {
  ConnectOpen: 1,
  ConnectClose: 2,
  ConnectGetType: 3,
  ConnectGetVersion: 4,
  ConnectGetHostname: 59,
  ConnectSupportsFeature: 60,
  AuthList: 66,
  AuthSaslInit: 67,
  AuthPolkit: 70,
  ConnectGetUri: 110,
  ConnectListAllDomains: 273,
  ConnectRegisterCloseCallback: 360,
  ConnectUnregisterCloseCallback: 361
} as const

/**
 * `VIR_DRV_FEATURE_*` values queried during the open sequence (src/libvirt_internal.h).
 *
 * @since 0.1.0
 * @category constants
 */
export const Feature = {
  FdPassing: 8,
  ProgramKeepalive: 10,
  RemoteEventCallback: 14,
  RemoteCloseCallback: 15
} as const

/**
 * `enum remote_auth_type`.
 *
 * @since 0.1.0
 * @category constants
 */
export const AuthType = {
  None: 0,
  Sasl: 1,
  Polkit: 2
} as const

/**
 * The `virErrorNumber` codes used here.
 *
 * @since 0.1.0
 * @category constants
 */
export const ErrorCode = {
  InternalError: 1,
  NoSupport: 3,
  OperationDenied: 29,
  Rpc: 39,
  AuthFailed: 45
} as const

/**
 * The `virErrorDomain` values used here.
 *
 * @since 0.1.0
 * @category constants
 */
export const ErrorDomain = {
  Rpc: 7,
  Uri: 45,
  Remote: 13,
  Domain: 20
} as const

/**
 * `virErrorLevel`.
 *
 * @since 0.1.0
 * @category constants
 */
export const ErrorLevel = {
  None: 0,
  Warning: 1,
  Error: 2
} as const

/**
 * `virConnectFlags` used in `remote_connect_open_args.flags`.
 *
 * @since 0.1.0
 * @category constants
 */
export const ConnectFlags = {
  ReadOnly: 1
} as const

/**
 * `REMOTE_AUTH_TYPE_LIST_MAX`.
 *
 * @since 0.1.0
 * @category constants
 */
export const AUTH_TYPE_LIST_MAX = 20

/**
 * `REMOTE_STRING_MAX`.
 *
 * @since 0.1.0
 * @category constants
 */
export const STRING_MAX = Xdr.STRING_MAX

/**
 * The header of a remote-program CALL: type CALL, status OK.
 *
 * @since 0.1.0
 * @category constructors
 */
export const callHeader = (proc: number, serial: number): Frame.Header => ({
  prog: REMOTE_PROGRAM,
  vers: REMOTE_VERSION,
  proc,
  type: Frame.MessageType.Call,
  serial,
  status: Frame.MessageStatus.Ok
})

/**
 * The header of a remote-program REPLY to the call with `serial`: status OK, or ERROR for a `remote_error` payload.
 *
 * @since 0.1.0
 * @category constructors
 */
export const replyHeader = (proc: number, serial: number, status: number = Frame.MessageStatus.Ok): Frame.Header => ({
  prog: REMOTE_PROGRAM,
  vers: REMOTE_VERSION,
  proc,
  type: Frame.MessageType.Reply,
  serial,
  status
})

// ---------------------------------------------------------------------------------------------------------------
// CONNECT_SUPPORTS_FEATURE
// ---------------------------------------------------------------------------------------------------------------

/**
 * `struct remote_connect_supports_feature_args { int feature; }`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SupportsFeatureArgs {
  readonly feature: number
}

/**
 * `struct remote_connect_supports_feature_ret { int supported; }`: 1 when supported, 0 when not.
 *
 * @since 0.1.0
 * @category models
 */
export interface SupportsFeatureRet {
  readonly supported: number
}

/**
 * Encodes `remote_connect_supports_feature_args`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeSupportsFeatureArgs = (args: SupportsFeatureArgs): Uint8Array => Xdr.encode((w) => w.int(args.feature), 4)

/**
 * Decodes `remote_connect_supports_feature_args`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeSupportsFeatureArgs = (bytes: Uint8Array, trailing: "refuse" | "ignore" = "refuse"): Result.Result<SupportsFeatureArgs, Xdr.XdrError> =>
  Xdr.decode(bytes, (r) => Result.map(r.int(), (feature) => ({ feature })), trailing)

/**
 * Encodes `remote_connect_supports_feature_ret`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeSupportsFeatureRet = (ret: SupportsFeatureRet): Uint8Array => Xdr.encode((w) => w.int(ret.supported), 4)

/**
 * Decodes `remote_connect_supports_feature_ret`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeSupportsFeatureRet = (bytes: Uint8Array): Result.Result<SupportsFeatureRet, Xdr.XdrError> =>
  Xdr.decode(bytes, (r) => Result.map(r.int(), (supported) => ({ supported })))

// ---------------------------------------------------------------------------------------------------------------
// CONNECT_OPEN
// ---------------------------------------------------------------------------------------------------------------

/**
 * `struct remote_connect_open_args { remote_string name; unsigned int flags; }`. An absent name asks the daemon for its
 * default URI.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectOpenArgs {
  readonly name: string | undefined
  readonly flags: number
}

/**
 * Encodes `remote_connect_open_args`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeConnectOpenArgs = (args: ConnectOpenArgs): Uint8Array => Xdr.encode((w) => w.optionalString(args.name).uint(args.flags))

/**
 * Decodes `remote_connect_open_args`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeConnectOpenArgs = (bytes: Uint8Array, trailing: "refuse" | "ignore" = "refuse"): Result.Result<ConnectOpenArgs, Xdr.XdrError> =>
  Xdr.decode(bytes, (r) =>
    Result.gen(function*() {
      const name = yield* r.optionalString()
      const flags = yield* r.uint()
      return { name, flags }
    }), trailing)

// RFC 3986's characters, as libxml2's URI parser (libvirt's virURIParse) accepts them; `%` only before two hex digits
const URI_CHARACTERS = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?#[\]]|%[0-9A-Fa-f]{2})*$/

/**
 * Whether libvirt can parse `name` as a URI (virURIParse): a connection name with a space, a byte that is not
 * ASCII, or a stray `%` is refused by libvirtd's CONNECT_OPEN with "Unable to parse URI".
 *
 * @since 0.2.0
 * @category validation
 */
export const isParseableUri = (name: string): boolean => URI_CHARACTERS.test(name)

// ---------------------------------------------------------------------------------------------------------------
// AUTH_LIST
// ---------------------------------------------------------------------------------------------------------------

/**
 * `struct remote_auth_list_ret { remote_auth_type types<REMOTE_AUTH_TYPE_LIST_MAX>; }`: see {@link AuthType}.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthListRet {
  readonly types: ReadonlyArray<number>
}

/**
 * Encodes `remote_auth_list_ret`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeAuthListRet = (ret: AuthListRet): Uint8Array => Xdr.encode((w) => w.intArray(ret.types))

/**
 * Decodes `remote_auth_list_ret`, refusing more than {@link AUTH_TYPE_LIST_MAX} types.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeAuthListRet = (bytes: Uint8Array): Result.Result<AuthListRet, Xdr.XdrError> =>
  Xdr.decode(bytes, (r) => Result.map(r.intArray(AUTH_TYPE_LIST_MAX), (types) => ({ types })))

// ---------------------------------------------------------------------------------------------------------------
// remote_error
// ---------------------------------------------------------------------------------------------------------------

/**
 * `struct remote_error`, without its `dom` and `net` members (never set for RPC-level errors; skipped on decode).
 *
 * @since 0.1.0
 * @category models
 */
export interface RemoteErrorPayload {
  readonly code: number
  readonly domain: number
  readonly message: string | undefined
  readonly level: number
  readonly str1: string | undefined
  readonly str2: string | undefined
  readonly str3: string | undefined
  readonly int1: number
  readonly int2: number
}

/**
 * The `remote_error` a daemon sends for an RPC-level failure: the given code, domain and message, level ERROR, the
 * rest empty.
 *
 * @since 0.1.0
 * @category constructors
 */
export const remoteError = (code: number, domain: number, message: string): RemoteErrorPayload => ({
  code,
  domain,
  message,
  level: ErrorLevel.Error,
  str1: undefined,
  str2: undefined,
  str3: undefined,
  int1: 0,
  int2: 0
})

// libvirt's message format per error code, as libvirtd 9.0 sends it in str1 (observed on the wire; other codes: "%s")
const ERROR_FORMATS: Readonly<Record<number, string>> = {
  [ErrorCode.InternalError]: "internal error: %s",
  [ErrorCode.NoSupport]: "this function is not supported by the connection driver: %s",
  [ErrorCode.OperationDenied]: "operation forbidden: %s",
  [ErrorCode.AuthFailed]: "authentication failed: %s"
}

/**
 * A `remote_error` as libvirtd fills it: `str1` is the code's message format, `str2` the detail, `message` the
 * two combined (e.g. "internal error: connection already open"), level ERROR, `int1` = `int2` = -1.
 *
 * @since 0.1.0
 * @category constructors
 */
export const libvirtError = (code: number, domain: number, detail: string): RemoteErrorPayload => {
  const format = ERROR_FORMATS[code] ?? "%s"
  return {
    code,
    domain,
    message: format.replace("%s", detail),
    level: ErrorLevel.Error,
    str1: format,
    str2: detail,
    str3: undefined,
    int1: -1,
    int2: -1
  }
}

// The procedure numbers below 444 that libvirtd 9.0 answers with "unknown procedure" (probed on the wire).
const UNKNOWN_BELOW_444 = new Set([
  107,
  169,
  170,
  171,
  172,
  173,
  195,
  224,
  241,
  248,
  268,
  269,
  270,
  276,
  292,
  311,
  315,
  318,
  319,
  320,
  321,
  322,
  323,
  324,
  325,
  326,
  327,
  328,
  329,
  330,
  331,
  332,
  333,
  339,
  346,
  348,
  354,
  359,
  362,
  363,
  367,
  370,
  373,
  376,
  377,
  379,
  382,
  383,
  385,
  423,
  438
])

/**
 * Whether libvirtd 9.0 knows a remote procedure as a call (1 to 443, less the numbers it calls unknown).
 *
 * @since 0.1.0
 * @category constants
 */
export const isKnownProcedure = (proc: number): boolean => proc >= 1 && proc <= 443 && !UNKNOWN_BELOW_444.has(proc)

/**
 * Encodes a `remote_error`, with the `dom` and `net` pointers absent.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeRemoteError = (e: RemoteErrorPayload): Uint8Array =>
  Xdr.encode((w) =>
    w.int(e.code)
      .int(e.domain)
      .optionalString(e.message)
      .int(e.level)
      .uint(0) // dom: absent
      .optionalString(e.str1)
      .optionalString(e.str2)
      .optionalString(e.str3)
      .int(e.int1)
      .int(e.int2)
      .uint(0) // net: absent
  )

/**
 * The one builder of a `remote_error` reply: a REPLY with status ERROR to the call with `request`'s procedure and
 * serial, carrying `error`. The program and version are the request's when it names them (a reply answers in the
 * caller's program), the remote program's otherwise.
 *
 * @since 0.2.0
 * @category constructors
 */
export const errorReply = (
  request: { readonly proc: number; readonly serial: number; readonly prog?: number; readonly vers?: number },
  error: RemoteErrorPayload
): Frame.Frame =>
  Frame.make({
    ...replyHeader(request.proc, request.serial, Frame.MessageStatus.Error),
    prog: request.prog ?? REMOTE_PROGRAM,
    vers: request.vers ?? REMOTE_VERSION
  }, encodeRemoteError(error))

const UUID_SIZE = 16

/** `remote_nonnull_domain { remote_nonnull_string name; remote_uuid uuid; int id; }`, read and dropped. */
const skipDomain = (r: Xdr.Reader): Result.Result<void, Xdr.XdrError> =>
  Result.gen(function*() {
    yield* r.string()
    yield* r.fixedOpaque(UUID_SIZE)
    yield* r.int()
  })

/** `remote_nonnull_network { remote_nonnull_string name; remote_uuid uuid; }`, read and dropped. */
const skipNetwork = (r: Xdr.Reader): Result.Result<void, Xdr.XdrError> =>
  Result.gen(function*() {
    yield* r.string()
    yield* r.fixedOpaque(UUID_SIZE)
  })

/**
 * Decodes a `remote_error`. A present `dom` (name, uuid, id) or `net` (name, uuid) is read and dropped.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeRemoteError = (bytes: Uint8Array): Result.Result<RemoteErrorPayload, Xdr.XdrError> =>
  Xdr.decode(bytes, (r) =>
    Result.gen(function*() {
      const code = yield* r.int()
      const domain = yield* r.int()
      const message = yield* r.optionalString()
      const level = yield* r.int()
      yield* r.optional(skipDomain)
      const str1 = yield* r.optionalString()
      const str2 = yield* r.optionalString()
      const str3 = yield* r.optionalString()
      const int1 = yield* r.int()
      const int2 = yield* r.int()
      yield* r.optional(skipNetwork)
      return { code, domain, message, level, str1, str2, str3, int1, int2 }
    }))

/**
 * A remote call answered with status ERROR. `text` is the server's message ("" when it sent none; named `text`
 * because an `Error`'s own `message` would hide the getter); `message` reads like libvirt's report, the text followed
 * by the code and domain.
 *
 * @since 0.1.0
 * @category errors
 */
export class RemoteCallError extends Data.TaggedError("RemoteCallError")<{
  readonly proc: number
  readonly code: number
  readonly domain: number
  readonly text: string
}> {
  override get message(): string {
    const text = this.text === "" ? "remote error without a message" : this.text
    return `${text} (code ${this.code}, domain ${this.domain})`
  }

  /**
   * The error for an ERROR reply to `proc`, from its decoded `remote_error` or from the raw payload. A payload that
   * does not decode becomes an RPC error saying so: the call failed either way.
   */
  static fromPayload(proc: number, payload: RemoteErrorPayload | Uint8Array): RemoteCallError {
    if (payload instanceof Uint8Array) {
      const decoded = decodeRemoteError(payload)
      if (Result.isFailure(decoded)) {
        return new RemoteCallError({
          proc,
          code: ErrorCode.Rpc,
          domain: ErrorDomain.Rpc,
          text: `Unable to decode the error reply: ${decoded.failure.message}`
        })
      }
      return RemoteCallError.fromPayload(proc, decoded.success)
    }
    return new RemoteCallError({ proc, code: payload.code, domain: payload.domain, text: payload.message ?? "" })
  }
}
