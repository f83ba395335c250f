/**
 * A pcap file of one TCP conversation built from frames, for dissecting with tshark: raw IPv4 packets (link type
 * 101), client 127.0.0.1:40000 to server 127.0.0.1:16509 (the port Wireshark's libvirt dissector listens on), one
 * segment per frame with running sequence numbers. Checksums are left 0 (tshark does not verify them by default).
 */
import * as Frame from "../../src/wire/Frame.ts"

/** One frame and who sent it. */
export interface Segment {
  readonly fromClient: boolean
  readonly frame: Frame.Frame
}

const CLIENT_PORT = 40000
const SERVER_PORT = 16509
const LOCALHOST = [127, 0, 0, 1]

const globalHeader = (): Uint8Array => {
  const bytes = new Uint8Array(24)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, 0xa1b2c3d4, true)
  view.setUint16(4, 2, true)
  view.setUint16(6, 4, true)
  view.setUint32(16, 262144, true)
  view.setUint32(20, 101, true)
  return bytes
}

const packet = (index: number, fromClient: boolean, seq: number, ack: number, data: Uint8Array): Uint8Array => {
  const length = 40 + data.length
  const bytes = new Uint8Array(16 + length)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, index, true) // seconds: one packet a second
  view.setUint32(8, length, true)
  view.setUint32(12, length, true)
  const ip = 16
  bytes[ip] = 0x45
  view.setUint16(ip + 2, length)
  view.setUint16(ip + 4, index & 0xffff)
  bytes[ip + 8] = 64
  bytes[ip + 9] = 6
  bytes.set(LOCALHOST, ip + 12)
  bytes.set(LOCALHOST, ip + 16)
  const tcp = ip + 20
  view.setUint16(tcp, fromClient ? CLIENT_PORT : SERVER_PORT)
  view.setUint16(tcp + 2, fromClient ? SERVER_PORT : CLIENT_PORT)
  view.setUint32(tcp + 4, seq)
  view.setUint32(tcp + 8, ack)
  bytes[tcp + 12] = 5 << 4
  bytes[tcp + 13] = 0x18 // PSH, ACK
  view.setUint16(tcp + 14, 65535)
  bytes.set(data, tcp + 20)
  return bytes
}

/** The pcap bytes of `segments`, in order. */
export const pcap = (segments: ReadonlyArray<Segment>): Uint8Array => {
  const parts: Array<Uint8Array> = [globalHeader()]
  const next = { client: 1, server: 1 }
  segments.forEach((s, i) => {
    const data = Frame.encode(s.frame)
    parts.push(packet(i, s.fromClient, s.fromClient ? next.client : next.server, s.fromClient ? next.server : next.client, data))
    if (s.fromClient) next.client += data.length
    else next.server += data.length
  })
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
