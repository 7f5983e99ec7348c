/**
 * Messages between the echo benchmark's orchestrator (parent), its echo-server child and its
 * load-client child, declared once. Each side dispatches with a `switch` on `kind`.
 *
 * Sequence for one measured run:
 * ```
 *  parent ──fork──▶ server          server ─listening{port}─▶ parent
 *  parent ──fork──▶ client(port)    client ─ready──────────▶ parent   (all connections open)
 *  parent ─start──▶ server          server ─started────────▶ parent   (CPU snapshot taken)
 *  parent ─go─────▶ client          client ─result─────────▶ parent   (all echoes in, or failure)
 *  parent ─stop───▶ server          server ─report─────────▶ parent   (CPU delta), then exits
 * ```
 * Either child may send `{ kind: 'error' }` instead, and the parent kills both on any failure or
 * timeout.
 *
 * Thread: any (types and pure helpers).
 * @module
 */

/**
 * Which server a child runs: `baseline` is the node:net chunk echo (echoes each read chunk as it
 * lies), `realistic` the node:net server that parses, copies and replies per datagram (one write per
 * read chunk); see bench/e2e/echo-server.ts.
 */
export type ServerKind = 'baseline' | 'realistic' | 'pandanet';
/** How the pandanet server takes datagrams off its reader. */
export type DrainMode = 'getData' | 'getDataReuse' | 'getDataCork' | 'drainData';
/** What the pandanet server loop does when an iteration found nothing. */
export type IdleMode = 'spin' | 'backoff' | 'wait';

/** Server process parameters (passed as one JSON argv). */
export interface ServerParams {
  server: ServerKind;
  /** pandanet: numThreads of listener, reader and writer. */
  threads: number;
  drain: DrainMode;
  idle: IdleMode;
  /** Simulated application work per datagram on the main thread, µs (fixed computation: bench/e2e/work.ts). */
  workUs: number;
  /** xorshift steps per call of that work, calibrated once by the parent and the same for every server (absent: the server calibrates its own). */
  workIterations?: number;
  /** TCP_NODELAY on every accepted connection (both servers alike); default false (Nagle on, the OS default). */
  noDelay?: boolean;
  /** pandanet: `NetConfig.ioSpinUs` (default 0). */
  ioSpinUs?: number;
  /** pandanet: `NetConfig.drainHoldUs` (absent: the library's default). */
  drainHoldUs?: number;
}

/** Load client parameters (passed as one JSON argv). */
export interface ClientParams {
  host: string;
  port: number;
  connections: number;
  /** Datagrams each connection sends (and waits to get back). */
  perConnection: number;
  /** Datagrams in flight per connection. */
  inFlight: number;
  /** Payload bytes per datagram (after the 2-byte length prefix). */
  payloadBytes: number;
  /** Worker threads (piscina) the connections are split over. */
  clientThreads: number;
  /** Per-task deadline, ms: a task that has not finished by then reports what it has. */
  taskDeadlineMs: number;
  /**
   * Datagrams per connection of an unmeasured warm-up pass that this same process runs first, on
   * connections of its own, so that the measured pass runs warmed-up client code (0: none). Each
   * pass is a `ready` / `go` / `result` exchange; the measured pass opens its connections only on
   * `next`, so that the server can close the warm-up window first.
   */
  warmupPerConnection: number;
}

/** Per-I/O-thread figures from `manager.getThreadStats()` over the measured window. */
export interface IoThreadReport {
  index: number;
  /** Connections accepted onto this thread (counted by the server with `getThreadIndex()`). */
  connections: number;
  datagramsIn: number;
  datagramsOut: number;
  backpressurePauses: number;
  /** Socket reads and TCP writes over the window (datagrams per read / per write show the batching). */
  tcpReads: number;
  tcpWrites: number;
  /** Times the thread's outbound loop went to sleep (each costs the next send a wake-up). */
  outboundSleeps: number;
  /**
   * Busy share of the window, 0..1: the thread's CPU time over the window where `/proc` gives it,
   * else its event-loop utilisation (sampled by the thread every 250 ms).
   */
  utilization: number;
}

