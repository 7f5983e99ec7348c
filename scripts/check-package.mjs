#!/usr/bin/env node
// The package as a library consumer gets it: `npm pack`, install the tarball in an empty folder, and
// check that (1) only the library's own dependencies were installed (not the demo's or the bench's,
// not the optional NATS peers), (2) `import('pandanet')` and `require('pandanet')` (and
// `pandanet/metrics`) load on every Node given, and a datagram makes a round trip through a threaded
// manager loaded from the installed copy (its I/O worker included).
//
//   npm run check:package                       # this Node only
//   npm run check:package -- --node /path/to/node22 --node /path/to/node26
//
// Needs the npm registry (or a warm npm cache) for the dependencies. Exit 0 when every check passed.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { node: { type: 'string', multiple: true }, keep: { type: 'boolean' } } });
const nodes = [process.execPath, ...(values.node ?? [])];
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const work = mkdtempSync(path.join(tmpdir(), 'pandanet-check-package-'));
let failed = 0;

function check(ok, what, detail = '') {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? `: ${detail}` : ''}`);
  if (!ok) failed++;
}

try {
  // 1. Pack (runs `prepare`, i.e. the build) and install the tarball in an empty consumer.
  const packed = JSON.parse(execFileSync(npm, ['pack', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
  const tarball = path.join(work, packed[0].filename);
  console.log(`packed ${packed[0].filename}: ${packed[0].entryCount} files, ${Math.round(packed[0].size / 1024)} kB`);
  const files = packed[0].files.map((f) => f.path);
  check(files.includes('LICENSE'), 'the tarball has LICENSE');
  const maps = files.filter((f) => f.endsWith('.js.map'));
  const missingSources = maps.filter((m) => {
    const src = path.posix.join(path.posix.dirname(m), JSON.parse(readFileSync(path.join(root, m), 'utf8')).sources[0]);
    return !files.includes(src);
  });
  check(missingSources.length === 0, 'every source map ships its source', missingSources.length ? `${missingSources.length} without (e.g. ${missingSources[0]})` : `${maps.length} maps`);

  const consumer = path.join(work, 'consumer');
  mkdirSync(consumer);
  writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  execFileSync(npm, ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: consumer, stdio: 'inherit' });

  // 2. What was installed, against what pandanet declares at run time.
  const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const runtime = { ...manifest.dependencies, ...manifest.optionalDependencies };
  const ls = spawnSync(npm, ['ls', '--all', '--parseable'], { cwd: consumer, encoding: 'utf8' });
  const installed = [...new Set(ls.stdout.split('\n').filter((l) => l.includes('node_modules')).map((l) => l.slice(l.lastIndexOf('node_modules/') + 13)))].sort();
  const own = new Set(['pandanet']);
  const queue = Object.keys(runtime);
  while (queue.length > 0) {
    const name = queue.pop();
    if (own.has(name) || !installed.includes(name)) continue;
    own.add(name);
    const pj = JSON.parse(readFileSync(path.join(consumer, 'node_modules', name, 'package.json'), 'utf8'));
    queue.push(...Object.keys({ ...pj.dependencies, ...pj.optionalDependencies }));
  }
  console.log(`installed (${installed.length}): ${installed.join(', ')}`);
  const stray = installed.filter((n) => !own.has(n));
  check(stray.length === 0, 'only pandanet, its dependencies and theirs are installed', stray.join(', '));
  const notRuntime = Object.keys({ ...manifest.devDependencies, ...manifest.peerDependencies }).filter((n) => !(n in runtime) && installed.includes(n));
  check(notRuntime.length === 0, 'no devDependency or optional peer is installed', notRuntime.join(', '));

  // 3. import and require on each Node, and a round trip through an I/O thread.
  const probe = (mod) => `
    const p = ${mod('pandanet')};
    const m = ${mod('pandanet/metrics')};
    if (typeof p.QueuedConnectionManager !== 'function' || typeof m.MetricsRegistry !== 'function') throw new Error('exports missing');
    const manager = new p.QueuedConnectionManager();
    const listener = new p.QueuedConnectionListener(manager, 1);
    const reader = new p.QueuedConnectionReader(manager, 1);
    const writer = new p.ConnectionWriter(manager, 1);
    const rv = manager.openTCPServerRendezvous('127.0.0.1', 0, 10);
    listener.addConnection(rv);
    const client = manager.openTCPClientConnection('127.0.0.1', rv.getLocalAddress().getPort(), 3000);
    if (client === null) throw new Error('connect failed: ' + manager.getLastError());
    const dg = new p.Datagram(); dg.addString('hello');
    const deadline = Date.now() + 10000;
    const tick = () => {
      if (Date.now() > deadline) { console.error('no round trip within 10 s'); process.exit(1); }
      const a = new p.PointerToConnection(), addr = new p.NetAddress(), n = new p.PointerToConnection();
      while (listener.newConnectionAvailable()) if (listener.getNewConnection(a, addr, n)) { reader.addConnection(n.p()); writer.send(dg, client); }
      if (reader.dataAvailable()) {
        const got = new p.NetDatagram();
        reader.getData(got);
        const text = new p.DatagramIterator(got).getString();
        manager.shutdown();
        console.log('round trip: ' + text);
        return;
      }
      setTimeout(tick, 5);
    };
    tick();`;
  const cjs = probe((n) => `require('${n}')`);
  // No --input-type here: the I/O workers inherit execArgv, and a worker refuses --input-type.
  const esm = `const load = (n) => import(n); (async () => { ${probe((n) => `await load('${n}')`)} })().catch((e) => { console.error(e); process.exit(1); });`;
  const rows = [];
  for (const node of nodes) {
    const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
    const row = { version };
    for (const [kind, args] of [['import', ['-e', esm]], ['require', ['-e', cjs]]]) {
      const r = spawnSync(node, args, { cwd: consumer, encoding: 'utf8', timeout: 30_000 });
      const ok = r.status === 0 && r.stdout.includes('round trip: hello');
      row[kind] = ok ? 'ok' : 'FAIL';
      check(ok, `${version} ${kind}('pandanet') + round trip`, ok ? (r.stderr.includes('ExperimentalWarning') ? 'with an ExperimentalWarning' : '') : (r.stderr || r.stdout).trim().split('\n').slice(0, 3).join(' | '));
    }
    rows.push(row);
  }
  // 4. The NATS mesh without its optional peers: a typed error that names them, no crash.
  const mesh = spawnSync(process.execPath, ['-e', `
    import('pandanet').then(async (p) => {
      const md = new p.MessageDirector({ host: '127.0.0.1', port: 0, nats: { servers: 'nats://127.0.0.1:4222' } });
      try { await md.start(); console.log('started?!'); await md.stop(); }
      catch (e) { console.log(e.code + ' ' + e.message); }
    });`], { cwd: consumer, encoding: 'utf8', timeout: 30_000 });
  check(/^ERR_PANDANET_MISSING_DEPENDENCY .*@nats-io\/transport-node/.test(mesh.stdout), 'the mesh without @nats-io/* fails with MissingDependencyError naming them', mesh.stdout.trim().slice(0, 160) || mesh.stderr.trim().slice(0, 160));

  // 5. The types, as a strict TypeScript consumer sees them (skipLibCheck off: no missing module in any .d.ts).
  writeFileSync(path.join(consumer, 'use.mts'), [
    "import { QueuedConnectionManager, type ManagerStats } from 'pandanet';",
    "import { ManagerCollector, MetricsRegistry } from 'pandanet/metrics';",
    'const manager = new QueuedConnectionManager();',
    'new ManagerCollector(new MetricsRegistry(), (): ManagerStats => manager.getStats());',
  ].join('\n'));
  const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict', '--skipLibCheck', 'false',
    '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--lib', 'es2023,es2024.sharedmemory',
    '--typeRoots', path.join(root, 'node_modules', '@types'), '--types', 'node', 'use.mts'], { cwd: consumer, encoding: 'utf8', timeout: 120_000 });
  check(tsc.status === 0, "a strict TypeScript consumer compiles against 'pandanet' and 'pandanet/metrics'", (tsc.stdout + tsc.stderr).trim().split('\n').slice(0, 3).join(' | '));

  // 6. The browser entry points: they load in Node too, and a browser TypeScript consumer (DOM
  // library, no Node types) compiles against them (no Node type in their .d.ts graph).
  const browserImport = spawnSync(process.execPath, ['-e', `
    Promise.all([import('pandanet/datagram'), import('pandanet/browser')]).then(([d, b]) => {
      const dg = new d.PyDatagram(); dg.addString('hi');
      console.log(typeof b.connect + ' ' + new b.PyDatagramIterator(dg).getString() + ' ' + b.ErrorCode.CONNECT_TIMEOUT);
    });`], { cwd: consumer, encoding: 'utf8', timeout: 30_000 });
  check(browserImport.stdout.trim() === 'function hi ERR_PANDANET_CONNECT_TIMEOUT', "import('pandanet/datagram') and import('pandanet/browser') in Node", (browserImport.stdout + browserImport.stderr).trim().slice(0, 160));
  writeFileSync(path.join(consumer, 'use-browser.mts'), [
    "import { connect, PyDatagram, PyDatagramIterator, type BrowserConnection } from 'pandanet/browser';",
    "import { Datagram } from 'pandanet/datagram';",
    "const conn: BrowserConnection = await connect('ws://127.0.0.1:9/', { timeoutMs: 1000 });",
    'conn.onDatagram = (dg: Datagram) => { new PyDatagramIterator(dg).getUint8(); };',
    'const dg = new PyDatagram(); dg.addUint8(1); conn.send(dg);',
  ].join('\n'));
  writeFileSync(path.join(consumer, 'tsconfig.browser.json'), JSON.stringify({
    compilerOptions: { noEmit: true, strict: true, skipLibCheck: false, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2023', 'dom'], types: [] },
    files: ['use-browser.mts'],
  }));
  const tscBrowser = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.browser.json'], { cwd: consumer, encoding: 'utf8', timeout: 120_000 });
  check(tscBrowser.status === 0, "a browser TypeScript consumer (lib dom, no @types/node) compiles against 'pandanet/browser' and 'pandanet/datagram'", (tscBrowser.stdout + tscBrowser.stderr).trim().split('\n').slice(0, 3).join(' | '));

  console.log('\n| Node | import | require |\n|---|---|---|');
  for (const r of rows) console.log(`| ${r.version} | ${r.import} | ${r.require} |`);
} finally {
  if (values.keep) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
console.log(failed === 0 ? '\ncheck-package: all checks passed' : `\ncheck-package: ${failed} check(s) failed`);
process.exitCode = failed === 0 ? 0 : 1;
