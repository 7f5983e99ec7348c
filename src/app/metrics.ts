/**
 * Optional Prometheus text endpoint (`--metrics PORT`): a prom-client registry of its own (nothing
 * global), updated from each {@link Sample} the live view gets, served on `GET /metrics` by a plain
 * `node:http` server bound to 127.0.0.1 unless told otherwise.
 *
 * Counters are fed the increase since the previous sample (never negative: a restarted I/O thread's
 * counters start over, the exported ones do not). Process metrics (CPU, memory, event-loop lag, GC)
 * come from prom-client's default collectors.
 *
 * Thread: main thread only.
 * @module
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Sample } from './sampler.js';

/** Registry and metrics; {@link update} copies a sample in. */
export class PandanetMetrics {
  readonly registry = new Registry();
  readonly #last = new Map<string, number>();
  readonly #g: Record<string, Gauge> = {};
  readonly #c: Record<string, Counter> = {};

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const r = this.registry;
    const gauge = (name: string, help: string, labelNames: string[] = []): void => {
      this.#g[name] = new Gauge({ name, help, labelNames, registers: [r] });
    };
    const counter = (name: string, help: string, labelNames: string[] = []): void => {
      this.#c[name] = new Counter({ name, help, labelNames, registers: [r] });
    };
    gauge('pandanet_connections', 'Open connections known to the manager (clients and the listening socket).');
    gauge('pandanet_game_clients', 'Clients in the game.');
    counter('pandanet_datagrams_received_total', 'Datagrams received by the I/O threads.');
    counter('pandanet_datagrams_sent_total', 'Datagrams sent by the I/O threads.');
    counter('pandanet_received_bytes_total', 'Payload bytes received by the I/O threads.');
    counter('pandanet_sent_bytes_total', 'Payload bytes sent by the I/O threads.');
    counter('pandanet_resets_total', 'Connections reported reset (peer closed, error, failed send).');
    counter('pandanet_backpressure_pauses_total', 'Times an I/O thread paused reading a socket: its reader ring was full, or its connection had maxQueuedPerConnection datagrams waiting.');
    counter('pandanet_tcp_reads_total', 'Socket reads the I/O threads took (each may carry many datagrams).');
    counter('pandanet_tcp_writes_total', 'TCP writes the I/O threads issued (each carries one connection\'s batch).');
    counter('pandanet_outbound_sleeps_total', 'Times an I/O thread\'s outbound loop went to sleep (a later send must wake it).');
    gauge('pandanet_reader_queue_depth', 'Datagrams waiting in a reader.', ['reader']);
    gauge('pandanet_reader_queue_capacity', "A reader's queue cap.", ['reader']);
    gauge('pandanet_reader_overflow', "1 when a reader's sticky overflow flag is set.", ['reader']);
    gauge('pandanet_reader_dropped', 'Datagrams a reader dropped for its queue cap since it was made.', ['reader']);
    gauge('pandanet_writer_queue_depth', 'Datagrams handed to the I/O threads and not yet taken.', ['writer']);
    gauge('pandanet_writer_queue_capacity', "A writer's queue cap.", ['writer']);
    gauge('pandanet_io_thread_utilization', 'Event-loop utilisation of an I/O thread over the last interval (0..1).', ['thread']);
    gauge('pandanet_io_thread_sockets', 'Sockets an I/O thread owns.', ['thread']);
    gauge('pandanet_io_thread_alive', '1 while the I/O thread runs.', ['thread']);
    gauge('pandanet_main_thread_utilization', 'Event-loop utilisation of the main thread over the last interval (0..1).');
    counter('pandanet_game_ticks_total', 'Simulation ticks run.');
    gauge('pandanet_game_tick_seconds', 'Mean time spent in one tick over the last interval.');
    counter('pandanet_game_inputs_total', 'INPUT datagrams applied.');
    counter('pandanet_game_snapshots_sent_total', 'SNAPSHOT datagrams sent.');
    counter('pandanet_game_send_failures_total', 'Sends the writer refused.');
    gauge('pandanet_bots_connected', 'Bots connected (when this process runs the bots).');
    gauge('pandanet_bots_rtt_seconds', "Bots' network round trip over their last interval.", ['quantile']);
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: r });
  }

  /** Copies `s` into the metrics. */
  update(s: Sample): void {
    const g = this.#g;
    g['pandanet_connections']!.set(s.connections);
    g['pandanet_game_clients']!.set(s.clients);
    this.#inc('pandanet_datagrams_received_total', s.datagramsIn);
    this.#inc('pandanet_datagrams_sent_total', s.datagramsOut);
    this.#inc('pandanet_received_bytes_total', s.bytesIn);
    this.#inc('pandanet_sent_bytes_total', s.bytesOut);
    this.#inc('pandanet_resets_total', s.resets);
    this.#inc('pandanet_backpressure_pauses_total', s.backpressurePauses);
    this.#inc('pandanet_tcp_writes_total', s.tcpWrites);
    this.#inc('pandanet_tcp_reads_total', s.tcpReads);
    this.#inc('pandanet_outbound_sleeps_total', s.outboundSleeps);
    for (const r of s.readers) {
      const l = { reader: String(r.id) };
      g['pandanet_reader_queue_depth']!.set(l, r.queued);
      g['pandanet_reader_queue_capacity']!.set(l, r.maxQueue);
      g['pandanet_reader_overflow']!.set(l, r.overflow ? 1 : 0);
      g['pandanet_reader_dropped']!.set(l, r.dropped);
    }
    for (const w of s.writers) {
      const l = { writer: String(w.slot) };
      g['pandanet_writer_queue_depth']!.set(l, w.queued);
      g['pandanet_writer_queue_capacity']!.set(l, w.maxQueue);
    }
    for (const t of s.threads) {
      const l = { thread: String(t.index) };
      g['pandanet_io_thread_utilization']!.set(l, t.utilization);
      g['pandanet_io_thread_sockets']!.set(l, t.connections);
      g['pandanet_io_thread_alive']!.set(l, t.alive ? 1 : 0);
    }
    g['pandanet_main_thread_utilization']!.set(s.mainUtilization);
    this.#inc('pandanet_game_ticks_total', s.loop.steps);
    g['pandanet_game_tick_seconds']!.set(s.tickMs / 1000);
    this.#inc('pandanet_game_inputs_total', s.game.inputs);
    this.#inc('pandanet_game_snapshots_sent_total', s.game.snapshotsSent);
    this.#inc('pandanet_game_send_failures_total', s.game.sendFailures);
    if (s.bots !== null) {
      g['pandanet_bots_connected']!.set(s.bots.connected);
      if (s.bots.rtt.count > 0) {
        g['pandanet_bots_rtt_seconds']!.set({ quantile: '0.5' }, s.bots.rtt.p50 / 1000);
        g['pandanet_bots_rtt_seconds']!.set({ quantile: '0.99' }, s.bots.rtt.p99 / 1000);
      }
    }
  }

  /** Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Adds the increase of a running total since the last update. */
  #inc(name: string, total: number): void {
    const last = this.#last.get(name) ?? 0;
    if (total > last) this.#c[name]!.inc(total - last);
    this.#last.set(name, Math.max(last, total));
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
        (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(req.method === 'HEAD' ? undefined : body),
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
