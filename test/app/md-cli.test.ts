/**
 * `pandanet md` as a user runs it: the compiled entry (`dist/app/cli.js`; build first with
 * `npx tsc -p tsconfig.build.json`) in a child process. It prints its address once ready, routes
 * a datagram between two raw participants, and exits 0 on SIGTERM; bad command lines exit 2.
 * Every child is killed when its test finishes, whatever happened.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { MODES, closedPort, waitFor } from '../helpers/net.js';
import { connectParticipant, ctl, hex, mdDg } from '../helpers/md.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(root, 'dist', 'app', 'cli.js');

function run(args: string[]): { child: ChildProcess; stdout(): string; stderr(): string; exited: Promise<number | string> } {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.build.json)`);
  const child = spawn(process.execPath, [CLI, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let done = false;
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve(code ?? signal ?? 'unknown');
    });
  });
  onTestFinished(() => {
    if (!done) child.kill('SIGKILL');
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

describe.each(MODES)('pandanet md ($name)', ({ threads }) => {
  it('prints its address when ready, routes, and exits 0 on SIGTERM', async () => {
    const r = run(['md', '--listen', '127.0.0.1:0', '--threads', String(threads), '--name', 'cli-test']);
    let port = 0;
    await waitFor(
      () => {
        const m = /^md listening on 127\.0\.0\.1:(\d+)$/m.exec(r.stdout());
        if (m !== null) port = Number(m[1]);
        return port > 0;
      },
      { what: () => `the address line (stdout: ${r.stdout()} stderr: ${r.stderr()})`, timeoutMs: 20_000 },
    );
    const a = await connectParticipant(port, 'a');
    const b = await connectParticipant(port, 'b');
    await b.send(ctl({ kind: 'addChannel', channel: 4000 }));
    // b's subscription is in before a's datagram only if the MD read it first: retry until delivered.
    const dg = mdDg([4000], 1, 2, [3]);
    for (let i = 0; i < 50 && b.count() === 0; i++) {
      await a.send(dg);
      await waitFor(() => b.count() > 0, { what: 'routed', timeoutMs: 200 }).catch(() => undefined);
    }
    expect(b.frames()[0]).toBe(hex(dg));
    r.child.kill('SIGTERM');
    expect(await r.exited).toBe(0);
    expect(r.stdout()).toMatch(/md cli-test stopped \(SIGTERM\)/);
  });

  it('bad command lines exit 2 with a clear message', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['md'], /--listen HOST:PORT is required/],
      [['md', '--listen', 'nowhere'], /--listen needs HOST:PORT/],
      [['md', '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:0'], /--upstream: port must be 1\.\.65535/],
      [['md', '--listen', '127.0.0.1:0', '--threads', String(threads), '--bogus'], /bogus/],
    ];
    for (const [args, msg] of cases) {
      const r = run(args);
      expect(await r.exited, args.join(' ')).toBe(2);
      expect(r.stderr()).toMatch(msg);
    }
    // An upstream that cannot be reached at start: exit 1 (Astron exits too).
    const r = run(['md', '--listen', '127.0.0.1:0', '--threads', String(threads), '--upstream', `127.0.0.1:${await closedPort()}`]);
    expect(await r.exited).toBe(1);
    expect(r.stderr()).toMatch(/could not connect to upstream/);
  });
});
