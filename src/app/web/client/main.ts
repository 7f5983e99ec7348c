/**
 * The demo page's script (loaded as an ES module by the page `startWebPage` serves): joins the live
 * world over WebSocket as a player (click or tap sets where its entity goes, arrow keys / WASD move
 * that target; INPUT datagrams at the server's tick rate) or as a spectator (one SPECTATE, which takes
 * its entity out of the world, then nothing), and
 * draws the entities of every SNAPSHOT on a canvas. `?role=player` or `?role=spectator` in the page
 * URL joins at once; otherwise the buttons choose.
 *
 * Uses only `pandanet/browser` and the game's `protocol.ts` (the same encoders the bots and the
 * server use).
 *
 * Thread: the page's main thread.
 * @module
 */
import { type BrowserConnection, PyDatagram, connect } from '../../../browser/index.js';
import { writeInput, writeSpectate } from '../../protocol.js';
import { parsePageConfig, resolveWsUrl } from './config.js';
import { PlayerControls } from './controls.js';
import { type ButtonLike, type CanvasLike, byId, pageWindow } from './dom.js';
import { WorldView } from './view.js';
import { WorldState } from './world.js';

/** How the page takes part. */
type Role = 'player' | 'spectator';

/** Inputs are not sent while this many bytes wait in the WebSocket's buffer (a slow link). */
const MAX_BUFFERED_BYTES = 64 * 1024;
/** How often the controls are read and an input may go out, ms. */
const CONTROL_INTERVAL_MS = 25;

const win = pageWindow();
const config = parsePageConfig(byId('pandanet-config').textContent);
const wsUrl = resolveWsUrl(config.ws, win.location.protocol, win.location.hostname);
const canvas = byId<CanvasLike>('world');
const view = new WorldView(canvas);
const playButton = byId<ButtonLike>('play');
const watchButton = byId<ButtonLike>('watch');
const headerStatus = byId('status');
const hint = byId('hint');
const controls = new PlayerControls(win, canvas, view, 1000);

interface Session {
  role: Role;
  conn: BrowserConnection;
  world: WorldState;
  sequence: number;
  lastInputAtMs: number;
  inputsSent: number;
}

let session: Session | null = null;
const inputDatagram = new PyDatagram();
let world = new WorldState();
let note = `not connected — choose Play or Watch (server ${wsUrl})`;

function setButtons(enabled: boolean): void {
  playButton.disabled = !enabled;
  watchButton.disabled = !enabled;
}

async function join(role: Role): Promise<void> {
  if (session !== null) return;
  setButtons(false);
  note = `connecting to ${wsUrl} as a ${role}…`;
  headerStatus.textContent = note;
  let conn: BrowserConnection;
  try {
    conn = await connect(wsUrl);
  } catch (err) {
    note = `could not connect to ${wsUrl}: ${err instanceof Error ? err.message : String(err)}`;
    headerStatus.textContent = note;
    setButtons(true);
    return;
  }
  const s: Session = { role, conn, world: new WorldState(), sequence: 0, lastInputAtMs: 0, inputsSent: 0 };
  session = s;
  if (role === 'spectator') {
    const spectate = new PyDatagram();
    writeSpectate(spectate);
    conn.send(spectate); // the server takes this client's entity out of the world
  }
  world = s.world;
  headerStatus.textContent = `${role} · ${wsUrl}`;
  hint.hidden = role !== 'player';
  conn.onDatagram = (dg) => {
    const kind = s.world.apply(dg, performance.now());
    if (kind === 'snapshot' && s.role === 'player' && controls.target === null) {
      const me = s.world.self();
      if (me !== null) controls.startAt(me, s.world.worldSize);
    }
  };
  conn.onClose = (code, reason) => {
    controls.stop();
    controls.target = null;
    session = null;
    hint.hidden = true;
    note = `disconnected (close code ${code}${reason === '' ? '' : `: ${reason}`}) — choose Play or Watch to join again`;
    headerStatus.textContent = note;
    setButtons(true);
  };
}

/** Reads the controls and sends an INPUT when one is due (players only). */
function controlTick(dtMs: number): void {
  const s = session;
  if (s === null || s.role !== 'player') return;
  controls.update(dtMs);
  const target = controls.target;
  if (target === null || !s.conn.isOpen) return;
  const now = performance.now();
  if (now - s.lastInputAtMs < 1000 / s.world.tickRate || s.conn.bufferedAmount > MAX_BUFFERED_BYTES) return;
  s.lastInputAtMs = now;
  s.sequence++;
  writeInput(inputDatagram, { sequence: s.sequence, x: target.x, y: target.y, sendTimeMs: now });
  s.conn.send(inputDatagram);
  s.inputsSent++;
}

function statusLine(): string {
  const s = session;
  if (s === null) return note;
  const w = s.world;
  const parts = [s.role === 'player' ? `player #${w.entityId}` : 'spectator', `tick ${w.tick < 0 ? '–' : w.tick}`, `${w.entityCount} entities`];
  if (s.role === 'player') parts.push(`inputs ${s.inputsSent}`, `rtt ${w.rttMs === null ? '–' : `${w.rttMs.toFixed(1)} ms`}`);
  return parts.join(' · ');
}

function frame(): void {
  const now = performance.now();
  view.draw(
    {
      worldSize: world.worldSize,
      entities: world.positionsAt(now),
      selfId: session?.role === 'player' ? world.entityId : -1,
      target: session?.role === 'player' ? controls.target : null,
      status: statusLine(),
    },
    win.devicePixelRatio || 1,
  );
  win.requestAnimationFrame(frame);
}

playButton.addEventListener('click', () => void join('player'));
watchButton.addEventListener('click', () => void join('spectator'));
let lastControlAt = performance.now();
setInterval(() => {
  const now = performance.now();
  controlTick(now - lastControlAt);
  lastControlAt = now;
}, CONTROL_INTERVAL_MS);
win.requestAnimationFrame(frame);

const asked = new URLSearchParams(win.location.search).get('role');
if (asked === 'player' || asked === 'spectator') void join(asked);
else setButtons(true);
