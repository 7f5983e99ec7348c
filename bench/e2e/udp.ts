/**
 * The `udp` workload (issue 5's bench): UDP echo through pandanet (polled and threaded) beside a
 * plain `node:dgram` server doing the same checksum framing, in the same run.
 *
 * Per server kind and round: a fresh server (bench/e2e/udp-server.ts) and a fresh client process
 * (bench/e2e/udp-client.ts: piscina threads × dgram sockets, each keeping a window of datagrams
 * outstanding, lost ones written off after a timeout). Reported: echoes per second at the client
 * (the measured part), datagrams in and out per second at the server (its window), loss, the
 * server's main-thread CPU per datagram, I/O thread utilisation, and the ratio to the same round's
 * baseline.
 *
 * Thread: main thread of the orchestrator.
 * @module
 */
import { bounded, errText } from '../lib/harness.js';
import { f2, k, mdTable, pct, range } from '../lib/format.js';
import type { Progress } from '../lib/progress.js';
import { Quiet, busyNow, otherLoadCores } from '../lib/quiet.js';
import { markdownHeader, resultBase, resultHeader, saveResult, type ResultHeader } from '../lib/report.js';
import { round, spread, type Spread } from '../lib/stats.js';
import { barChartSvg } from '../lib/svg.js';
import type { UdpClientCommand, UdpClientMessage, UdpClientParams } from './udp-client.js';
import type { UdpServerCommand, UdpServerMessage, UdpServerParams } from './udp-server.js';

const SERVER = new URL('./udp-server.js', import.meta.url);
const CLIENT = new URL('./udp-client.js', import.meta.url);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface UdpOptions {
  runs: number;
  threads: number[];
  clientThreads: number;
  socketsPerThread: number;
  window: number;
  payloadBytes: number;
  warmupMs: number;
  measureMs: number;
  lossTimeoutMs: number;
  timeoutMs: number;
  quietWaitMs: number;
  quietBudgetMs: number;
  quick: boolean;
  save: boolean;
}

export const UDP_DEFAULTS: UdpOptions = {
  runs: 3,
  threads: [0, 1, 2],
  clientThreads: 2,
  socketsPerThread: 8,
  window: 8,
  payloadBytes: 64,
  warmupMs: 500,
  measureMs: 2000,
  lossTimeoutMs: 50,
  timeoutMs: 30_000,
  quietWaitMs: 3000,
  quietBudgetMs: 20_000,
  quick: false,
  save: true,
};

export const UDP_QUICK: Partial<UdpOptions> = { runs: 1, threads: [0, 1], warmupMs: 200, measureMs: 500, quietWaitMs: 0, quick: true };

interface UdpRun {
  round: number;
  kind: string;
  ok: boolean;
  error?: string;
  echoesPerSec: number;
  inPerSec: number;
  outPerSec: number;
  lost: number;
  lossShare: number;
  badPackets: number;
  badReplies: number;
  ioDropped: number;
  mainCpuUsPerDg: number;
  processCpuUsPerDg: number;
  ioUtilization: number[];
  otherLoadCores: number;
  ratioToBaseline?: number;
  wallMs: number;
}

interface KindSummary {
  kind: string;
  echoesPerSec: Spread;
  inPerSec: Spread;
  outPerSec: Spread;
  ratioToBaseline: Spread | null;
  lossShare: Spread;
  mainCpuUsPerDg: Spread;
  processCpuUsPerDg: Spread;
  ioUtilization: number[];
  otherLoadCores: Spread;
  okRuns: number;
  failedRuns: number;
}

export interface UdpResult extends ResultHeader {
  options: UdpOptions;
  runs: UdpRun[];
  summary: KindSummary[];
  totalWallMs: number;
}

function kinds(o: UdpOptions): Array<{ kind: string; params: UdpServerParams }> {
  return [{ kind: 'baseline', params: { server: 'baseline', threads: 0 } }, ...o.threads.map((t) => ({ kind: `pandanet t${t}`, params: { server: 'pandanet', threads: t } as UdpServerParams }))];
}

export function udpSteps(o: UdpOptions): number {
  return o.runs * kinds(o).length;
}

