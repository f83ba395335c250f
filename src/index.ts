/**
 * effect-keepalive: libvirt's keepalive protocol as a pure core with an Effect runtime.
 *
 * Layers, each knowing only the one below:
 * - wire: {@link Frame}, {@link FrameDecoder}, {@link Xdr} and {@link XdrSchema} (codecs declared once),
 *   {@link RemoteProtocol}, {@link Procedures} (libvirt's remote calls and events, typed), {@link ForeignProtocol}
 *   (naming a peer that speaks something else);
 * - core: {@link Keepalive} (one direction of keepalive as `step(state, input) → [state, commands]`);
 * - session: {@link Session} (one connection, either role, negotiation and server policy), with the
 *   negotiation designs in {@link ProtocolVariant};
 * - runtime: {@link Connection} (one fiber per connection), {@link Scheduler} (one timer for all),
 *   {@link Policing}, {@link Client} (its open bounded by {@link OpenTimeout}), {@link Server}, {@link ServerConfig},
 *   {@link ClientConfig} and {@link LibvirtConf} (configuration), {@link Libvirt} (typed calls and events as Streams),
 *   {@link Transport}, {@link Observability}; libvirt URIs ({@link Uri}) and connecting by URI over tcp, unix, TLS,
 *   ssh and ext ({@link Dial}), our server over TLS ({@link TlsServer});
 * - tools: {@link SessionPair} (two pure sessions in virtual time), {@link Trace} and {@link Mermaid} (pictures),
 *   {@link Simulation} and {@link SimulatedLink} (the runtime in virtual time with faults), {@link ModelChecker},
 *   {@link Probe} (`keepalive probe`: ping for libvirtd), {@link Proxy} (`keepalive proxy`: our policy in front of a
 *   libvirtd).
 *
 * @since 0.1.0
 */
export * as Client from "./runtime/Client.ts"
export * as ClientConfig from "./runtime/ClientConfig.ts"
export * as Connection from "./runtime/Connection.ts"
export * as Dial from "./runtime/Dial.ts"
export * as ForeignProtocol from "./wire/ForeignProtocol.ts"
export * as Frame from "./wire/Frame.ts"
export * as FrameDecoder from "./wire/FrameDecoder.ts"
export * as Keepalive from "./core/Keepalive.ts"
export * as Libvirt from "./runtime/Libvirt.ts"
export * as LibvirtConf from "./runtime/LibvirtConf.ts"
export * as Mermaid from "./tools/Mermaid.ts"
export * as ModelChecker from "./verify/ModelChecker.ts"
export * as Observability from "./runtime/Observability.ts"
export * as OpenTimeout from "./runtime/OpenTimeout.ts"
export * as Policing from "./runtime/Policing.ts"
export * as Probe from "./tools/Probe.ts"
export * as Proxy from "./tools/Proxy.ts"
export * as Procedures from "./wire/Procedures.ts"
export * as ProtocolVariant from "./session/ProtocolVariant.ts"
export * as RemoteProtocol from "./wire/RemoteProtocol.ts"
export * as Scheduler from "./runtime/Scheduler.ts"
export * as Server from "./runtime/Server.ts"
export * as ServerConfig from "./runtime/ServerConfig.ts"
export * as Session from "./session/Session.ts"
export * as SessionPair from "./verify/SessionPair.ts"
export * as SimulatedLink from "./simulation/SimulatedLink.ts"
export * as Simulation from "./simulation/Simulation.ts"
export * as TlsServer from "./runtime/TlsServer.ts"
export * as Trace from "./trace/Trace.ts"
export * as Transport from "./runtime/Transport.ts"
export * as Uri from "./runtime/Uri.ts"
export * as Xdr from "./wire/Xdr.ts"
export * as XdrSchema from "./wire/XdrSchema.ts"
