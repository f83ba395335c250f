/**
 * The two keepalive negotiation designs of the 2011 libvir-list discussion, as data.
 *
 * Contract:
 * - {@link libvirt} is the revised design (seed 001) as libvirt shipped it, and the default everywhere: the client
 *   advertises by asking `CONNECT_SUPPORTS_FEATURE(PROGRAM_KEEPALIVE)` while it opens the connection, and that
 *   query is what allows the server to ping.
 * - {@link draft} is the earlier design (seed 000): opening asks nothing; the application later calls
 *   AllowKeepAlive, which asks the feature and then sends a keepalive ADVERTISE message; only ADVERTISE allows
 *   the server to ping. StartKeepAlive then plays the part of setKeepAlive.
 * - The session reads only these flags, so the two designs differ in exactly the ways listed here and can be
 *   compared side by side by tests and by the verifier.
 *
 * The draft's ADVERTISE uses keepalive procedure 3 (`Frame.KeepaliveProc.Advertise`), after PING = 1 and
 * PONG = 2, so PING and PONG stay byte-identical between the variants. A libvirt peer treats it as an unknown
 * keepalive procedure and ignores it.
 *
 * @since 0.1.0
 */

/**
 * A negotiation design.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProtocolVariant {
  readonly name: "libvirt" | "draft"
  /** The client asks SUPPORTS_FEATURE(PROGRAM_KEEPALIVE) between AUTH_LIST and CONNECT_OPEN. */
  readonly queryFeatureAtOpen: boolean
  /** The server takes SUPPORTS_FEATURE(PROGRAM_KEEPALIVE) as the client's advertisement. */
  readonly featureQueryAdvertises: boolean
  /** The ADVERTISE procedure exists: the client sends it from AllowKeepAlive and the server takes it as the advertisement. */
  readonly advertiseMessage: boolean
}

/**
 * Seed 001 as libvirt shipped it (the default).
 *
 * @since 0.1.0
 * @category variants
 */
export const libvirt: ProtocolVariant = {
  name: "libvirt",
  queryFeatureAtOpen: true,
  featureQueryAdvertises: true,
  advertiseMessage: false
}

/**
 * The seed 000 draft: AllowKeepAlive sends ADVERTISE after the connection is open.
 *
 * @since 0.1.0
 * @category variants
 */
export const draft: ProtocolVariant = {
  name: "draft",
  queryFeatureAtOpen: false,
  featureQueryAdvertises: false,
  advertiseMessage: true
}