async function runOnce(o: UdpOptions, kind: string, params: UdpServerParams, roundNo: number): Promise<UdpRun> {
  const t0 = performance.now();
  const nan = Number.NaN;
  const run: UdpRun = { round: roundNo, kind, ok: false, echoesPerSec: nan, inPerSec: nan, outPerSec: nan, lost: 0, lossShare: nan, badPackets: 0, badReplies: 0, ioDropped: 0, mainCpuUsPerDg: nan, processCpuUsPerDg: nan, ioUtilization: [], otherLoadCores: nan, wallMs: 0 };
  try {
    await bounded(o.timeoutMs, async (ctx) => {
      const server = ctx.spawn<UdpServerMessage, UdpServerCommand>(SERVER, params, `udp-server ${kind}`);
      const { port } = await server.next('listening', ctx.left());
      const cp: UdpClientParams = { port, clientThreads: o.clientThreads, socketsPerThread: o.socketsPerThread, window: o.window, payloadBytes: o.payloadBytes, warmupMs: o.warmupMs, measureMs: o.measureMs, lossTimeoutMs: o.lossTimeoutMs };
      const client = ctx.spawn<UdpClientMessage, UdpClientCommand>(CLIENT, cp, `udp-client ${kind}`);
      await client.next('ready', ctx.left());
      client.send({ kind: 'go' });
      // The server's window is the client's measured part: after the warm-up, for measureMs.
      await sleep(o.warmupMs);
      server.send({ kind: 'start' });
      await server.next('started', ctx.left());
      const b0 = busyNow();
      const w0 = performance.now();
      await sleep(o.measureMs);
      server.send({ kind: 'stop' });
      const rep = await server.next('report', ctx.left());
      const wall = performance.now() - w0;
      const busy = busyNow() - b0;
      const res = await client.next('result', ctx.left());
      await Promise.all([server.exit(Math.min(3000, ctx.left())), client.exit(Math.min(3000, ctx.left()))]);
      const win = rep.window;
      run.echoesPerSec = (res.measuredReceived / o.measureMs) * 1000;
      run.inPerSec = (rep.datagramsIn / win.windowMs) * 1000;
      run.outPerSec = (rep.datagramsOut / win.windowMs) * 1000;
      run.lost = res.lost;
      run.lossShare = res.sent > 0 ? res.lost / res.sent : nan;
      run.badPackets = rep.badPackets;
      run.badReplies = res.badReplies;
      run.ioDropped = rep.ioDropped;
      run.mainCpuUsPerDg = win.mainCpuUs / Math.max(1, rep.datagramsIn);
      run.processCpuUsPerDg = win.processCpuUs / Math.max(1, rep.datagramsIn);
      run.ioUtilization = win.io.map((x) => x.utilization);
      // The client's CPU spans its whole run (warm-up included): scaled to the window.
      run.otherLoadCores = otherLoadCores(busy, win.processCpuUs + (res.clientCpuUs * o.measureMs) / (o.warmupMs + o.measureMs), wall);
      const problems = [...res.errors];
      if (res.badReplies > 0) problems.push(`${res.badReplies} replies with a bad checksum or size`);
      if (rep.badPackets > 0) problems.push(`${rep.badPackets} bad packets at the server`);
      if (rep.sendFailures > 0) problems.push(`${rep.sendFailures} failed sends at the server`);
      run.ok = problems.length === 0;
      if (!run.ok) run.error = problems.join('; ');
    });
  } catch (err) {
    run.error = errText(err);
  }
  run.wallMs = performance.now() - t0;
  return run;
}

export function udpTable(r: UdpResult): string {
  const rows = r.summary.map((s) => [
    s.kind === 'baseline' ? 'baseline `node:dgram`' : s.kind,
    range(s.echoesPerSec, k),
    s.kind === 'baseline' ? '1' : range(s.ratioToBaseline, f2),
    range(s.inPerSec, k),
    range(s.outPerSec, k),
    range(s.lossShare, (x) => `${(x * 100).toFixed(2)}%`),
    range(s.mainCpuUsPerDg, f2),
    range(s.processCpuUsPerDg, f2),
    s.kind === 'baseline' ? '—' : s.ioUtilization.map(pct).join(' / '),
    range(s.otherLoadCores, f2),
    `${s.okRuns}/${s.okRuns + s.failedRuns}`,
  ]);
  return mdTable(
    ['server', 'echoes/s at the client', '× baseline (same round)', 'server in, dg/s', 'server out, dg/s', 'lost (client timeout)', 'main-thread CPU µs/dg', 'process CPU µs/dg', 'I/O thread utilisation', 'other load, cores', 'ok/runs'],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows,
  );
}

