/**
 * A client's calls: those sent and not answered yet, by serial, and those waiting for a slot, in the callers'
 * order.
 *
 * Contract:
 * - At most `maxInFlight` calls are unanswered at once; a call goes out at once only when a slot is free and none
 *   waits before it ({@link CallTable.mayStart}). At most `maxQueued` wait; one more is refused with
 *   `TooManyCalls`.
 * - {@link CallTable.settle} answers a sent call from its reply frame (libvirt's error status fails it with the
 *   error it carries) and frees its slot; a caller that stops waiting leaves the queue ({@link CallTable.drop}),
 *   while a call already sent keeps its slot until its reply.
 * - {@link CallTable.failAll} ends every call, sent or waiting, with the connection's end.
 *
 * @since 0.3.0
 */
import * as Deferred from "effect/Deferred"
import * as Exit from "effect/Exit"
import * as Frame from "../wire/Frame.ts"
import * as Remote from "../wire/RemoteProtocol.ts"
import * as Errors from "./ConnectionError.ts"

/**
 * Where a caller waits for its reply.
 *
 * @since 0.3.0
 * @category models
 */
export type Reply = Deferred.Deferred<Frame.Frame, any>

/**
 * A call waiting for a slot.
 *
 * @since 0.3.0
 * @category models
 */
export interface QueuedCall {
  readonly proc: number
  readonly payload: Uint8Array | undefined
  readonly reply: Reply
}

/** A reply to one of our calls: the frame, or libvirt's error. */
const replyExit = (frame: Frame.Frame): Exit.Exit<Frame.Frame, Remote.RemoteCallError> =>
  frame.header.status === Frame.MessageStatus.Error
    ? Exit.fail(Remote.RemoteCallError.fromPayload(frame.header.proc, frame.payload))
    : Exit.succeed(frame)

/**
 * A client's call table.
 *
 * @since 0.3.0
 * @category models
 */
export class CallTable {
  /** Sent and unanswered, by serial. */
  readonly sent = new Map<number, Reply>()
  /** Waiting for a slot, in the callers' order. */
  readonly queued: Array<QueuedCall> = []
  readonly maxInFlight: number
  readonly maxQueued: number

  constructor(maxInFlight: number, maxQueued: number) {
    this.maxInFlight = maxInFlight
    this.maxQueued = maxQueued
  }

  /** A new call may go out now: a slot is free and nobody waits before it. */
  mayStart(): boolean {
    return this.queued.length === 0 && this.sent.size < this.maxInFlight
  }

  /** Queues a call for a slot, or refuses it when the queue is full. */
  enqueue(call: QueuedCall): Errors.TooManyCalls | undefined {
    if (this.queued.length >= this.maxQueued) return new Errors.TooManyCalls({ inFlight: this.sent.size, queued: this.queued.length })
    this.queued.push(call)
    return undefined
  }

  /** The next waiting call, when a slot is free. */
  next(): QueuedCall | undefined {
    return this.queued.length > 0 && this.sent.size < this.maxInFlight ? this.queued.shift() : undefined
  }

  /** A call went out with `serial`. */
  started(serial: number, reply: Reply) {
    this.sent.set(serial, reply)
  }

  /** Answers the call a reply frame is for; false when it is for none of ours. */
  settle(frame: Frame.Frame): boolean {
    const h = frame.header
    const reply = h.type === Frame.MessageType.Reply ? this.sent.get(h.serial) : undefined
    if (reply === undefined) return false
    this.sent.delete(h.serial)
    Deferred.doneUnsafe(reply, replyExit(frame))
    return true
  }

  /** A caller that stopped waiting gives up its place in the queue. */
  drop(reply: Reply) {
    const i = this.queued.findIndex((q) => q.reply === reply)
    if (i >= 0) this.queued.splice(i, 1)
  }

  /** Ends every call with `exit`. */
  failAll(exit: Exit.Exit<never, unknown>) {
    for (const reply of this.sent.values()) Deferred.doneUnsafe(reply, exit)
    for (const q of this.queued) Deferred.doneUnsafe(q.reply, exit)
    this.sent.clear()
    this.queued.length = 0
  }
}