/** server → parent */
export type ServerMessage =
  | { kind: 'listening'; port: number }
  | { kind: 'started'; accepted: number }
  | {
      kind: 'report';
      /** Main-thread CPU over the window (`/proc/thread-self/schedstat`, else `stat` at 10 ms resolution), µs. */
      mainCpuUs: number;
      /** Main-thread time runnable but waiting for a CPU over the window, µs (NaN without schedstat). */
      mainRunDelayUs: number;
      cpuSource: string;
      /** Whole-process CPU over the window (`process.cpuUsage()`), µs. */
      processCpuUs: number;
      /** Every thread's CPU over the window, largest first, µs (main thread included). */
      threadsCpuUs: number[];
      /** The same, labelled: `main`, `io-K` (pandanet's I/O thread K), `other` (V8/libuv helpers). */
      threads: Array<{ tid: number; label: string; cpuUs: number }>;
      /** Wall time of the window, ms. */
      windowMs: number;
      /** Datagrams the server echoed in the window. */
      datagrams: number;
      /** The median sampled call's wall time in the window, µs (NaN without work): against the calibration's, whether the work ran slower in place. */
      workInPlaceUsPerCall: number;
      /** Main-thread time inside the loop's receive/send code (excludes the simulated work), µs (hrtime). */
      loopBusyUs: number;
      /** pandanet: wall time of the iterations that found no datagram, µs. */
      loopIdleUs: number;
      /** Loop iterations in the window, and those that found at least one datagram. */
      iterations: number;
      busyIterations: number;
      ioThreads: IoThreadReport[];
      /** Queue overflows or resets seen (should be 0). */
      overflow: boolean;
      /** Datagrams the reader dropped for its queue cap since the server started (from pandanet's log). */
      droppedTotal: number;
      resets: number;
    }
  | { kind: 'error'; message: string };

/** parent → server */
export type ServerCommand =
  /** Take the start snapshot once `connections` connections were accepted since the last window (waits at most 5 s for them). */
  | { kind: 'start'; connections: number }
  /** End the window and report; then exit, unless `exit` is false (another window will follow). */
  | { kind: 'stop'; exit?: boolean };

/** One piscina task's outcome. */
export interface TaskResult {
  connections: number;
  echoes: number;
  /** Echoes whose sequence number or length was not what the connection expected next. */
  mismatches: number;
  errors: string[];
  /** Absolute times (performance.timeOrigin + now), ms: when the task saw "go" and got its last echo. */
  startAbsMs: number;
  endAbsMs: number;
  /** When each finished connection got its last echo (absolute ms, as above). */
  connectionDoneAbsMs: number[];
  /** This worker thread's CPU over the task (µs, /proc/thread-self/stat). */
  threadCpuUs: number;
  timedOut: boolean;
}

/** client → parent */
export type ClientMessage =
  | { kind: 'ready' }
  | {
      kind: 'result';
      echoes: number;
      expected: number;
      mismatches: number;
      /** From "go" to the last echo of the slowest task, ms. */
      elapsedMs: number;
      /** From "go" until half of the connections had all their echoes, ms (a tail indicator). */
      medianConnectionDoneMs: number;
      /** Client process CPU from "go" to the result (all its threads), µs. */
      clientCpuUs: number;
      tasks: TaskResult[];
      errors: string[];
    }
  | { kind: 'error'; message: string };

/** parent → client */
/** `go`: start the pass whose `ready` was sent. `next`: open the connections of the next pass (after a warm-up). */
export type ClientCommand = { kind: 'go' } | { kind: 'next' };

/** Reads the JSON parameter argv of a child (`process.argv[2]`). */
export function paramsFromArgv<T>(): T {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error('missing JSON parameters argument');
  return JSON.parse(raw) as T;
}