function chart(r: UdpResult): string {
  const s = r.summary;
  return barChartSvg({
    title: 'UDP echo with Panda checksum framing',
    subtitle: `${r.options.clientThreads}×${r.options.socketsPerThread} client sockets, ${r.options.window} in flight each, ${r.options.payloadBytes} B; median of ${r.options.runs} runs`,
    yLabel: 'datagrams/s',
    groups: s.map((x) => x.kind.replace('pandanet ', '').replace('baseline', 'node:dgram')),
    series: [
      { name: 'server in', values: s.map((x) => x.inPerSec.median), low: s.map((x) => x.inPerSec.min), high: s.map((x) => x.inPerSec.max) },
      { name: 'server out', values: s.map((x) => x.outPerSec.median), low: s.map((x) => x.outPerSec.min), high: s.map((x) => x.outPerSec.max) },
    ],
  });
}

export async function runUdp(options: Partial<UdpOptions>, progress: Progress): Promise<UdpResult> {
  const o: UdpOptions = { ...UDP_DEFAULTS, ...(options.quick === true ? UDP_QUICK : {}), ...options };
  const started = performance.now();
  const header = resultHeader('udp');
  const quiet = new Quiet({ perRunMs: o.quietWaitMs, cores: 0.25, budgetMs: o.quietBudgetMs });
  const ks = kinds(o);
  const runs: UdpRun[] = [];
  console.log(`udp: echo of ${o.payloadBytes} B datagrams with Panda's 2-byte checksum; client: separate process, ${o.clientThreads} piscina threads × ${o.socketsPerThread} sockets × ${o.window} in flight; ${o.warmupMs} ms warm-up + ${o.measureMs} ms measured; ${o.runs} rounds`);
  for (let roundNo = 1; roundNo <= o.runs; roundNo++) {
    const shift = (roundNo - 1) % ks.length;
    const thisRound: UdpRun[] = [];
    for (const { kind, params } of [...ks.slice(shift), ...ks.slice(0, shift)]) {
      progress.setNote(`udp ${kind} round ${roundNo}`);
      if (o.quietWaitMs > 0) await quiet.wait();
      const run = await runOnce(o, kind, params, roundNo);
      runs.push(run);
      thisRound.push(run);
      progress.step();
      progress.log(
        run.ok
          ? `udp r${roundNo} ${kind.padEnd(12)} ${k(run.echoesPerSec)} echoes/s; server in ${k(run.inPerSec)}/s out ${k(run.outPerSec)}/s; lost ${(run.lossShare * 100).toFixed(2)}%; main ${f2(run.mainCpuUsPerDg)} µs/dg; other load ${f2(run.otherLoadCores)} (${(run.wallMs / 1000).toFixed(1)} s)`
          : `udp r${roundNo} ${kind} FAILED: ${run.error}`,
      );
    }
    const base = thisRound.find((r) => r.kind === 'baseline');
    for (const r of thisRound) if (r.kind !== 'baseline' && r.ok && base?.ok === true) r.ratioToBaseline = r.echoesPerSec / base.echoesPerSec;
  }
  const summary: KindSummary[] = ks.map(({ kind, params }) => {
    const mine = runs.filter((r) => r.kind === kind);
    const ok = mine.filter((r) => r.ok);
    const col = (f: (r: UdpRun) => number): Spread => spread(ok.map(f));
    const ratios = ok.map((r) => r.ratioToBaseline).filter((x): x is number => x !== undefined);
    const nIo = params.server === 'baseline' ? 0 : Math.max(1, params.threads);
    return {
      kind,
      echoesPerSec: col((r) => r.echoesPerSec),
      inPerSec: col((r) => r.inPerSec),
      outPerSec: col((r) => r.outPerSec),
      ratioToBaseline: ratios.length > 0 ? spread(ratios) : null,
      lossShare: col((r) => r.lossShare),
      mainCpuUsPerDg: col((r) => r.mainCpuUsPerDg),
      processCpuUsPerDg: col((r) => r.processCpuUsPerDg),
      ioUtilization: Array.from({ length: nIo }, (_, i) => round(spread(ok.map((r) => r.ioUtilization[i] ?? Number.NaN)).median, 3)),
      otherLoadCores: col((r) => r.otherLoadCores),
      okRuns: ok.length,
      failedRuns: mine.length - ok.length,
    };
  });
  const result: UdpResult = { ...header, options: o, runs, summary, totalWallMs: Math.round(performance.now() - started) };
  const table = udpTable(result);
  console.log('');
  console.log(table);
  if (o.save) {
    const base = resultBase('udp', header.date, o.quick);
    const md = `${markdownHeader('UDP echo', header, [`${o.clientThreads}×${o.socketsPerThread} client sockets × ${o.window} in flight, ${o.payloadBytes} B + 2 B checksum; ${o.runs} rounds; client in a separate process`])}\n${table}\n`;
    console.log(`\nfiles: ${saveResult(base, result, md, { throughput: chart(result) }).join(', ')}`);
  }
  return result;
}
