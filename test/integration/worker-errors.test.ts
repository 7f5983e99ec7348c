/**
 * Errors raised on an I/O thread keep their class on the main thread: `getLastError()` after a failed
 * open is the typed error the worker saw (`SocketError` with its errno), through the synchronous call
 * slot (JSON) and the `Async` twins (a reply message, structured clone). Every test runs in every mode.
 */
import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ErrorCode, PandaNetError, QueuedConnectionManager, QueuedConnectionReader, SocketError, type Connection } from '../../src/index.js';
import { MODES, closedPort, rawListen, waitFor } from '../helpers/net.js';
import { captureLog } from '../helpers/faults.js';

/** A manager whose pool matches the mode (a reader with `threads` threads; polled: the one shared thread). */
function makeManager(threads: number): QueuedConnectionManager {
  const manager = new QueuedConnectionManager();
  onTestFinished(() => void manager.shutdown());
  new QueuedConnectionReader(manager, threads);
  return manager;
}

function expectSocketError(err: PandaNetError | null, errno: string, syscall: string, port: number): void {
  expect(err, 'getLastError()').not.toBeNull();
  expect(err?.constructor.name).toBe('SocketError');
  expect(err).toBeInstanceOf(SocketError);
  expect(err).toBeInstanceOf(PandaNetError);
  expect(err?.name).toBe('SocketError');
  expect(err?.code).toBe(ErrorCode.SOCKET);
  expect(err?.errno).toBe(errno);
  expect(err?.syscall).toBe(syscall);
  expect(err?.port).toBe(port);
}

describe.each(MODES)('errors from the I/O threads ($name)', ({ threads }) => {
  it('a refused connect is a SocketError ECONNREFUSED (sync and async)', async () => {
    captureLog(); // the expected "unable to open" lines go to the test, not stderr
    const manager = makeManager(threads);
    const port = await closedPort();
    expect(manager.openTCPClientConnection('127.0.0.1', port, 3000)).toBeNull();
    expectSocketError(manager.getLastError(), 'ECONNREFUSED', 'connect', port);
    expect(await manager.openTCPClientConnectionAsync('127.0.0.1', port, 3000)).toBeNull();
    expectSocketError(manager.getLastError(), 'ECONNREFUSED', 'connect', port);
  });

  it('listening on a port in use is a SocketError EADDRINUSE (sync and async)', async () => {
    captureLog();
    const manager = makeManager(threads);
    const busy = await rawListen();
    expect(manager.openTCPServerRendezvous('127.0.0.1', busy.port, 10)).toBeNull();
    expectSocketError(manager.getLastError(), 'EADDRINUSE', 'listen', busy.port);
    expect(await manager.openTCPServerRendezvousAsync('127.0.0.1', busy.port, 10)).toBeNull();
    expectSocketError(manager.getLastError(), 'EADDRINUSE', 'listen', busy.port);
  });

  it('a connect that times out is a SocketError ETIMEDOUT', async () => {
    captureLog();
    const manager = makeManager(threads);
    // A listener with a backlog of 1 whose accept queue fills up: this thread blocks in each
    // synchronous open, so it accepts nothing meanwhile, and Linux drops the SYNs past the queue.
    const accepted: net.Socket[] = [];
    const server = net.createServer((s) => accepted.push(s));
    onTestFinished(() => {
      for (const s of accepted) s.destroy();
      server.close();
    });
    let listening = false;
    server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => (listening = true));
    await waitFor(() => listening, { what: 'backlog-1 server listening' });
    const port = (server.address() as net.AddressInfo).port;
    const opened: Array<Connection | null> = [];
    for (let i = 0; i < 8; i++) {
      const c = manager.openTCPClientConnection('127.0.0.1', port, 300);
      opened.push(c);
      if (c === null) break;
    }
    expect(opened.at(-1), `opens before one timed out: ${opened.length - 1}`).toBeNull();
    expectSocketError(manager.getLastError(), 'ETIMEDOUT', 'connect', port);
  });
});
