/**
 * effect-keepalive: libvirt's keepalive protocol as a pure core with an Effect runtime.
 *
 * Layers, each knowing only the one below:
 * - wire: {@link Frame}, {@link FrameDecoder}, {@link Xdr}, {@link RemoteProtocol};
 * - core: {@link Keepalive} (one direction of keepalive as `step(state, input) → [state, commands]`);
 * - session: {@link Session} (one connection, either role, negotiation and server policy), with the
 *   negotiation designs in {@link ProtocolVariant};
 * - tools: {@link SessionPair} (two pure sessions in virtual time) and {@link Trace} (numbered arrows).
 *
 * @since 0.1.0
 */
export * as Frame from "./Frame.ts"
export * as FrameDecoder from "./FrameDecoder.ts"
export * as Keepalive from "./Keepalive.ts"
export * as ProtocolVariant from "./ProtocolVariant.ts"
export * as RemoteProtocol from "./RemoteProtocol.ts"
export * as Session from "./Session.ts"
export * as SessionPair from "./SessionPair.ts"
export * as Trace from "./Trace.ts"
export * as Xdr from "./Xdr.ts"
