/**
 * The `scale` workload's client: a separate process that opens `connections` idle TCP connections
 * (at most `concurrency` connects in flight; bounded by `timeoutMs`), says how many it has, and
 * holds them — sending nothing — until told to exit.
 *
 * Thread: main thread of the scale-client process.
 * @module
 */
import net from 'node:net';
import { paramsFromArgv } from './protocol.js';

export interface ScaleClientParams {
  host: string;
  port: number;
  connections: number;
  concurrency: number;
  timeoutMs: number;
}

export type ScaleClientCommand = { kind: 'exit' };
export type ScaleClientMessage = { kind: 'connected'; connections: number; failed: number; ms: number; firstError: string | null } | { kind: 'error'; message: string };

const p = paramsFromArgv<ScaleClientParams>();
const socks: net.Socket[] = [];
let failed = 0;
let firstError: string | null = null;

function one(): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ host: p.host, port: p.port });
    s.once('connect', () => {
      s.removeAllListeners('error');
      s.on('error', () => {});
      socks.push(s);
      resolve();
    });
    s.once('error', (err) => {
      failed++;
      firstError ??= err.message;
      resolve();
    });
  });
}

async function main(): Promise<void> {
  const t0 = performance.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < p.connections && performance.now() - t0 < p.timeoutMs) {
      next++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: Math.min(p.concurrency, p.connections) }, lane));
  process.send?.({ kind: 'connected', connections: socks.length, failed, ms: performance.now() - t0, firstError } satisfies ScaleClientMessage);
  process.on('message', (m: ScaleClientCommand) => {
    if (m.kind === 'exit') {
      for (const s of socks) s.destroy();
      process.disconnect?.();
      setTimeout(() => process.exit(0), 100).unref();
    }
  });
}

main().catch((err: unknown) => {
  process.send?.({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies ScaleClientMessage);
  setTimeout(() => process.exit(1), 100).unref();
});
