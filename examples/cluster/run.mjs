// @ts-check
// The cluster example in one command: message director(s), two zone servers, a gateway and bots.
// Run: node examples/cluster/run.mjs [--bots 20] [--seconds 10] [--threads 2] [--nats nats://127.0.0.1:4222]
// (after `npm run build`). Prints a line a second and a summary, then exits: 0 when every bot
// connected and was placed by a zone, at least one bot was handed over between the zones, and every
// avatar was removed by its post-remove after the bots left; 1 otherwise; 2 for a bad command line.
//
// Without --nats one MessageDirector runs embedded in this process (the default). With --nats, two
// director nodes run, joined through NATS: zone A and the gateway on node 1, zone B on node 2, so
// every hand-over and every datagram between zone B and the gateway crosses NATS.
import { parseArgs } from 'node:util';
import { MessageDirector } from 'pandanet';
import { CELLS } from './common.mjs';
import { startZone } from './zone.mjs';
import { startGateway } from './gateway.mjs';
import { startBots } from './bots.mjs';

const HOST = '127.0.0.1';

/** @param {string} msg */
function usage(msg) {
  console.error(`run.mjs: ${msg}\nusage: node examples/cluster/run.mjs [--bots N] [--seconds S] [--threads 0|1|2] [--nats URL[,URL…]]`);
  process.exit(2);
}

/** @type {{ bots?: string, seconds?: string, threads?: string, nats?: string }} */
let args = {};
try {
  ({ values: args } = parseArgs({ options: { bots: { type: 'string' }, seconds: { type: 'string' }, threads: { type: 'string' }, nats: { type: 'string' } } }));
} catch (err) {
  usage(err instanceof Error ? err.message : String(err));
}
const BOTS = Number(args.bots ?? 20);
const SECONDS = Number(args.seconds ?? 10);
const THREADS = Number(args.threads ?? 2);
if (!Number.isInteger(BOTS) || BOTS < 1 || BOTS > 2000) usage(`--bots must be an integer 1..2000, got ${args.bots}`);
if (!Number.isFinite(SECONDS) || SECONDS <= 0 || SECONDS > 3600) usage(`--seconds must be a number of seconds in (0, 3600], got ${args.seconds}`);
if (![0, 1, 2].includes(THREADS)) usage(`--threads must be 0 (polled), 1 or 2, got ${args.threads}`);
const natsServers = args.nats?.split(',').map((s) => s.trim()).filter((s) => s !== '');
if (natsServers !== undefined && natsServers.length === 0) usage('--nats needs a URL (nats://HOST:PORT[,…])');

/** @type {Array<() => Promise<unknown>>} stop functions, last started first */
const stops = [];
async function stopAll() {
  for (const stop of stops.splice(0).reverse()) await stop().catch((err) => console.error(`stop: ${err instanceof Error ? err.message : String(err)}`));
}

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** @param {number} n */
const fmt = (n) => n.toLocaleString('en-US');

