/**
 * The process's metrics served for Prometheus over HTTP: the one module of the runtime that loads effect's HTTP
 * server (and Node's), so that a process that never serves metrics never loads it.
 *
 * Contract:
 * - {@link layer} listens on `host:port` and answers `GET /metrics` with the metrics of the `MetricRegistry` in
 *   scope, in Prometheus' text format (effect's `PrometheusMetrics`), for as long as the layer lives; it logs
 *   neither its start nor its requests. A port of 0 picks a free one.
 * - `Observability.layerPrometheus` loads this module when its layer is built.
 *
 * @since 0.2.0
 */
import * as Http from "node:http"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerError from "effect/http/HttpServerError"
import * as Layer from "effect/Layer"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"

/**
 * Serves the metrics at `http://host:port/metrics` for as long as the layer lives.
 *
 * @since 0.2.0
 * @category exporters
 */
export const layer = (where: { readonly host: string; readonly port: number }): Layer.Layer<never, HttpServerError.ServeError> =>
  HttpRouter.serve(PrometheusMetrics.layerHttp(), { disableListenLog: true, disableLogger: true }).pipe(
    Layer.provide(NodeHttpServer.layer(() => Http.createServer(), where))
  )
