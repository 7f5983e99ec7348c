// @ts-check
// A UDP client in the style of Panda3D's manual: sends one message to examples/udp-server.mjs and
// waits for the echo. UDP may lose packets, so it sends again every half second, for 5 s at most.
// Run: node examples/udp-client.mjs [port] [host]   (with examples/udp-server.mjs running)
import {
  QueuedConnectionManager,
  QueuedConnectionReader,
  ConnectionWriter,
  NetAddress,
  NetDatagram,
  PyDatagram,
  PyDatagramIterator,
} from 'pandanet';
import { taskMgr, Task } from './task-manager.mjs';

const THREADS = Number(process.env.PANDANET_THREADS ?? 0);

const cManager = new QueuedConnectionManager();
const cReader = new QueuedConnectionReader(cManager, THREADS);
const cWriter = new ConnectionWriter(cManager, THREADS);

const port_address = Number(process.argv[2] ?? 9099); // the server's port
const ip_address = process.argv[3] ?? '127.0.0.1'; // a numeric address or a host name

// Where the server is. setHost resolves names; a literal is taken as is.
const serverAddress = new NetAddress();
if (!serverAddress.setHost(ip_address, port_address)) {
  console.error(`could not resolve ${ip_address}`);
  process.exit(1);
}

// Port 0: the OS picks a free port; the server's echo comes back to it.
const myConnection = cManager.openUDPConnection();
if (myConnection === null) {
  console.error(`could not open a UDP socket: ${cManager.getLastError()?.message}`);
  process.exit(1);
}
cReader.addConnection(myConnection); // receive the server's echo

// Developer-defined constants, telling the server what to do.
const PRINT_MESSAGE = 1;

function myNewPyDatagram() {
  // Send a test message
  const myPyDatagram = new PyDatagram();
  myPyDatagram.addUint8(PRINT_MESSAGE);
  myPyDatagram.addString('Hello, world!');
  return myPyDatagram;
}

const myPyDatagram = myNewPyDatagram();
cWriter.send(myPyDatagram, myConnection, serverAddress);

/** @param {{ frame: number }} taskdata */
const tskReaderPolling = (taskdata) => {
  if (cReader.dataAvailable()) {
    const datagram = new NetDatagram();
    if (cReader.getData(datagram)) {
      const myIterator = new PyDatagramIterator(datagram);
      if (myIterator.getUint8() === PRINT_MESSAGE) console.log(`server ${datagram.getAddress().toString()} answered: ${myIterator.getString()}`);
      // done: closing the socket lets the process exit
      cManager.closeConnection(myConnection);
      return Task.done;
    }
  }
  if (taskdata.frame > 60 * 5) {
    console.error('no answer within 5 s');
    process.exitCode = 1;
    cManager.closeConnection(myConnection);
    return Task.done;
  }
  if (taskdata.frame > 0 && taskdata.frame % 30 === 0) cWriter.send(myPyDatagram, myConnection, serverAddress); // lost? send again
  return Task.cont;
};
taskMgr.add(tskReaderPolling, 'Poll the connection reader', -40);
