/**
 * The floor of the benchmarks: libvirt's keepalive written by hand on plain `node:net` and `setTimeout`, with
 * nothing else. libvirt's 28-byte PING/PONG frames; any whole frame received restarts the countdown; a PING gets a
 * PONG; PINGs at I, 2I, …, C·I after the last receipt and death at (C+1)·I; one timer per connection, re-armed
 * lazily (a receipt does not touch it: when it fires it finds the new deadline and sleeps for the rest).
 */
import type * as net from "node:net"
import * as Frame from "../../src/wire/Frame.ts"

const KEEP = 0x6b656570
const PING = Buffer.from(Frame.PING_BYTES)
const PONG = Buffer.from(Frame.PONG_BYTES)

export interface FloorOptions {
  /** ms; ≤ 0: never pings, never declares death, still answers. */
  readonly interval: number
  readonly count: number
  /** Called once when the peer is declared dead, with the silence (ms) since the last receipt. */
  readonly onDead?: (silence: number) => void
  readonly onClose?: () => void
}

/** Frames counted over every connection of the process. */
export const floorTraffic = { pingsSent: 0, pongsSent: 0 }

export class FloorKeepalive {
  private pending: Buffer | undefined
  lastReceived = performance.now()
  private pingsSent = 0
  private timer: NodeJS.Timeout | undefined
  private readonly socket: net.Socket
  private readonly options: FloorOptions

  constructor(socket: net.Socket, options: FloorOptions) {
    this.socket = socket
    this.options = options
    socket.setNoDelay(true)
    socket.on("data", (chunk: Buffer) => this.receive(chunk))
    socket.on("error", () => {})
    socket.on("close", () => {
      if (this.timer !== undefined) clearTimeout(this.timer)
      this.timer = undefined
      options.onClose?.()
    })
    if (options.interval > 0) this.arm(options.interval)
  }

  private arm(delay: number) {
    this.timer = setTimeout(() => this.check(), Math.max(0, Math.ceil(delay)))
  }

  /** Whole frames only; any frame restarts the countdown, a keepalive PING gets a PONG. */
  private receive(chunk: Buffer) {
    let buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk])
    let frames = 0
    while (buf.length >= 4) {
      const length = buf.readUInt32BE(0)
      if (length < 28) {
        this.socket.destroy()
        return
      }
      if (buf.length < length) break
      frames++
      if (buf.readUInt32BE(4) === KEEP && buf.readUInt32BE(12) === 1 && buf.readUInt32BE(16) === 2) {
        this.socket.write(PONG)
        floorTraffic.pongsSent++
      }
      buf = buf.subarray(length)
    }
    this.pending = buf.length > 0 ? buf : undefined
    if (frames > 0) {
      this.lastReceived = performance.now()
      this.pingsSent = 0
    }
  }

  private check() {
    this.timer = undefined
    const { interval, count } = this.options
    const now = performance.now()
    const due = this.lastReceived + (this.pingsSent + 1) * interval
    if (now < due) return this.arm(due - now)
    if (this.pingsSent >= count) {
      this.options.onDead?.(now - this.lastReceived)
      this.socket.destroy()
      return
    }
    this.pingsSent++
    floorTraffic.pingsSent++
    this.socket.write(PING)
    this.arm(this.lastReceived + (this.pingsSent + 1) * interval - now)
  }
}
