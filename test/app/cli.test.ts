/**
 * The `pandanet` command as a user runs it: the compiled entry (`dist/app/cli.js`, built by
 * `npm test`'s pretest or `npx tsc -p tsconfig.build.json`) in a child process.
 *
 * - `start --duration 5 --bots 20 --port 0 --plain`: the bots connect, snapshots flow, it exits 0
 *   with a clean summary (killed and failed at 30 s);
 * - every sub-command's `--help`, and bad command lines (exit 2);
 * - `echo --port 0` with a real pandanet client: 3 datagrams out, the same 3 back; SIGINT → exit 0.
 *
 * Every child is killed when its test finishes, whatever happened.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { makeClient, patternBytes, receive, sameBytes, waitFor } from '../helpers/net.js';
import { Datagram } from '../../src/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(root, 'dist', 'app', 'cli.js');

interface Run {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  exited: Promise<number | string>;
  done: boolean;
}

function run(args: string[], cli = CLI): Run {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: build first (npm run build, or npx tsc -p tsconfig.build.json)`);
  const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const r: Run = {
    child,
    stdout: () => out,
    stderr: () => err,
    done: false,
    exited: new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        r.done = true;
        resolve(code ?? signal ?? 'unknown');
      });
    }),
  };
  onTestFinished(() => {
    if (!r.done) child.kill('SIGKILL');
  });
  return r;
}

/** The exit code, or a failure after `ms` (the child is killed). */
async function exitWithin(r: Run, ms: number): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      r.child.kill('SIGKILL');
      reject(new Error(`still running after ${ms} ms; stdout:\n${r.stdout()}\nstderr:\n${r.stderr()}`));
    }, ms);
  });
  try {
    return await Promise.race([r.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('pandanet start', () => {
  it('runs the server and 20 bots for 5 s: bots connect, snapshots flow, exit 0', async () => {
    const r = run(['start', '--duration', '5', '--bots', '20', '--port', '0', '--plain']);
    const code = await exitWithin(r, 30_000);
    const out = r.stdout();
    expect(code, `stdout:\n${out}\nstderr:\n${r.stderr()}`).toBe(0);
    expect(out).toMatch(/^pandanet: game server listening on 127\.0\.0\.1:\d+ \(2 I\/O threads, 20 Hz\), starting 20 bots$/m);
    const live = out.split('\n').filter((l) => /^\[\s*\d+s\] conns /.test(l));
    expect(live.length, out).toBeGreaterThanOrEqual(3);
    // Some second shows all 20 bots connected, snapshots arriving and round trips measured.
    const flowing = live.filter((l) => {
      const m = /\| bots (\d+)\/(\d+) inputs (\d+)\/s snaps (\d+)\/s rtt p50 ([\d.]+) ms p99 ([\d.]+) ms$/.exec(l);
      return m !== null && m[1] === '20' && m[2] === '20' && Number(m[3]) > 0 && Number(m[4]) > 0 && Number(m[5]) > 0;
    });
    expect(flowing.length, out).toBeGreaterThanOrEqual(1);
    expect(out).toMatch(/^summary bots: 20\/20 connected at peak, 0 failed, [\d,]+ inputs sent, [1-9][\d,]* snapshots received/m);
    expect(out).toMatch(/^summary rtt: p50 [\d.]+ ms, p99 [\d.]+ ms/m);
    expect(out).toMatch(/^summary server: 20 joins, 20 leaves, /m);
    expect(out.trimEnd().split('\n').at(-1)).toBe('summary: clean exit');
  }, 40_000);
});

describe('pandanet --help and bad command lines', () => {
  it.each(['start', 'serve', 'bots', 'echo', 'bench'])('%s --help prints its usage and exits 0', async (cmd) => {
    const r = run([cmd, '--help']);
    expect(await exitWithin(r, 15_000)).toBe(0);
    expect(r.stdout()).toContain(`Usage: pandanet ${cmd}`);
    expect(r.stdout()).toMatch(/-h, --help/);
    expect(r.stderr()).toBe('');
  });

  it('bench --help names every workload of bench/run.ts', async () => {
    const source = readFileSync(path.join(root, 'bench', 'run.ts'), 'utf8');
    const block = source.slice(source.indexOf('const WORKLOADS'), source.indexOf('\n};\n', source.indexOf('const WORKLOADS')));
    const workloads = [...block.matchAll(/^  '?([a-z-]+)'?: \{$/gm)].map((m) => m[1]!);
    expect(workloads.length).toBeGreaterThanOrEqual(9);
    const r = run(['bench', '--help']);
    expect(await exitWithin(r, 15_000)).toBe(0);
    for (const w of workloads) expect(r.stdout()).toMatch(new RegExp(`^  ${w} `, 'm'));
  });

  it('bench from an installed copy (no bench/) says it needs a source checkout and exits 1', async () => {
    const installed = mkdtempSync(path.join(tmpdir(), 'pandanet-installed-'));
    onTestFinished(() => rmSync(installed, { recursive: true, force: true }));
    cpSync(path.join(root, 'dist'), path.join(installed, 'dist'), { recursive: true });
    cpSync(path.join(root, 'package.json'), path.join(installed, 'package.json'));
    const r = run(['bench', 'echo'], path.join(installed, 'dist', 'app', 'cli.js'));
    expect(await exitWithin(r, 15_000)).toBe(1);
    expect(r.stderr()).toMatch(/^pandanet bench: the benchmarks need a source checkout of pandanet; an installed package has no bench\//m);
    expect(r.stderr()).toContain('npm ci && npm run bench');
  });

  it('pandanet --help lists every command', async () => {
    const r = run(['--help']);
    expect(await exitWithin(r, 15_000)).toBe(0);
    for (const cmd of ['start', 'serve', 'bots', 'echo', 'bench']) expect(r.stdout()).toMatch(new RegExp(`^  ${cmd} `, 'm'));
  });

  it.each([
    [['start', '--nope'], /Unknown option '--nope'/],
    [['start', '--port', '70000'], /--port needs an integer 0\.\.65535/],
    [['serve', '--threads', 'two'], /--threads needs an integer/],
    [['echo', '--header-size', '3'], /--header-size takes 2 or 4/],
    [['bots', '--duration=-1'], /--duration needs a number > 0/],
    [['bots', '--duration', '-1'], /Option '--duration' argument is ambiguous/],
    [['start', 'extra'], /Unexpected argument 'extra'/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [[], /Usage: pandanet <command>/],
  ])('%j exits 2 with a clear message', async (args, message) => {
    const r = run(args);
    expect(await exitWithin(r, 15_000)).toBe(2);
    expect(r.stderr()).toMatch(message);
  });
});

describe('pandanet echo', () => {
  it('echoes 3 datagrams to a pandanet client unchanged, then stops on SIGINT with exit 0', async () => {
    const r = run(['echo', '--port', '0']);
    let port = 0;
    await waitFor(
      () => {
        const m = /echo server listening on 127\.0\.0\.1:(\d+)/.exec(r.stdout());
        if (m !== null) port = Number(m[1]);
        return port !== 0 || r.done;
      },
      { what: () => `the echo server's port (stdout: ${r.stdout()} stderr: ${r.stderr()})` },
    );
    expect(r.done, r.stderr()).toBe(false);

    const client = makeClient(port, 1);
    const sent = [patternBytes(1, 1), patternBytes(300, 2), patternBytes(4000, 3)];
    for (const bytes of sent) expect(client.writer.send(new Datagram(bytes), client.conn)).toBe(true);
    const got = await receive(client.reader, 3, { what: 'echoed' });
    expect(got.length).toBe(3);
    for (const [i, g] of got.entries()) {
      expect(g.conn).toBe(client.conn);
      expect(sameBytes(g.bytes, sent[i]!)).toBe(true);
    }

    r.child.kill('SIGINT');
    expect(await exitWithin(r, 15_000)).toBe(0);
    expect(r.stdout()).toMatch(/echo server stopped \(SIGINT\); echoed 3 datagrams/);
  });
});
