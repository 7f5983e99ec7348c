// @ts-check
// A UDP echo server in the style of Panda3D's manual ("Client-Server Connection", UDP variant).
// Run: node examples/udp-server.mjs [port]   (after `npm run build`; PORT 0 picks a free port)
import {
  QueuedConnectionManager,
  QueuedConnectionReader,
  ConnectionWriter,
  NetDatagram,
  PyDatagramIterator,
} from 'pandanet';
import { taskMgr, Task } from './task-manager.mjs';

const THREADS = Number(process.env.PANDANET_THREADS ?? 0); // the manual uses 0; try 2

const cManager = new QueuedConnectionManager();
const cReader = new QueuedConnectionReader(cManager, THREADS);
const cWriter = new ConnectionWriter(cManager, THREADS);

const port_address = Number(process.argv[2] ?? 9099); // No other UDP service is using this port
function openSocket() {
  const socket = cManager.openUDPConnection(port_address);
  if (socket === null) throw new Error(`could not bind UDP port ${port_address}: ${cManager.getLastError()?.message}`);
  return socket;
}
const udpSocket = openSocket();

cReader.addConnection(udpSocket); // UDP: one connection receives from every client
console.log(`listening on UDP port ${udpSocket.getLocalAddress().getPort()}`);

// Developer-defined constants, telling the server what to do.
const PRINT_MESSAGE = 1;

/** @param {NetDatagram} netDatagram */
function myProcessDataFunction(netDatagram) {
  const myIterator = new PyDatagramIterator(netDatagram);
  const msgID = myIterator.getUint8();
  if (msgID === PRINT_MESSAGE) {
    const messageToPrint = myIterator.getString();
    const sender = netDatagram.getAddress(); // UDP: the address the datagram came from
    console.log(`${sender.toString()}: ${messageToPrint}`);
    // Echo it back to the sender, from the same socket.
    cWriter.send(netDatagram, udpSocket, sender);
  }
}

/** @param {{ frame: number }} taskdata */
function tskReaderPolling(taskdata) {
  while (cReader.dataAvailable()) {
    const datagram = new NetDatagram(); // catch the incoming data in this instance
    // Check the return value; if we were threaded, someone else could have
    // snagged this data before we did
    if (!cReader.getData(datagram)) break;
    myProcessDataFunction(datagram);
  }
  return Task.cont;
}

taskMgr.add(tskReaderPolling, 'Poll the connection reader', -40);

function shutdownServer() {
  cReader.removeConnection(udpSocket);
  cManager.closeConnection(udpSocket);
  taskMgr.stop();
}
process.once('SIGINT', shutdownServer);
process.once('SIGTERM', shutdownServer);
