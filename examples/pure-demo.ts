/**
 * The first half of `npm start`: the two flows of the 2011 design email, and a dead peer, played by two pure
 * sessions in virtual time and printed as the email's numbered arrows. It finishes by itself.
 */
import * as Session from "../src/Session.ts"
import * as SessionPair from "../src/SessionPair.ts"
import * as Trace from "../src/Trace.ts"

const LATENCY = 2 // ms each way

console.log("=== In virtual time: two pure sessions, no sockets, no clock (2 ms latency each way)")

const scenario = (title: string, explanation: string, options: SessionPair.Options): void => {
  const outcome = SessionPair.run(options)
  console.log(`\n=== ${title}`)
  console.log(explanation)
  console.log(Trace.arrows(outcome.trace))
}

const open: SessionPair.Action = { at: 0, side: "client", input: (now) => Session.Input.Open(now, "test:///default") }

scenario(
  "Flow a: client -> server pings",
  "The client calls setKeepAlive(1000 ms, 3); the server's policy is `disabled`, so it only answers.",
  {
    client: Session.client(0),
    server: Session.server(0, { interval: 5000, count: 5, policy: "disabled" }),
    toServer: LATENCY,
    toClient: LATENCY,
    actions: [open, { at: 100, side: "client", input: (now) => Session.Input.SetKeepAlive(now, 1000, 3) }],
    until: 3200
  }
)

scenario(
  "Flow b: server -> client pings",
  "The client advertised keepalive while opening and never calls setKeepAlive; the server's policy is\n" +
    "`if-supported` with interval 2000 ms, count 2, so it pings after 2 s of silence.",
  {
    client: Session.client(0),
    server: Session.server(0, { interval: 2000, count: 2, policy: "if-supported" }),
    toServer: LATENCY,
    toClient: LATENCY,
    actions: [open],
    until: 6100
  }
)

scenario(
  "Dead peer: the client freezes",
  "As in flow b, but the client freezes at 5 s: its socket stays open and it answers nothing. The server\n" +
    "sends its 2 PINGs and declares the client dead (C+1)·I = 6 s after the last frame it received.",
  {
    client: Session.client(0),
    server: Session.server(0, { interval: 2000, count: 2, policy: "if-supported" }),
    toServer: LATENCY,
    toClient: LATENCY,
    actions: [open, { at: 5000, side: "client", freeze: true }],
    until: 20_000
  }
)

scenario(
  "Policy `required`: a client that does not advertise is refused",
  "The client skips SUPPORTS_FEATURE(KEEPALIVE) (libvirt's client does so without an event loop).",
  {
    client: Session.client(0, { advertise: false }),
    server: Session.server(0, { interval: 2000, count: 2, policy: "required" }),
    toServer: LATENCY,
    toClient: LATENCY,
    actions: [open],
    until: 1000
  }
)
