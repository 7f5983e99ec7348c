/**
 * `pandanet/metrics`: Prometheus metrics for a pandanet server, with no dependency. A
 * {@link MetricsRegistry} holds counters and gauges and writes the Prometheus text exposition format
 * (version 0.0.4) itself; {@link ManagerCollector} turns a manager's `getStats()` into metrics;
 * {@link ProcessCollector} adds the process's CPU, memory and event-loop delay.
 *
 * ```ts
 * import http from 'node:http';
 * import { ManagerCollector, MetricsRegistry, ProcessCollector, PROMETHEUS_CONTENT_TYPE } from 'pandanet/metrics';
 *
 * const registry = new MetricsRegistry();
 * new ManagerCollector(registry, () => manager.getStats()); // read at each scrape
 * new ProcessCollector(registry);
 * http.createServer((req, res) => res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(registry.text())).listen(9100, '127.0.0.1');
 * ```
 *
 * Conventions, checked when a metric is made ({@link InvalidArgumentError} otherwise): a counter's
 * name ends in `_total` and a gauge's does not; label names are fixed per metric and every sample
 * carries all of them; `quantile` and `le` (summary and histogram labels) are refused; a metric name
 * is registered once.
 *
 * Thread: the thread that made the registry (normally the main thread); nothing here is shared.
 * @module
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { InvalidArgumentError } from '../errors.js';
import type { ManagerStats } from '../index.js';

/** The `content-type` of {@link MetricsRegistry.text}'s output. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Label values of one sample, by label name. */
export type MetricLabels = Readonly<Record<string, string | number>>;

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const RESERVED_LABELS = new Set(['quantile', 'le']);

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

const escapeHelp = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeLabel = (s: string): string => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** What counters and gauges share: a name, a help text, fixed label names, and one value per label set. */
abstract class Metric {
  /** `counter` or `gauge`, as written on the `# TYPE` line. */
  abstract readonly type: 'counter' | 'gauge';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly #values = new Map<string, number>();

  constructor(name: string, help: string, labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.labelNames = [...labelNames];
  }

  /** Forgets every label set (a closed reader's series then disappears from the output). */
  clear(): void {
    this.#values.clear();
  }

  /** The value of a label set, undefined if never set. */
  get(labels: MetricLabels = {}): number | undefined {
    return this.#values.get(this.#key(labels));
  }

  protected put(labels: MetricLabels, value: number): void {
    this.#values.set(this.#key(labels), value);
  }

  protected current(labels: MetricLabels): number {
    return this.#values.get(this.#key(labels)) ?? 0;
  }

  /** The metric's lines of the exposition format. */
  lines(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`);
    if (this.labelNames.length === 0 && this.#values.size === 0) out.push(`${this.name} 0`);
    for (const [key, v] of this.#values) out.push(`${this.name}${key} ${formatValue(v)}`);
  }

  /** `{a="1",b="x"}` in the declared label order; checks that exactly the declared labels are given. */
  #key(labels: MetricLabels): string {
    const given = Object.keys(labels);
    if (given.length !== this.labelNames.length || !this.labelNames.every((l) => Object.hasOwn(labels, l))) {
      throw new InvalidArgumentError(`metric ${this.name} takes the labels [${this.labelNames.join(', ')}], got [${given.join(', ')}]`);
    }
    if (this.labelNames.length === 0) return '';
    return `{${this.labelNames.map((l) => `${l}="${escapeLabel(String(labels[l]))}"`).join(',')}}`;
  }
}

/** A value that only goes up (or starts over at 0 when its source restarts). Thread: the registry's. */
export class Counter extends Metric {
  readonly type = 'counter';

  /** Adds `by` (a finite number ≥ 0, default 1) to the label set's value. */
  inc(labels: MetricLabels = {}, by = 1): void {
    if (!Number.isFinite(by) || by < 0) throw new InvalidArgumentError(`counter ${this.name}: increment must be a finite number >= 0, got ${by}`);
    this.put(labels, this.current(labels) + by);
  }

  /**
   * Mirrors a running total kept elsewhere (an I/O thread's counter, `process.cpuUsage()`): a finite
   * number ≥ 0. A smaller value than before reads, to Prometheus, as a restart of the counter.
   */
  set(labels: MetricLabels, total: number): void {
    if (!Number.isFinite(total) || total < 0) throw new InvalidArgumentError(`counter ${this.name}: total must be a finite number >= 0, got ${total}`);
    this.put(labels, total);
  }
}

/** A value that goes up and down. Thread: the registry's. */
export class Gauge extends Metric {
  readonly type = 'gauge';

  /** Sets the label set's value (any number, NaN and ±Infinity included). */
  set(labels: MetricLabels, value: number): void {
    if (typeof value !== 'number') throw new InvalidArgumentError(`gauge ${this.name}: value must be a number, got ${typeof value}`);
    this.put(labels, value);
  }
}

/** Counters and gauges, written out in the Prometheus text format. Thread: the one that made it. */
export class MetricsRegistry {
  readonly #metrics = new Map<string, Metric>();
  readonly #hooks: Array<() => void> = [];

  /** A new counter. `name` must end in `_total`. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    if (!name.endsWith('_total')) throw new InvalidArgumentError(`counter ${name}: a counter's name ends in _total`);
    return this.#add(new Counter(name, help, labelNames));
  }

