/**
 * A program started with main-entry-only flags (`node --input-type=commonjs -e …`, as `node -e`
 * one-liners and some process managers do) must get working I/O threads: worker threads inherit the
 * parent's `execArgv` and refuse `--input-type`, so before the fix every threaded open blocked for its
 * whole 10 s bound and failed with WORKER_TIMEOUT.
 *
 * Each case runs in a child process (the flags belong to a process), with a deadline.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { MODES } from '../helpers/net.js';

const INDEX = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

/** The child: opens a rendezvous, connects to it, sends one datagram through and prints what it read. */
function program(threads: number): string {
  return `
const p = require(${JSON.stringify(INDEX)});
const m = new p.QueuedConnectionManager();
const listener = new p.QueuedConnectionListener(m, ${threads});
const reader = new p.QueuedConnectionReader(m, ${threads});
const writer = new p.ConnectionWriter(m, ${threads});
const r = m.openTCPServerRendezvous('127.0.0.1', 0, 10);
listener.addConnection(r);
const client = m.openTCPClientConnection('127.0.0.1', r.getLocalAddress().getPort(), 5000);
const d = new p.Datagram(); d.addString('through');
writer.send(d, client);
const deadline = Date.now() + 10000;
const tick = () => {
  if (listener.newConnectionAvailable()) {
    const rv = new p.PointerToConnection();
    if (listener.getNewConnection(rv)) reader.addConnection(rv.p());
  }
  if (reader.dataAvailable()) {
    const nd = new p.NetDatagram();
    if (reader.getData(nd)) {
      console.log('read ' + new p.DatagramIterator(nd).getString());
      m.shutdown();
      return;
    }
  }
  if (Date.now() > deadline) { console.log('deadline'); m.shutdown(); process.exitCode = 2; return; }
  setImmediate(tick);
};
tick();
`;
}

interface Outcome {
  code: number | null;
  out: string;
}

function run(args: string[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not exit within 30 s; output so far:\n${out}`));
    }, 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe.each(MODES)('main-entry-only flags ($name)', ({ threads }) => {
  it('node --input-type=commonjs -e: the I/O threads start and a datagram goes through', async () => {
    const { code, out } = await run(['--input-type=commonjs', '-e', program(threads)]);
    expect(out).toContain('read through');
    expect(out).not.toContain('WORKER_TIMEOUT');
    expect(code).toBe(0);
  }, 40_000);
});
