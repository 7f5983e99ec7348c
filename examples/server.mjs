// @ts-check
// The server of Panda3D's manual page "Client-Server Connection", ported line for line.
// Run: node examples/server.mjs [port]   (after `npm run build`; PORT 0 picks a free port)
import {
  QueuedConnectionManager,
  QueuedConnectionListener,
  QueuedConnectionReader,
  ConnectionWriter,
  PointerToConnection,
  NetAddress,
  NetDatagram,
  PyDatagramIterator,
} from 'pandanet';
import { taskMgr, Task } from './task-manager.mjs';

const THREADS = Number(process.env.PANDANET_THREADS ?? 0); // the manual uses 0; try 2

const cManager = new QueuedConnectionManager();
const cListener = new QueuedConnectionListener(cManager, THREADS);
const cReader = new QueuedConnectionReader(cManager, THREADS);
const cWriter = new ConnectionWriter(cManager, THREADS);

/** @type {import('pandanet').Connection[]} */
let activeConnections = []; // We'll want to keep track of these later

const port_address = Number(process.argv[2] ?? 9099); // No other TCP/IP services are using this port
const backlog = 1000; // If we ignore 1,000 connection attempts, something is wrong!
const tcpSocket = cManager.openTCPServerRendezvous(port_address, backlog);
if (tcpSocket === null) throw new Error(`could not listen on port ${port_address}: ${cManager.getLastError()?.message}`);

cListener.addConnection(tcpSocket);
console.log(`listening on port ${tcpSocket.getLocalAddress().getPort()}`);

// Developer-defined constants, telling the server what to do.
const PRINT_MESSAGE = 1;

/** @param {NetDatagram} netDatagram */
function myProcessDataFunction(netDatagram) {
  const myIterator = new PyDatagramIterator(netDatagram);
  const msgID = myIterator.getUint8();
  if (msgID === PRINT_MESSAGE) {
    const messageToPrint = myIterator.getString();
    console.log(messageToPrint);
    // Not in the manual: answer, so the client has something to read.
    const connection = netDatagram.getConnection();
    if (connection !== null) cWriter.send(netDatagram, connection);
  }
}

/** @param {{ frame: number }} taskdata */
function tskListenerPolling(taskdata) {
  if (cListener.newConnectionAvailable()) {
    const rendezvous = new PointerToConnection();
    const netAddress = new NetAddress();
    const newConnection = new PointerToConnection();

    if (cListener.getNewConnection(rendezvous, netAddress, newConnection)) {
      const conn = newConnection.p();
      if (conn !== null) {
        activeConnections.push(conn); // Remember connection
        cReader.addConnection(conn); // Begin reading connection
      }
    }
  }
  return Task.cont;
}

/** @param {{ frame: number }} taskdata */
function tskReaderPolling(taskdata) {
  if (cReader.dataAvailable()) {
    const datagram = new NetDatagram(); // catch the incoming data in this instance
    // Check the return value; if we were threaded, someone else could have
    // snagged this data before we did
    if (cReader.getData(datagram)) {
      myProcessDataFunction(datagram);
    }
  }
  return Task.cont;
}

/** Not in the manual's snippet, but a server needs it: forget clients that went away. */
function tskResetPolling() {
  while (cManager.resetConnectionAvailable()) {
    const ptr = new PointerToConnection();
    if (cManager.getResetConnection(ptr)) {
      const dead = ptr.p();
      activeConnections = activeConnections.filter((c) => c !== dead);
      cManager.closeConnection(dead);
      console.log('client left');
    }
  }
  return Task.cont;
}

taskMgr.add(tskListenerPolling, 'Poll the connection listener', -39);
taskMgr.add(tskReaderPolling, 'Poll the connection reader', -40);
taskMgr.add(tskResetPolling, 'Poll the reset queue', -38);

function shutdownServer() {
  // Disconnecting
  for (const aClient of activeConnections) {
    cReader.removeConnection(aClient);
  }
  activeConnections = [];

  // close down our listener
  cManager.closeConnection(tcpSocket);
  taskMgr.stop();
}
process.once('SIGINT', shutdownServer);
process.once('SIGTERM', shutdownServer);