  /** A new gauge. `name` must not end in `_total`. */
  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    if (name.endsWith('_total')) throw new InvalidArgumentError(`gauge ${name}: only a counter's name ends in _total`);
    return this.#add(new Gauge(name, help, labelNames));
  }

  /** The metric registered as `name`, if any. */
  get(name: string): Counter | Gauge | undefined {
    return this.#metrics.get(name) as Counter | Gauge | undefined;
  }

  /** Runs `hook` at the start of every {@link text} (a collector reads its source there). */
  onCollect(hook: () => void): void {
    this.#hooks.push(hook);
  }

  /** Runs the collect hooks, then writes every metric in the text exposition format 0.0.4. */
  text(): string {
    for (const h of this.#hooks) h();
    const out: string[] = [];
    for (const m of this.#metrics.values()) m.lines(out);
    return out.length === 0 ? '' : `${out.join('\n')}\n`;
  }

  #add<M extends Metric>(m: M): M {
    if (!NAME.test(m.name)) throw new InvalidArgumentError(`metric name ${JSON.stringify(m.name)} is not a Prometheus name ([a-zA-Z_:][a-zA-Z0-9_:]*)`);
    if (this.#metrics.has(m.name)) throw new InvalidArgumentError(`metric ${m.name} is already registered`);
    const seen = new Set<string>();
    for (const l of m.labelNames) {
      if (!LABEL.test(l) || l.startsWith('__')) throw new InvalidArgumentError(`metric ${m.name}: ${JSON.stringify(l)} is not a label name`);
      if (RESERVED_LABELS.has(l)) throw new InvalidArgumentError(`metric ${m.name}: the label ${l} belongs to summaries and histograms, not to a ${m.type}`);
      if (seen.has(l)) throw new InvalidArgumentError(`metric ${m.name}: label ${l} given twice`);
      seen.add(l);
    }
    this.#metrics.set(m.name, m);
    return m;
  }
}

/** Options of {@link ManagerCollector}. */
export interface ManagerCollectorOptions {
  /** Prefix of every metric name (default `pandanet`). */
  prefix?: string;
}

/** The numeric fields of a thread's stats that are counters. */
type ThreadCounterField = 'datagramsIn' | 'datagramsOut' | 'bytesIn' | 'bytesOut' | 'accepts' | 'wsHandshakeFailures' | 'resets' | 'backpressurePauses' | 'quotaPauses' | 'tcpReads' | 'tcpWrites' | 'outboundSleeps' | 'outboundMissedWakes' | 'udpDropped';

/** The I/O threads' counters: metric name (after the prefix), the `ThreadStats` field, the help text. */
const THREAD_COUNTERS: ReadonlyArray<readonly [name: string, field: ThreadCounterField, help: string]> = [
  ['datagrams_received_total', 'datagramsIn', 'Datagrams an I/O thread received.'],
  ['datagrams_sent_total', 'datagramsOut', 'Datagrams an I/O thread sent.'],
  ['received_bytes_total', 'bytesIn', 'Payload bytes an I/O thread received.'],
  ['sent_bytes_total', 'bytesOut', 'Payload bytes an I/O thread sent.'],
  ['accepts_total', 'accepts', 'Sockets an I/O thread accepted (TCP and WebSocket, handshake completed or not).'],
  ['websocket_handshake_failures_total', 'wsHandshakeFailures', 'Accepted WebSocket sockets that never became a connection (refused or failed handshake, or its timeout).'],
  ['thread_resets_total', 'resets', 'Connections an I/O thread saw reset.'],
  ['backpressure_pauses_total', 'backpressurePauses', "Times an I/O thread paused reading a socket: its reader ring was full, or its connection had maxQueuedPerConnection datagrams waiting."],
  ['quota_pauses_total', 'quotaPauses', 'Of the backpressure pauses, those for the per-connection quota (NetConfig.maxQueuedPerConnection).'],
  ['tcp_reads_total', 'tcpReads', 'Socket reads an I/O thread took (each may carry many datagrams).'],
  ['tcp_writes_total', 'tcpWrites', "TCP writes an I/O thread issued (each carries one connection's batch)."],
  ['outbound_sleeps_total', 'outboundSleeps', "Times an I/O thread's outbound loop went to sleep (a later send must wake it)."],
  ['outbound_missed_wakes_total', 'outboundMissedWakes', "Idle sleeps of an I/O thread's outbound loop that ran out their time with a send waiting (a missed wake-up; 0 when healthy)."],
  ['udp_dropped_total', 'udpDropped', 'UDP packets an I/O thread dropped (bad checksum, too short, no room, failed send).'],
];

/**
 * A manager's `getStats()` as metrics. Each label carries the identifier `getStats()` reports:
 * `thread` an I/O thread's index, `reader` a reader's id, `writer` a writer's slot. Per-thread
 * counters are the thread's own (a replaced thread's start over at 0, which Prometheus reads as a
 * counter restart); sum them over `thread` for the manager's totals.
 *
 * `getStats()` restarts the threads' utilisation window at each call: give the collector the
 * function it should read at each scrape, or, where something else reads the stats already, feed it
 * with {@link update}. Thread: main thread only.
 */
export class ManagerCollector {
  readonly #c: Record<string, Counter> = {};
  readonly #g: Record<string, Gauge> = {};

  constructor(registry: MetricsRegistry, source?: () => ManagerStats, options: ManagerCollectorOptions = {}) {
    const p = options.prefix ?? 'pandanet';
    const c = (name: string, help: string, labels: string[] = []): void => {
      this.#c[name] = registry.counter(`${p}_${name}`, help, labels);
    };
    const g = (name: string, help: string, labels: string[] = []): void => {
      this.#g[name] = registry.gauge(`${p}_${name}`, help, labels);
    };
    const t = ['thread'];
    g('connections', 'Open connections known to the manager (rendezvous and UDP included).');
    c('resets_total', 'Connections the manager reported reset (peer closed, error, failed send).');
    for (const [name, , help] of THREAD_COUNTERS) c(name, help, t);
    g('io_thread_alive', '1 while the I/O thread runs.', t);
    g('io_thread_sockets', 'Sockets an I/O thread owns.', t);
    g('io_thread_utilization', 'Event-loop utilisation of an I/O thread since the previous getStats() (0..1).', t);
    g('reader_queue_depth', 'Datagrams waiting in a reader.', ['reader']);
    g('reader_queue_capacity', "A reader's queue cap.", ['reader']);
    g('reader_overflow', "1 when a reader's sticky overflow flag is set.", ['reader']);
    c('reader_dropped_total', 'Datagrams a reader dropped for its queue cap since it was made.', ['reader']);
    g('writer_queue_depth', 'Datagrams handed to the I/O threads and not yet taken.', ['writer']);
    g('writer_queue_capacity', "A writer's queue cap.", ['writer']);
    if (source !== undefined) registry.onCollect(() => this.update(source()));
  }

  /** Copies `stats` into the metrics (series of closed readers and writers disappear). */
  update(stats: ManagerStats): void {
    const c = this.#c;
    const g = this.#g;
    for (const m of [...Object.values(c), ...Object.values(g)]) if (m.labelNames.length > 0) m.clear();
    g['connections']!.set({}, stats.connections);
    c['resets_total']!.set({}, stats.resetsReported);
    for (const th of stats.threads) {
      const l = { thread: th.index };
      for (const [name, field] of THREAD_COUNTERS) c[name]!.set(l, th[field]);
      g['io_thread_alive']!.set(l, th.alive ? 1 : 0);
      g['io_thread_sockets']!.set(l, th.connections);
      g['io_thread_utilization']!.set(l, th.utilization);
    }
    for (const r of stats.readers) {
      const l = { reader: r.id };
      g['reader_queue_depth']!.set(l, r.queued);
      g['reader_queue_capacity']!.set(l, r.maxQueue);
      g['reader_overflow']!.set(l, r.overflow ? 1 : 0);
      c['reader_dropped_total']!.set(l, r.dropped);
    }
    for (const w of stats.writers) {
      const l = { writer: w.slot };
      g['writer_queue_depth']!.set(l, w.queued);
      g['writer_queue_capacity']!.set(l, w.maxQueue);
    }
  }
}

/**
 * The process's CPU time, memory and event-loop delay (the names prom-client's default metrics use,
 * a subset of them). The delay comes from `perf_hooks.monitorEventLoopDelay()`, reset at each
 * scrape: its percentiles cover the time since the previous one. Call {@link close} to stop the
 * monitor. Thread: any thread, for its own event loop.
 */
export class ProcessCollector {
  readonly #delay: IntervalHistogram;

  constructor(registry: MetricsRegistry) {
    const user = registry.counter('process_cpu_user_seconds_total', 'User CPU time spent, s.');
    const system = registry.counter('process_cpu_system_seconds_total', 'System CPU time spent, s.');
    const cpu = registry.counter('process_cpu_seconds_total', 'User and system CPU time spent, s.');
    const start = registry.gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch, s.');
    const rss = registry.gauge('process_resident_memory_bytes', 'Resident memory size, bytes.');
    const heapTotal = registry.gauge('nodejs_heap_size_total_bytes', 'V8 heap size, bytes.');
    const heapUsed = registry.gauge('nodejs_heap_size_used_bytes', 'V8 heap used, bytes.');
    const external = registry.gauge('nodejs_external_memory_bytes', 'Memory of C++ objects bound to JavaScript objects, bytes.');
    const p50 = registry.gauge('nodejs_eventloop_lag_p50_seconds', 'Median event-loop delay since the previous scrape, s.');
    const p99 = registry.gauge('nodejs_eventloop_lag_p99_seconds', '99th percentile of the event-loop delay since the previous scrape, s.');
    const max = registry.gauge('nodejs_eventloop_lag_max_seconds', 'Longest event-loop delay since the previous scrape, s.');
    const startS = Math.round(Date.now() / 1000 - process.uptime());
    this.#delay = monitorEventLoopDelay({ resolution: 10 });
    this.#delay.enable();
    registry.onCollect(() => {
      const u = process.cpuUsage();
      user.set({}, u.user / 1e6);
      system.set({}, u.system / 1e6);
      cpu.set({}, (u.user + u.system) / 1e6);
      start.set({}, startS);
      const m = process.memoryUsage();
      rss.set({}, m.rss);
      heapTotal.set({}, m.heapTotal);
      heapUsed.set({}, m.heapUsed);
      external.set({}, m.external);
      const d = this.#delay;
      const has = d.count > 0;
      p50.set({}, has ? d.percentile(50) / 1e9 : 0);
      p99.set({}, has ? d.percentile(99) / 1e9 : 0);
      max.set({}, has ? d.max / 1e9 : 0);
      d.reset();
    });
  }

  /** Stops the event-loop delay monitor (the metrics then stay at 0). */
  close(): void {
    this.#delay.disable();
  }
}
