// @ts-check
// Two processes' worth of an Astron-style cluster in one script: a "zone" and a "client" participant
// that address each other by channel through a message director (MD).
// Run: node examples/md/zone-and-client.mjs [HOST:PORT]   (after `npm run build`)
// Without an address it starts a MessageDirector in this process; with one it joins that MD
// (`pandanet md --listen 127.0.0.1:7199`, or Astron's own astrond).
import { MessageDirector, MdParticipant, QueuedConnectionManager, NetDatagram, PyDatagram, PyDatagramIterator } from 'pandanet';

const THREADS = Number(process.env.PANDANET_THREADS ?? 2);
const ZONE = 4000n; // the zone's channel
const CLIENT = 1_000_001n; // the client's channel
const MSG_HELLO = 1001;
const MSG_WELCOME = 1002;
const MSG_CLIENT_GONE = 1003;

/** @type {MessageDirector | null} */
let director = null;
let host = '127.0.0.1';
let port = 0;
if (process.argv[2] !== undefined) {
  const at = process.argv[2].lastIndexOf(':');
  host = process.argv[2].slice(0, at);
  port = Number(process.argv[2].slice(at + 1));
} else {
  director = new MessageDirector({ host, port: 0, threads: THREADS, name: 'example' });
  ({ port } = await director.start());
  console.log(`message director on ${host}:${port}`);
}

const manager = new QueuedConnectionManager();
const zone = await MdParticipant.connect(manager, host, port, { threads: THREADS, name: 'zone' });
const client = await MdParticipant.connect(manager, host, port, { threads: THREADS, name: 'client' });
zone.participant.registerForChannel(ZONE);
client.participant.registerForChannel(CLIENT);

// Stored in the MD now, routed by the MD when the client's connection goes away (however it goes).
const gone = new PyDatagram();
gone.addServerHeader(ZONE, CLIENT, MSG_CLIENT_GONE);
client.participant.addPostRemove(CLIENT, gone);

/** Reads Astron's header of a routed datagram; the iterator is left at the payload. @param {NetDatagram} dg */
function readHeader(dg) {
  const it = new PyDatagramIterator(dg);
  const count = it.getUint8();
  for (let i = 0; i < count; i++) it.getChannel(); // recipients
  return { from: it.getChannel(), type: it.getUint16(), it };
}

/** @param {string} name @param {PyDatagram} dg */
function hello(name, dg = new PyDatagram()) {
  dg.addServerHeader(ZONE, CLIENT, MSG_HELLO);
  dg.addString(name);
  return dg;
}

let done = false;
const zoneLoop = (async () => {
  const dg = new NetDatagram();
  while (!done && (await zone.reader.waitForDataAsync(5000))) {
    while (zone.reader.dataAvailable() && zone.reader.getData(dg)) {
      const { from, type, it } = readHeader(dg);
      if (type === MSG_HELLO) {
        const reply = new PyDatagram();
        reply.addServerHeader(from, ZONE, MSG_WELCOME); // answer whoever said hello
        reply.addString(`welcome to zone ${ZONE}, ${it.getString()}`);
        zone.participant.send(reply);
      } else if (type === MSG_CLIENT_GONE) {
        console.log(`zone: channel ${from} left (its post-remove fired)`);
        done = true;
      }
    }
  }
})();

// The zone's subscription may reach the MD after the first hello: say hello until welcomed (bounded).
const dg = new NetDatagram();
let welcomed = false;
for (let tries = 0; tries < 50 && !welcomed; tries++) {
  client.participant.send(hello('player one'));
  if (await client.reader.waitForDataAsync(100)) {
    while (client.reader.dataAvailable() && client.reader.getData(dg)) {
      const { type, it } = readHeader(dg);
      if (type === MSG_WELCOME && !welcomed) {
        console.log(`client: ${it.getString()}`);
        welcomed = true;
      }
    }
  }
}
if (!welcomed) process.exitCode = 1;
manager.closeConnection(client.connection); // the MD fires the client's post-remove to the zone
await zoneLoop;
if (!done) process.exitCode = 1;
manager.shutdown();
await director?.stop();