try {
  // ---- message director(s) ---------------------------------------------------------------------
  /** @type {MessageDirector[]} */
  const directors = [];
  if (natsServers === undefined) {
    directors.push(new MessageDirector({ host: HOST, port: 0, threads: THREADS, name: 'md' }));
  } else {
    // MessageDirectorOptions.nats (the NATS mesh): built as a plain object so this file does not
    // depend on the option's type.
    for (const name of ['md-1', 'md-2']) {
      // A cluster name of its own: another run on the same NATS server forms another cluster.
      const options = { host: HOST, port: 0, threads: THREADS, name, nats: { servers: natsServers, cluster: `cluster-example-${process.pid}` } };
      directors.push(new MessageDirector(options));
    }
  }
  const ports = [];
  for (const md of directors) {
    stops.push(() => md.stop());
    ports.push((await md.start()).port);
  }
  const portA = /** @type {number} */ (ports[0]);
  const portB = /** @type {number} */ (ports.at(-1));

  // ---- zones and the gateway -------------------------------------------------------------------
  const zoneA = await startZone({ name: 'zone A', host: HOST, port: portA, threads: THREADS, firstCell: 0, lastCell: CELLS / 2 - 1 });
  stops.push(() => zoneA.stop());
  const zoneB = await startZone({ name: 'zone B', host: HOST, port: portB, threads: THREADS, firstCell: CELLS / 2, lastCell: CELLS - 1 });
  stops.push(() => zoneB.stop());
  const gateway = await startGateway({ mdHost: HOST, mdPort: portA, threads: THREADS });
  stops.push(() => gateway.stop());
  const missing = await gateway.waitForZones(10_000);
  if (missing.length > 0) {
    throw new Error(
      `cells ${missing.join(', ')} do not answer the gateway's pings` +
        (natsServers === undefined ? '' : ' (are the director nodes joined through NATS? this build of MessageDirector may lack the nats option)'),
    );
  }
  console.log(
    `cluster: ${natsServers === undefined ? `1 message director (embedded) on ${HOST}:${portA}` : `2 director nodes (${HOST}:${portA}, ${HOST}:${portB}) joined through NATS ${natsServers.join(',')}`}; ` +
      `zone A owns cells 0-${CELLS / 2 - 1}, zone B cells ${CELLS / 2}-${CELLS - 1}; gateway on ${HOST}:${gateway.port}; ${BOTS} bots; threads ${THREADS}`,
  );

  // ---- bots ------------------------------------------------------------------------------------
  const bots = await startBots({ host: HOST, port: gateway.port, count: BOTS, threads: THREADS });
  stops.push(() => bots.stop());

  const routed = () => directors.reduce((n, md) => n + md.getStats().routed, 0);
  const handovers = () => zoneA.stats.handoversIn + zoneB.stats.handoversIn;
  const started = performance.now();
  const line = () =>
    `t=${((performance.now() - started) / 1000).toFixed(1)}s  zone A ${zoneA.population} bots | zone B ${zoneB.population} bots | ` +
    `hand-overs ${handovers()} | datagrams routed ${fmt(routed())}`;
  for (let s = 1; s <= Math.ceil(SECONDS); s++) {
    await sleep(Math.max(0, started + Math.min(s, SECONDS) * 1000 - performance.now()));
    console.log(line());
  }

  // ---- the end: bots leave, their post-removes empty the zones, everything closes ---------------
  const seen = { connected: bots.connected, greeted: bots.greeted, placed: bots.placed, states: bots.states, aToB: zoneB.stats.handoversIn, bToA: zoneA.stats.handoversIn };
  const populated = zoneA.population + zoneB.population;
  await bots.stop();
  const deadline = performance.now() + 5000;
  while (zoneA.population + zoneB.population > 0 && performance.now() < deadline) await sleep(20);
  const left = zoneA.population + zoneB.population;
  const goodbyes = zoneA.stats.left + zoneB.stats.left;
  const md = directors.map((d) => d.getStats());
  const stale = zoneA.stats.stale + zoneB.stats.stale;
  const gw = gateway.stats;
  // With --nats, the mesh's counter of datagrams sent to the other node (absent from an MD without the mesh).
  const crossNode = md.reduce((n, s) => n + Number(Reflect.get(s, 'meshDatagramsOut') ?? 0), 0);
  await stopAll();

  console.log(
    `summary: ${seen.connected}/${BOTS} bots connected, ${seen.greeted} greeted by the gateway, ${seen.placed} placed by a zone; ` +
      `hand-overs ${seen.aToB + seen.bToA} (A→B ${seen.aToB}, B→A ${seen.bToA}); ` +
      `post-removes: ${goodbyes} goodbyes for ${populated} avatars, ${left} left behind; ` +
      `datagrams routed ${fmt(md.reduce((n, s) => n + s.routed, 0))} (deliveries ${fmt(md.reduce((n, s) => n + s.deliveries, 0))}, post-removes ${fmt(md.reduce((n, s) => n + s.postRemovesFired, 0))}` +
      `${natsServers === undefined ? '' : `, cross-node ${fmt(crossNode)}`}); ` +
      `gateway: up ${fmt(gw.up)}, down ${fmt(gw.down)}, rejected ${gw.rejected}; bots got ${fmt(seen.states)} state datagrams; ${stale} stale moves`,
  );
  const failures = [];
  if (seen.connected < BOTS || seen.greeted < BOTS || seen.placed < BOTS) failures.push('not every bot connected and was placed');
  if (seen.aToB + seen.bToA === 0) failures.push('no hand-over between the zones');
  if (left > 0) failures.push(`${left} avatars were not removed by their post-removes`);
  if (failures.length > 0) {
    console.error(`FAILED: ${failures.join('; ')}`);
    process.exitCode = 1;
  }
} catch (err) {
  console.error(`cluster example: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
  await stopAll();
}
