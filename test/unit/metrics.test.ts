/**
 * `pandanet/metrics`: the registry's text exposition format, its conventions (typed errors when a
 * metric breaks them), the manager collector's mapping of `getStats()`, and the process collector.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { ErrorCode, InvalidArgumentError, type ManagerStats } from '../../src/index.js';
import { ManagerCollector, MetricsRegistry, ProcessCollector, PROMETHEUS_CONTENT_TYPE } from '../../src/metrics/index.js';

function thread(index: number, over: Partial<ManagerStats['threads'][number]> = {}): ManagerStats['threads'][number] {
  return {
    index, alive: true, connections: 3, datagramsIn: 10, bytesIn: 100, datagramsOut: 20, bytesOut: 200, accepts: 2, wsHandshakeFailures: 1, resets: 1,
    backpressurePauses: 4, quotaPauses: 1, tcpWrites: 7, tcpReads: 5, outboundSleeps: 6, outboundMissedWakes: 0, udpDropped: 0, utilization: 0.25, ...over,
  };
}

describe('MetricsRegistry', () => {
  it('writes HELP, TYPE and one line per label set, escaping help and label values', () => {
    const r = new MetricsRegistry();
    const c = r.counter('x_requests_total', 'Requests\nserved \\ counted.', ['path']);
    const g = r.gauge('x_temperature', 'Degrees.');
    c.inc({ path: 'a"b\\c\nd' });
    c.inc({ path: 'a"b\\c\nd' }, 2);
    c.set({ path: '/' }, 10);
    g.set({}, -1.5);
    expect(r.text()).toBe(
      [
        '# HELP x_requests_total Requests\\nserved \\\\ counted.',
        '# TYPE x_requests_total counter',
        'x_requests_total{path="a\\"b\\\\c\\nd"} 3',
        'x_requests_total{path="/"} 10',
        '# HELP x_temperature Degrees.',
        '# TYPE x_temperature gauge',
        'x_temperature -1.5',
        '',
      ].join('\n'),
    );
    expect(PROMETHEUS_CONTENT_TYPE).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('writes 0 for an unlabelled metric never set, nothing for a labelled one, and NaN/±Inf as Prometheus spells them', () => {
    const r = new MetricsRegistry();
    r.counter('a_total', 'a');
    r.gauge('b', 'b', ['k']);
    const g = r.gauge('c', 'c', ['k']);
    g.set({ k: 1 }, NaN);
    g.set({ k: 2 }, Infinity);
    g.set({ k: 3 }, -Infinity);
    const lines = r.text().split('\n').filter((l) => !l.startsWith('#'));
    expect(lines).toEqual(['a_total 0', 'c{k="1"} NaN', 'c{k="2"} +Inf', 'c{k="3"} -Inf', '']);
  });

  it.each<[string, (r: MetricsRegistry) => unknown]>([
    ['a counter not ending in _total', (r) => r.counter('x_requests', 'h')],
    ['a gauge ending in _total', (r) => r.gauge('x_total', 'h')],
    ['a quantile label on a gauge', (r) => r.gauge('x_seconds', 'h', ['quantile'])],
    ['an le label on a counter', (r) => r.counter('x_total', 'h', ['le'])],
    ['a bad metric name', (r) => r.gauge('1x', 'h')],
    ['a bad label name', (r) => r.gauge('x', 'h', ['a-b'])],
    ['a reserved label name', (r) => r.gauge('x', 'h', ['__name'])],
    ['a label given twice', (r) => r.gauge('x', 'h', ['a', 'a'])],
    ['a name registered twice', (r) => (r.gauge('x', 'h'), r.gauge('x', 'h'))],
    ['missing labels', (r) => r.gauge('x', 'h', ['a', 'b']).set({ a: 1 }, 1)],
    ['other labels', (r) => r.gauge('x', 'h', ['a']).set({ b: 1 }, 1)],
    ['labels on an unlabelled metric', (r) => r.gauge('x', 'h').set({ a: 1 }, 1)],
    ['a negative increment', (r) => r.counter('x_total', 'h').inc({}, -1)],
    ['a NaN counter total', (r) => r.counter('x_total', 'h').set({}, NaN)],
  ])('refuses %s with InvalidArgumentError', (_what, f) => {
    const r = new MetricsRegistry();
    let err: unknown;
    try {
      f(r);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).code).toBe(ErrorCode.INVALID_ARGUMENT);
  });
});

describe('ManagerCollector', () => {
  it('maps getStats() to counters and gauges with thread, reader and writer labels, read at each scrape', () => {
    const r = new MetricsRegistry();
    let stats: ManagerStats = {
      threads: [thread(0), thread(1, { alive: false, tcpReads: 9 })],
      connections: 4,
      resetsReported: 2,
      readers: [{ id: 1, polled: false, queued: 3, maxQueue: 100, overflow: true, dropped: 8 }],
      writers: [{ slot: 1, threads: 2, queued: 5, maxQueue: 50 }],
    };
    new ManagerCollector(r, () => stats);
    const text = r.text();
    for (const line of [
      'pandanet_connections 4',
      'pandanet_resets_total 2',
      'pandanet_tcp_reads_total{thread="0"} 5',
      'pandanet_tcp_reads_total{thread="1"} 9',
      'pandanet_datagrams_received_total{thread="0"} 10',
      'pandanet_udp_dropped_total{thread="1"} 0',
      'pandanet_io_thread_alive{thread="1"} 0',
      'pandanet_io_thread_utilization{thread="0"} 0.25',
      'pandanet_reader_queue_depth{reader="1"} 3',
      'pandanet_reader_overflow{reader="1"} 1',
      'pandanet_reader_dropped_total{reader="1"} 8',
      'pandanet_writer_queue_depth{writer="1"} 5',
      'pandanet_writer_queue_capacity{writer="1"} 50',
    ]) expect(text.split('\n')).toContain(line);
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) expect(name!.endsWith('_total'), `${name} is a ${type}`).toBe(type === 'counter');

    stats = { ...stats, threads: [thread(0, { tcpReads: 6 })], readers: [] };
    const next = r.text().split('\n');
    expect(next).toContain('pandanet_tcp_reads_total{thread="0"} 6');
    expect(next.some((l) => l.startsWith('pandanet_tcp_reads_total{thread="1"}'))).toBe(false); // gone with its thread
    expect(next.some((l) => l.startsWith('pandanet_reader_queue_depth{'))).toBe(false); // the closed reader's series went
  });

  it('takes a prefix, and can be fed by hand', () => {
    const r = new MetricsRegistry();
    const c = new ManagerCollector(r, undefined, { prefix: 'game' });
    c.update({ threads: [], connections: 1, resetsReported: 0, readers: [], writers: [] });
    expect(r.text()).toMatch(/^game_connections 1$/m);
  });
});

describe('ProcessCollector', () => {
  it('reports CPU time, memory and event-loop delay under the conventional names', () => {
    const r = new MetricsRegistry();
    const p = new ProcessCollector(r);
    onTestFinished(() => p.close());
    const text = r.text();
    const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(value('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(value('process_start_time_seconds')).toBeGreaterThan(1_600_000_000);
    expect(value('nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) expect(name!.endsWith('_total'), `${name} is a ${type}`).toBe(type === 'counter');
  });
});
