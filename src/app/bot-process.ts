/**
 * Entry point of the bots process that `pandanet start` forks (`child_process.fork` of the compiled
 * `dist/app/bot-process.js`): the load runs in its own process, with its own event loop and I/O
 * thread, so the server's figures are the server's alone.
 *
 * Protocol (IPC, JSON; types in `bots.ts`): the parent sends `start` with the swarm's options; this
 * process answers `started`, then a `report` every second; on `stop` it closes its connections, sends
 * `final` and exits 0. If the parent goes away (IPC channel closed) it stops the same way. Errors are
 * sent as `error` and the process exits 1.
 *
 * Ctrl-C in a terminal reaches the whole process group: this process ignores SIGINT and waits for
 * the parent's `stop`, so the shutdown order stays the parent's.
 *
 * Thread: main thread of the bots process.
 * @module
 */
import { BotSwarm, asParentMessage, quietConnectErrors, type BotsToParent } from './bots.js';

/** How often a report goes to the parent, ms. */
const REPORT_MS = 1000;

function send(m: BotsToParent): void {
  if (process.connected) process.send?.(m);
}

function main(): void {
  if (process.send === undefined) {
    process.stderr.write('bot-process: run me with child_process.fork (use `pandanet bots` to run bots from a shell)\n');
    process.exitCode = 2;
    return;
  }
  quietConnectErrors();
  let swarm: BotSwarm | null = null;
  let timer: NodeJS.Timeout | null = null;
  let done = false;

  const finish = (): void => {
    if (done) return;
    done = true;
    if (timer !== null) clearInterval(timer);
    const report = swarm?.stop();
    if (report !== undefined) send({ type: 'final', report });
    if (process.connected) process.disconnect();
  };

  process.on('SIGINT', () => {
    /* the parent decides when to stop */
  });
  process.on('disconnect', finish);
  process.on('message', (raw: unknown) => {
    const m = asParentMessage(raw);
    if (m === null) return;
    switch (m.type) {
      case 'start':
        if (swarm !== null) return;
        try {
          swarm = new BotSwarm(m.options);
          swarm.start();
        } catch (err) {
          send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
          process.exitCode = 1;
          done = true;
          process.disconnect();
          return;
        }
        send({ type: 'started' });
        timer = setInterval(() => {
          if (swarm !== null) send({ type: 'report', report: swarm.report() });
        }, REPORT_MS);
        return;
      case 'stop':
        finish();
        return;
    }
  });
}

main();
