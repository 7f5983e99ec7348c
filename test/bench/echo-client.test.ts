/**
 * The echo benchmark's cheap load generator (bench/native/echo-client.c, bench/lib/native-load.ts),
 * without timing: counts and choices only.
 *
 * - the load choice: `node` never builds; `auto` with no native build falls back to the Node client
 *   and says why; `native` with no build is an error, not a silent fallback;
 * - a build with no compiler reports that, whatever this machine has;
 * - where a C compiler is present: the client, built into a temporary folder, against a tiny
 *   `node:net` echo server on 127.0.0.1 port 0 (a warm-up pass and a measured pass, both complete,
 *   no mismatch, JSON as documented); the same driven like the orchestrator drives it
 *   (`NativeLoadClient`: ready / go / result / next); one corrupted byte → exactly one mismatch and
 *   exit 1; a server that closes early → the error names the connection. Where no compiler is
 *   present, the real build must fail with "no C compiler" and `auto` must pick the Node client.
 *
 * Every process and server is closed when its test finishes; every wait has a deadline.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, utimesSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildNativeClient, chooseLoad, findCompiler, NativeLoadClient, NativeRateClient, type NativeBuild, type NativeResultLine } from '../../bench/lib/native-load.js';
import type { ClientParams } from '../../bench/e2e/protocol.js';
import type { RateClientParams } from '../../bench/e2e/rate-client.js';

const SIZE = 64;

/** A node:net echo server on 127.0.0.1 port 0; `tamper` may change each chunk before it goes back. */
async function echoServer(tamper: (chunk: Buffer, sock: net.Socket) => Buffer | null = (c) => c): Promise<number> {
  const socks = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    socks.add(sock);
    sock.on('close', () => socks.delete(sock));
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk: Buffer) => {
      const out = tamper(chunk, sock);
      if (out !== null) sock.write(out);
    });
  });
  onTestFinished(() => {
    for (const s of socks) s.destroy();
    server.close();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, resolve);
  });
  return (server.address() as net.AddressInfo).port;
}

/** Runs the binary to its end (killed at `timeoutMs`); its stdout lines parsed, and its exit code. */
async function runClient(binary: string, args: string[], timeoutMs = 20_000): Promise<{ code: number | null; lines: NativeResultLine[]; stderr: string }> {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`echo-client did not finish within ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`));
    }, timeoutMs);
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  const lines = out
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as NativeResultLine);
  return { code, lines, stderr: err };
}

