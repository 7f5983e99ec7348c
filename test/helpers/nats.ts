/**
 * A real `nats-server` for the mesh tests (Debian's package, JetStream on): started on a free port of
 * 127.0.0.1 with its own storage directory, stopped (SIGTERM, then SIGKILL) and its directory removed
 * when the test finishes. `kill()` / `restart()` simulate NATS dying and coming back on the same port
 * and storage. Also: MD nodes on one NATS, a pandanet MD in a child process (for SIGKILL), and a raw
 * NATS client to watch subjects.
 *
 * Thread: main thread (vitest worker) only.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { MessageDirector, MessageDirectorOptions } from '../../src/index.js';
import type { MdNatsOptions } from '../../src/md/mesh.js';
import { DEFAULT_WAIT_MS, waitFor } from './net.js';

/** Where Debian installs it (overridable with NATS_SERVER). */
export const NATS_SERVER = process.env['NATS_SERVER'] ?? '/usr/sbin/nats-server';

/** A free TCP port on 127.0.0.1 (bound to port 0, read, closed). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A running nats-server. */
export interface NatsServer {
  port: number;
  url: string;
  /** SIGKILLs it (NATS dies); resolves once the process exited. */
  kill(): Promise<void>;
  /**
   * Starts it again on the same port and storage directory (JetStream as at start, unless
   * `jetStream` says otherwise); resolves once it accepts connections.
   */
  restart(opts?: { jetStream?: boolean }): Promise<void>;
}

function exited(p: ChildProcess): Promise<void> {
  return p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', () => r()));
}

/**
 * Starts `nats-server -js` (or, with `jetStream: false`, without JetStream) on a free port with a
 * fresh storage dir, with `args` added (auth, TLS); stopped when the test finishes.
 */
export async function startNats(opts: { jetStream?: boolean; args?: string[] } = {}): Promise<NatsServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pandanet-nats-'));
  const port = await freePort();
  let proc: ChildProcess | null = null;
  let log = '';
  const launch = async (jetStream = opts.jetStream ?? true): Promise<void> => {
    const p = spawn(NATS_SERVER, [...(jetStream ? ['-js'] : []), '-a', '127.0.0.1', '-p', String(port), '-sd', dir, ...(opts.args ?? [])], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc = p;
    log = '';
    let ready = false;
    p.stderr!.on('data', (b: Buffer) => {
      log = (log + b.toString()).slice(-4000);
      if (log.includes('Server is ready')) ready = true;
    });
    await waitFor(() => ready || p.exitCode !== null, { what: () => `nats-server on port ${port} ready (log: ${log.slice(-500)})`, timeoutMs: DEFAULT_WAIT_MS });
    // "Server is ready" comes after "Listening for client connections": the port accepts from here.
    if (!ready) throw new Error(`nats-server exited: ${log.slice(-1000)}`);
  };
  onTestFinished(async () => {
    const p = proc as ChildProcess | null;
    if (p !== null && p.exitCode === null && p.signalCode === null) {
      p.kill('SIGTERM');
      // Wait (with a deadline) for a clean exit; past it, SIGKILL.
      const clean = await waitFor(() => p.exitCode !== null || p.signalCode !== null, { what: 'nats-server to stop', timeoutMs: 2000 }).then(
        () => true,
        () => false,
      );
      if (!clean) p.kill('SIGKILL');
      await exited(p);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  await launch();
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    async kill() {
      const p = proc as ChildProcess | null;
      if (p === null) return;
      p.kill('SIGKILL');
      await exited(p);
    },
    restart: (o) => launch(o?.jetStream ?? opts.jetStream ?? true),
  };
}

/** An MD node of the mesh on 127.0.0.1:0, stopped when the test finishes. */
export async function startMeshMd(
  threads: number,
  nats: NatsServer,
  extra: Partial<MdNatsOptions> = {},
  options: MessageDirectorOptions = {},
): Promise<{ md: MessageDirector; port: number }> {
  // Imported here, not at the top: tests that only run `pandanet md` child processes (the
  // independent Astron-client check) load none of pandanet's code.
  const { MessageDirector } = await import('../../src/index.js');
  const md = new MessageDirector({ host: '127.0.0.1', port: 0, threads, ...options, nats: { servers: nats.url, deadAfterMs: 1000, ...extra } });
  onTestFinished(() => md.stop());
  const { port } = await md.start();
  return { md, port };
}

/** A raw NATS client (closed when the test finishes). */
export async function natsClient(nats: NatsServer): Promise<NatsConnection> {
  const nc = await connect({ servers: nats.url });
  onTestFinished(() => nc.close());
  return nc;
}

/** `pandanet md` in a child process (built CLI in dist/), for SIGKILL; killed when the test finishes. */
export async function spawnMd(args: string[]): Promise<{ proc: ChildProcess; port: number; output: () => string }> {
  const cli = path.resolve(import.meta.dirname, '../../dist/app/cli.js');
  const proc = spawn(process.execPath, [cli, 'md', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-8000)));
  onTestFinished(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited(proc);
    }
  });
  let port = 0;
  await waitFor(
    () => {
      const m = /md listening on [^\s]+:(\d+)/.exec(out);
      if (m !== null) port = Number(m[1]);
      return port > 0 || proc.exitCode !== null;
    },
    { what: () => `child md ready (output: ${out.slice(-500)})`, timeoutMs: 15_000 },
  );
  if (port === 0) throw new Error(`child md exited: ${out.slice(-1000)}`);
  return { proc, port, output: () => out };
}

/** Resolves when `proc` exited. */
export const processExited = exited;
