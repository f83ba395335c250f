/**
 * effect-keepalive: libvirt's keepalive protocol as a pure core with an Effect runtime.
 *
 * Layers, each knowing only the one below:
 * - wire: {@link Frame}, {@link FrameDecoder}, {@link Xdr}, {@link RemoteProtocol};
 * - core: {@link Keepalive} (one direction of keepalive as `step(state, input) → [state, commands]`);
 * - session: {@link Session} (one connection, either role, negotiation and server policy), with the
 *   negotiation designs in {@link ProtocolVariant};
 * - runtime: {@link Connection} (the Effect drain loop), {@link Client}, {@link Server}, {@link ServerConfig},
 *   {@link Transport}, {@link Observability};
 * - tools: {@link SessionPair} (two pure sessions in virtual time), {@link Trace} and {@link Mermaid} (pictures),
 *   {@link Simulation} and {@link SimulatedLink} (the runtime in virtual time with faults), {@link ModelChecker}.
 *
 * @since 0.1.0
 */
export * as Client from "./Client.ts"
export * as Connection from "./Connection.ts"
export * as Frame from "./Frame.ts"
export * as FrameDecoder from "./FrameDecoder.ts"
export * as Keepalive from "./Keepalive.ts"
export * as Mermaid from "./Mermaid.ts"
export * as ModelChecker from "./ModelChecker.ts"
export * as Observability from "./Observability.ts"
export * as ProtocolVariant from "./ProtocolVariant.ts"
export * as RemoteProtocol from "./RemoteProtocol.ts"
export * as Server from "./Server.ts"
export * as ServerConfig from "./ServerConfig.ts"
export * as Session from "./Session.ts"
export * as SessionPair from "./SessionPair.ts"
export * as SimulatedLink from "./SimulatedLink.ts"
export * as Simulation from "./Simulation.ts"
export * as Trace from "./Trace.ts"
export * as Transport from "./Transport.ts"
export * as Xdr from "./Xdr.ts"
