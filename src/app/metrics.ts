/**
 * Optional Prometheus text endpoint (`--metrics PORT`): a registry of its own (nothing global) from
 * `pandanet/metrics` (no dependency: it writes the text format itself), updated from each
 * {@link Sample} the live view gets, served on `GET /metrics` by a plain `node:http` server bound to
 * 127.0.0.1 unless told otherwise.
 *
 * The manager's figures are the library's {@link ManagerCollector} (per-thread counters labelled
 * `thread`); the game's own are added here. Process metrics (CPU, memory, event-loop delay) come from
 * {@link ProcessCollector}.
 *
 * Thread: main thread only.
 * @module
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Counter, type Gauge, ManagerCollector, MetricsRegistry, ProcessCollector, PROMETHEUS_CONTENT_TYPE } from '../metrics/index.js';
import type { Sample } from './sampler.js';

/** Registry and metrics; {@link update} copies a sample in. */
export class PandanetMetrics {
  readonly registry = new MetricsRegistry();
  readonly #manager: ManagerCollector;
  readonly #process: ProcessCollector | null;
  readonly #g: Record<string, Gauge> = {};
  readonly #c: Record<string, Counter> = {};

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const r = this.registry;
    this.#manager = new ManagerCollector(r);
    const gauge = (name: string, help: string): void => {
      this.#g[name] = r.gauge(name, help);
    };
    const counter = (name: string, help: string): void => {
      this.#c[name] = r.counter(name, help);
    };
    gauge('pandanet_game_clients', 'Clients in the game.');
    gauge('pandanet_main_thread_utilization', 'Event-loop utilisation of the main thread over the last interval (0..1).');
    counter('pandanet_game_ticks_total', 'Simulation ticks run.');
    gauge('pandanet_game_tick_seconds', 'Mean time spent in one tick over the last interval.');
    counter('pandanet_game_inputs_total', 'INPUT datagrams applied.');
    counter('pandanet_game_snapshots_sent_total', 'SNAPSHOT datagrams sent.');
    counter('pandanet_game_send_failures_total', 'Sends the writer refused.');
    gauge('pandanet_bots_connected', 'Bots connected (when this process runs the bots).');
    gauge('pandanet_bots_rtt_p50_seconds', "Bots' median network round trip over their last interval.");
    gauge('pandanet_bots_rtt_p99_seconds', "99th percentile of the bots' network round trip over their last interval.");
    this.#process = opts.defaultMetrics !== false ? new ProcessCollector(r) : null;
  }

  /** Copies `s` into the metrics. */
  update(s: Sample): void {
    const g = this.#g;
    const c = this.#c;
    this.#manager.update(s.manager);
    g['pandanet_game_clients']!.set({}, s.clients);
    g['pandanet_main_thread_utilization']!.set({}, s.mainUtilization);
    c['pandanet_game_ticks_total']!.set({}, s.loop.steps);
    g['pandanet_game_tick_seconds']!.set({}, s.tickMs / 1000);
    c['pandanet_game_inputs_total']!.set({}, s.game.inputs);
    c['pandanet_game_snapshots_sent_total']!.set({}, s.game.snapshotsSent);
    c['pandanet_game_send_failures_total']!.set({}, s.game.sendFailures);
    if (s.bots !== null) {
      g['pandanet_bots_connected']!.set({}, s.bots.connected);
      if (s.bots.rtt.count > 0) {
        g['pandanet_bots_rtt_p50_seconds']!.set({}, s.bots.rtt.p50 / 1000);
        g['pandanet_bots_rtt_p99_seconds']!.set({}, s.bots.rtt.p99 / 1000);
      }
    }
  }

  /** Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return Promise.resolve(this.registry.text());
  }

  /** Stops the process collector's event-loop monitor. */
  close(): void {
    this.#process?.close();
  }
}

/** The HTTP side: `GET /metrics`. */
export class MetricsServer {
  readonly metrics: PandanetMetrics;
  readonly #server: http.Server;
  #port = 0;

  private constructor(metrics: PandanetMetrics) {
    this.metrics = metrics;
    this.#server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('pandanet: metrics are at /metrics\n');
        return;
      }
      metrics.text().then(
        (body) => res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(req.method === 'HEAD' ? undefined : body),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`${String(err)}\n`),
      );
    });
  }

  /** Listens on `host:port` (port 0 picks one; see {@link port}). Rejects if it can't. */
  static async listen(metrics: PandanetMetrics, port: number, host = '127.0.0.1'): Promise<MetricsServer> {
    const s = new MetricsServer(metrics);
    await new Promise<void>((resolve, reject) => {
      s.#server.once('error', reject);
      s.#server.listen(port, host, () => {
        s.#server.off('error', reject);
        resolve();
      });
    });
    s.#port = (s.#server.address() as AddressInfo).port;
    return s;
  }

  /** The port it listens on. */
  get port(): number {
    return this.#port;
  }

  /** Stops listening and drops open connections. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
