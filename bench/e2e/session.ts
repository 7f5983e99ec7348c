/**
 * An echo server process (bench/e2e/echo-server.ts) and a fixed-rate client process
 * (bench/e2e/rate-client.ts, or the native client's `--phases` mode: bench/lib/native-load.ts) held together for several phases, each phase measured on both sides:
 * the client's result and the server's CPU window, plus the load other processes put on the
 * machine meanwhile. Used by the `latency` and `budget` workloads. Everything runs inside a
 * {@link bounded} run, which kills both processes at its end.
 *
 * Thread: main thread of the orchestrator.
 * @module
 */
import type { Child } from '../lib/child.js';
import type { RunContext } from '../lib/harness.js';
import { busyNow, otherLoadCores } from '../lib/quiet.js';
import type { ServerCommand, ServerMessage, ServerParams } from './protocol.js';
import type { RateClientCommand, RateClientMessage, RateClientParams, RatePhaseResult } from './rate-client.js';
import { NativeRateClient, type LoadChoice } from '../lib/native-load.js';

/** The rate client, Node or native: what a session needs of it. */
type RateClientProcess = Pick<Child<RateClientMessage, RateClientCommand>, 'next' | 'send' | 'exit' | 'kill'>;

const SERVER = new URL('./echo-server.js', import.meta.url);
const CLIENT = new URL('./rate-client.js', import.meta.url);

/** The server's side of one phase. */
export type ServerWindow = Extract<ServerMessage, { kind: 'report' }>;

/** One measured phase. */
export interface PhaseOutcome {
  client: RatePhaseResult;
  server: ServerWindow;
  /** Other processes' load over the phase, cores. */
  otherLoadCores: number;
  /** Datagrams the server's reader dropped in this phase (its queue cap: overload, not a bug). */
  serverDropped: number;
}

/** A server + client pair. */
export class EchoSession {
  private windows = 0;
  private dropped = 0;
  private constructor(
    private readonly server: Child<ServerMessage, ServerCommand>,
    private readonly client: RateClientProcess,
    private readonly connections: number,
    private readonly ctx: RunContext,
  ) {}

  /**
   * Starts the server (params) and a client of `connections` connections: the native client
   * (one thread) when `load` names its binary, else the Node rate client over `clientThreads` threads.
   */
  static async open(ctx: RunContext, params: ServerParams, label: string, connections: number, clientThreads: number, payloadBytes = 64, load?: LoadChoice): Promise<EchoSession> {
    const server = ctx.spawn<ServerMessage, ServerCommand>(SERVER, params, `server ${label}`);
    const { port } = await server.next('listening', ctx.left());
    const cp: RateClientParams = { host: '127.0.0.1', port, connections, clientThreads, payloadBytes };
    const client: RateClientProcess =
      load?.load === 'native' && load.binary !== undefined ? ctx.adopt(new NativeRateClient(load.binary, cp, `native client ${label}`)) : ctx.spawn<RateClientMessage, RateClientCommand>(CLIENT, cp, `client ${label}`);
    await client.next('ready', ctx.left());
    return new EchoSession(server, client, connections, ctx);
  }

  /** Runs one phase with a server window around it. */
  async phase(cmd: Extract<RateClientCommand, { kind: 'phase' }>): Promise<PhaseOutcome> {
    this.server.send({ kind: 'start', connections: this.windows === 0 ? this.connections : 0 });
    const started = await this.server.next('started', this.ctx.left());
    if (this.windows === 0 && started.accepted < this.connections) throw new Error(`server accepted only ${started.accepted} of ${this.connections} connections`);
    this.windows++;
    const b0 = busyNow();
    const t0 = performance.now();
    this.client.send(cmd);
    const client = await this.client.next('phaseResult', this.ctx.left());
    this.server.send({ kind: 'stop', exit: false });
    const server = await this.server.next('report', this.ctx.left());
    const wallMs = performance.now() - t0;
    const other = otherLoadCores(busyNow() - b0, server.processCpuUs + client.clientCpuUs, wallMs);
    const serverDropped = server.droppedTotal - this.dropped;
    this.dropped = server.droppedTotal;
    return { client, server, otherLoadCores: other, serverDropped };
  }

  /** Ends both processes (bounded). */
  async close(): Promise<void> {
    this.client.send({ kind: 'end' });
    await this.client.exit(Math.min(3000, this.ctx.left()));
    this.server.send({ kind: 'stop' });
    await this.server.exit(Math.min(3000, this.ctx.left()));
  }
}