/** Builds the client into a fresh temporary folder (removed when the test finishes). */
function buildHere(): NativeBuild {
  const dir = mkdtempSync(path.join(tmpdir(), 'pandanet-echo-client-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return buildNativeClient({ outPath: path.join(dir, 'echo-client') });
}

describe('load choice', () => {
  it('--load node never builds the native client', () => {
    const c = chooseLoad('node', () => {
      throw new Error('must not build');
    });
    expect(c.load).toBe('node');
    expect(c.note).toMatch(/Node client/);
  });

  it('auto without a native build falls back to the Node client and says why', () => {
    const c = chooseLoad('auto', () => ({ ok: false, reason: 'no C compiler found (tried cc)' }));
    expect(c).toMatchObject({ load: 'node', requested: 'auto' });
    expect(c.binary).toBeUndefined();
    expect(c.note).toContain('FALLBACK');
    expect(c.note).toContain('no C compiler found (tried cc)');
  });

  it('--load native without a native build is an error naming the reason', () => {
    expect(() => chooseLoad('native', () => ({ ok: false, reason: 'no C compiler found (tried cc)' }))).toThrow(/--load native: no C compiler found/);
  });

  it('auto with a build picks the native client and names the binary', () => {
    const c = chooseLoad('auto', () => ({ ok: true, path: '/x/echo-client', compiler: 'cc', cached: false }));
    expect(c).toMatchObject({ load: 'native', binary: '/x/echo-client' });
    expect(c.note).toMatch(/native C client .*built now with cc -O2 at \/x\/echo-client/);
  });

  it('a build with no usable compiler fails with that reason (and writes nothing)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pandanet-echo-client-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const b = buildNativeClient({ outPath: path.join(dir, 'echo-client'), compilers: [path.join(dir, 'no-such-cc')] });
    expect(b.ok).toBe(false);
    expect(b.ok ? '' : b.reason).toMatch(/^no C compiler found \(tried .*no-such-cc\)$/);
  });
});

describe('native echo client', () => {
  const hasCompiler = findCompiler() !== null;

  it(hasCompiler ? 'builds and verifies every echo of a warm-up and a measured pass' : 'without a compiler, the build fails and auto falls back to the Node client', async () => {
    const b = buildHere();
    if (!hasCompiler) {
      expect(b.ok).toBe(false);
      expect(b.ok ? '' : b.reason).toMatch(/no C compiler found/);
      const c = chooseLoad('auto', () => b);
      expect(c.load).toBe('node');
      expect(c.note).toContain('FALLBACK');
      return;
    }
    expect(b).toMatchObject({ ok: true, cached: false });
    if (!b.ok) return;
    // Built once per process; and by source mtime: an up-to-date binary is kept, an older one rebuilt.
    expect(buildNativeClient({ outPath: b.path })).toMatchObject({ ok: true, cached: true });
    const cc = b.compiler;
    expect(buildNativeClient({ outPath: b.path, compilers: [cc] })).toMatchObject({ ok: true, cached: true });
    // An up-to-date binary needs no compiler; an older one does.
    expect(buildNativeClient({ outPath: b.path, compilers: ['/nonexistent/cc'] })).toMatchObject({ ok: true, cached: true });
    utimesSync(b.path, new Date(0), new Date(0));
    expect(buildNativeClient({ outPath: b.path, compilers: ['/nonexistent/cc'] })).toMatchObject({ ok: false });
    expect(buildNativeClient({ outPath: b.path, compilers: [cc] })).toMatchObject({ ok: true, cached: false });
    expect(statSync(b.path).mtimeMs).toBeGreaterThan(0);
    const port = await echoServer();
    const r = await runClient(b.path, ['--port', String(port), '--connections', '4', '--count', '300', '--window', '8', '--size', String(SIZE), '--warmup', '50', '--deadline-ms', '15000']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines.map((l) => l.pass)).toEqual(['warmup', 'measured']);
    expect(r.lines[0]).toMatchObject({ kind: 'result', connections: 4, datagrams: 200, expected: 200, mismatches: 0, errors: [], timedOut: false });
    expect(r.lines[1]).toMatchObject({ kind: 'result', connections: 4, datagrams: 1200, expected: 1200, mismatches: 0, errors: [], timedOut: false });
    for (const l of r.lines) {
      expect(Number.isFinite(l.elapsedMs) && l.elapsedMs >= 0).toBe(true);
      expect(Number.isFinite(l.cpuUs) && l.cpuUs >= 0).toBe(true);
      expect(l.cpuUs).toBeCloseTo(l.userUs + l.sysUs, 0);
    }
  });

  it(hasCompiler ? 'driven like the orchestrator drives it: ready, go, result, next, ready, go, result' : 'without a compiler, --load native is refused', async () => {
    const b = buildHere();
    if (!b.ok) {
      expect(hasCompiler).toBe(false);
      expect(() => chooseLoad('native', () => b)).toThrow(/--load native/);
      return;
    }
    const port = await echoServer();
    const params: ClientParams = { host: '127.0.0.1', port, connections: 3, perConnection: 100, inFlight: 4, payloadBytes: SIZE, clientThreads: 2, taskDeadlineMs: 15_000, warmupPerConnection: 20 };
    const client = new NativeLoadClient(b.path, params, 'test client');
    onTestFinished(() => client.kill());
    await client.next('ready', 10_000);
    client.send({ kind: 'go' });
    const warm = await client.next('result', 15_000);
    expect(warm).toMatchObject({ echoes: 60, expected: 60, mismatches: 0, errors: [] });
    client.send({ kind: 'next' });
    await client.next('ready', 10_000);
    client.send({ kind: 'go' });
    const res = await client.next('result', 15_000);
    expect(res).toMatchObject({ echoes: 300, expected: 300, mismatches: 0, errors: [] });
    expect(res.tasks).toHaveLength(1);
    expect(res.tasks[0]).toMatchObject({ connections: 3, echoes: 300, timedOut: false });
    expect(res.clientCpuUs).toBe(res.tasks[0]!.threadCpuUs);
  });

  it(hasCompiler ? 'counts exactly one mismatch for one corrupted byte, and exits 1' : 'without a compiler, the build reports it', async () => {
    const b = buildHere();
    if (!b.ok) {
      expect(b.reason).toMatch(/no C compiler found/);
      return;
    }
    let tampered = false;
    const port = await echoServer((chunk) => {
      if (!tampered && chunk.length >= 2 + SIZE) {
        tampered = true;
        const c = Buffer.from(chunk);
        c[2 + 40] = c[2 + 40]! ^ 0xff; // a fill byte of the first datagram in the chunk
        return c;
      }
      return chunk;
    });
    const r = await runClient(b.path, ['--port', String(port), '--connections', '2', '--count', '100', '--window', '4', '--size', String(SIZE), '--deadline-ms', '15000']);
    expect(r.code).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatchObject({ pass: 'measured', datagrams: 200, expected: 200, mismatches: 1, timedOut: false });
  });

  it(hasCompiler ? 'reports a connection the server closes early, by index and count' : 'without a compiler, auto still picks a load (the Node one)', async () => {
    const b = buildHere();
    if (!b.ok) {
      expect(chooseLoad('auto', () => b).load).toBe('node');
      return;
    }
    let seen = 0;
    const port = await echoServer((chunk, sock) => {
      seen += chunk.length;
      if (seen > 10 * (SIZE + 2)) {
        sock.destroy();
        return null;
      }
      return chunk;
    });
    const r = await runClient(b.path, ['--port', String(port), '--connections', '1', '--count', '1000', '--window', '2', '--size', String(SIZE), '--deadline-ms', '15000']);
    expect(r.code).toBe(1);
    expect(r.lines[0]!.datagrams).toBeLessThan(1000);
    expect(r.lines[0]!.errors.join(' ')).toMatch(/connection 0: (closed after \d+ echoes|Connection reset by peer|Broken pipe)/);
  });

  it(hasCompiler ? 'fixed-rate mode (--phases): a max phase and a rate phase, every echo back and timed' : 'without a compiler, the fixed-rate workloads fall back to the Node client too', async () => {
    const b = buildHere();
    if (!b.ok) {
      expect(chooseLoad('auto', () => b)).toMatchObject({ load: 'node' });
      return;
    }
    const port = await echoServer();
    const params: RateClientParams = { host: '127.0.0.1', port, connections: 3, clientThreads: 2, payloadBytes: SIZE };
    const client = new NativeRateClient(b.path, params, 'test rate client');
    onTestFinished(() => client.kill());
    await client.next('ready', 10_000);
    client.send({ kind: 'phase', mode: 'max', inFlight: 4, warmupMs: 20, measureMs: 100, drainMs: 3000 });
    const max = await client.next('phaseResult', 15_000);
    expect(max).toMatchObject({ mode: 'max', missing: 0, dropped: 0, mismatches: 0, latency: null });
    expect(max.sent).toBe(max.received);
    expect(max.measuredReceived).toBeGreaterThan(0);
    expect(max.measuredReceived).toBeLessThanOrEqual(max.received);
    // 2,000/s for 20 + 200 ms: every datagram due in the measured part is written, echoed and timed.
    client.send({ kind: 'phase', mode: 'rate', ratePerSec: 2000, warmupMs: 20, measureMs: 200, drainMs: 3000 });
    const rate = await client.next('phaseResult', 15_000);
    expect(rate).toMatchObject({ mode: 'rate', ratePerSec: 2000, missing: 0, dropped: 0, mismatches: 0 });
    expect(rate.sent).toBe(rate.received);
    expect(rate.sent).toBe(Math.floor(((20 + 200) * 2000) / 1000));
    expect(rate.latency?.count).toBe(rate.measuredReceived);
    expect(rate.service?.count).toBe(rate.measuredReceived);
    expect(rate.sendLag?.count).toBe(rate.measuredReceived);
    expect(rate.measuredReceived).toBeGreaterThanOrEqual(399);
    expect(rate.measuredReceived).toBeLessThanOrEqual(401);
    expect(rate.latency!.min).toBeLessThanOrEqual(rate.latency!.p50);
    expect(rate.latency!.p99).toBeLessThanOrEqual(rate.latency!.max);
    expect(rate.clientCpuUs).toBeGreaterThanOrEqual(0);
    client.send({ kind: 'end' });
    await client.exit(5000);
    expect(client.proc.exitCode).toBe(0);
  });
});
