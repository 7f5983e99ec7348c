// @ts-check
// The client of Panda3D's manual page "Client-Server Connection", ported line for line.
// Run: node examples/client.mjs [port] [host]   (with examples/server.mjs running)
import {
  QueuedConnectionManager,
  QueuedConnectionReader,
  ConnectionWriter,
  NetDatagram,
  PyDatagram,
  PyDatagramIterator,
} from 'pandanet';
import { taskMgr, Task } from './task-manager.mjs';

const THREADS = Number(process.env.PANDANET_THREADS ?? 0);

const cManager = new QueuedConnectionManager();
const cReader = new QueuedConnectionReader(cManager, THREADS);
const cWriter = new ConnectionWriter(cManager, THREADS);

const port_address = Number(process.argv[2] ?? 9099); // same for client and server

// a valid server URL. You can also use a DNS name
// if the server has one, such as "localhost" or "panda3d.org"
const ip_address = process.argv[3] ?? '127.0.0.1';

// how long until we give up trying to reach the server?
const timeout_in_miliseconds = 3000; // 3 seconds

const myConnection = cManager.openTCPClientConnection(ip_address, port_address, timeout_in_miliseconds);
if (myConnection) {
  cReader.addConnection(myConnection); // receive messages from server
} else {
  console.error(`could not connect: ${cManager.getLastError()?.message}`);
  process.exitCode = 1;
}

// Developer-defined constants, telling the server what to do.
// Your style of how to store this information may differ; this is
// only one way to tackle the problem
const PRINT_MESSAGE = 1;

function myNewPyDatagram() {
  // Send a test message
  const myPyDatagram = new PyDatagram();
  myPyDatagram.addUint8(PRINT_MESSAGE);
  myPyDatagram.addString('Hello, world!');
  return myPyDatagram;
}

if (myConnection) {
  const myPyDatagram = myNewPyDatagram();
  cWriter.send(myPyDatagram, myConnection);

  /** @param {{ frame: number }} taskdata */
  const tskReaderPolling = (taskdata) => {
    if (cReader.dataAvailable()) {
      const datagram = new NetDatagram();
      if (cReader.getData(datagram)) {
        const myIterator = new PyDatagramIterator(datagram);
        if (myIterator.getUint8() === PRINT_MESSAGE) console.log(`server answered: ${myIterator.getString()}`);
        // client disconnect
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
    return Task.cont;
  };
  taskMgr.add(tskReaderPolling, 'Poll the connection reader', -40);
}
