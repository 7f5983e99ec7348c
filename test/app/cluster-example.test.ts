/**
 * `examples/cluster/run.mjs` as a user runs it (after the build: the example imports 'pandanet',
 * i.e. `dist/`): one embedded message director, two zone servers, a gateway and 8 bots for 3 s. It
 * exits 0 by itself; every bot connected and was placed by a zone; bots were handed over between the
 * zones; their post-removes emptied the zones when they left. The child is killed when the test ends,
 * whatever happened; the wait for its exit is bounded.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { MODES } from '../helpers/net.js';
import { startNats } from '../helpers/nats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const EXAMPLE = path.join(root, 'examples', 'cluster', 'run.mjs');
/** The run is 3 s plus start and stop; this bounds it on a loaded 2-core box. */
const DEADLINE_MS = 20_000;

function runExample(args: string[]): Promise<{ code: number | string; stdout: string; stderr: string }> {
  if (!existsSync(path.join(root, 'dist', 'index.js'))) throw new Error('dist/ is missing: build first (npx tsc -p tsconfig.build.json)');
  const child = spawn(process.execPath, [EXAMPLE, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let exited = false;
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  onTestFinished(() => {
    if (!exited) child.kill('SIGKILL');
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the example did not exit within ${DEADLINE_MS} ms (stdout: ${stdout} stderr: ${stderr})`)), DEADLINE_MS);
    child.once('exit', (code, signal) => {
      exited = true;
      clearTimeout(timer);
      // 'exit' can come before the pipes are drained: wait for both to close.
      let open = 2;
      const done = (): void => {
        if (--open === 0) resolve({ code: code ?? signal ?? 'unknown', stdout, stderr });
      };
      if (child.stdout.readableEnded) done();
      else child.stdout.once('close', done);
      if (child.stderr.readableEnded) done();
      else child.stderr.once('close', done);
    });
  });
}

describe.each(MODES)('examples/cluster/run.mjs ($name)', ({ threads }) => {
  it(
    'runs zones, a gateway and 8 bots for 3 s: all connected, hand-overs between the zones, exit 0',
    async () => {
      const r = await runExample(['--bots', '8', '--seconds', '3', '--threads', String(threads)]);
      const why = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
      expect(r.code, why).toBe(0);
      expect(r.stdout, why).toMatch(/^cluster: 1 message director \(embedded\)/m);
      expect(r.stdout, why).toMatch(/^t=1\.\ds {2}zone A \d+ bots \| zone B \d+ bots \| hand-overs \d+ \| datagrams routed [\d,]+$/m);
      const m = /^summary: (\d+)\/8 bots connected, (\d+) greeted by the gateway, (\d+) placed by a zone; hand-overs (\d+) \(A→B (\d+), B→A (\d+)\); post-removes: (\d+) goodbyes for (\d+) avatars, (\d+) left behind/m.exec(r.stdout);
      expect(m, why).not.toBeNull();
      const [connected, greeted, placed, handovers, , , goodbyes, avatars, left] = m!.slice(1).map(Number);
      expect([connected, greeted, placed], why).toEqual([8, 8, 8]);
      expect(handovers, why).toBeGreaterThanOrEqual(1);
      // Every avatar in a zone at the end was removed by its post-remove (one in mid-hand-over then
      // is in neither zone, and its goodbye wins the race: the zones ignore a late hand-over).
      expect(avatars, why).toBeGreaterThan(0);
      expect(goodbyes, why).toBe(avatars);
      expect(left, why).toBe(0);
    },
    DEADLINE_MS + 5000,
  );
});

describe.each(MODES)('examples/cluster/run.mjs --nats: two director nodes joined through a real nats-server ($name)', ({ threads }) => {
  it(
    'zone A and the gateway on one node, zone B on the other: hand-overs cross NATS, exit 0',
    async () => {
      const nats = await startNats();
      const r = await runExample(['--bots', '8', '--seconds', '3', '--threads', String(threads), '--nats', nats.url]);
      const why = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
      expect(r.code, why).toBe(0);
      expect(r.stdout, why).toMatch(/^cluster: 2 director nodes .* joined through NATS /m);
      const m = /^summary: (\d+)\/8 bots connected, (\d+) greeted by the gateway, (\d+) placed by a zone; hand-overs (\d+) .*cross-node ([\d,]+)/m.exec(r.stdout);
      expect(m, why).not.toBeNull();
      const [connected, greeted, placed, handovers] = m!.slice(1, 5).map(Number);
      expect([connected, greeted, placed], why).toEqual([8, 8, 8]);
      expect(handovers, why).toBeGreaterThanOrEqual(1);
      expect(Number(m![5]!.replace(/,/g, '')), why).toBeGreaterThan(0);
    },
    DEADLINE_MS + 10_000,
  );
});

describe('examples/cluster/run.mjs command line', () => {
  it('a bad option exits 2 with a usage line', async () => {
    const r = await runExample(['--threads', '7']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--threads must be 0 \(polled\), 1 or 2/);
    expect(r.stderr).toMatch(/usage: node examples\/cluster\/run\.mjs/);
  });
});
