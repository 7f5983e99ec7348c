/**
 * NATS credentials and TLS reach the mesh's client (issue 16), against real nats-servers that require
 * them: a user and password (in the URL, percent-encoded, or as options), a token (in the URL or as
 * an option), a `.creds` file (a server in operator mode: user JWT + nkey seed), and a TLS-only server
 * (the node trusts its self-signed certificate with `tls.caFile`). Nodes with the right credentials
 * join and route across; a wrong password, a missing token, a user of an unknown account and a node
 * that does not trust the certificate are refused at `start()` with a typed `SocketError`.
 * Every thread mode.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { MessageDirector } from '../../src/index.js';
import type { MdNatsOptions } from '../../src/md/mesh.js';
import { MODES, waitFor } from '../helpers/net.js';
import { connectParticipant, ctl, hex, mdDg } from '../helpers/md.js';
import { startMeshMd, startNats } from '../helpers/nats.js';
import { operatorSetup } from '../helpers/nats-creds.js';

/** A self-signed certificate for 127.0.0.1 (CN; subjectAltName IP:127.0.0.1 and DNS:localhost, the name the NATS client checks for an IP), made with the `openssl` CLI; its files' paths. */
function certFor127(): { certFile: string; keyFile: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pandanet-nats-tls-'));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  return { certFile, keyFile };
}

/** Two nodes route across: a participant on `a` subscribed to channel 500 gets what one on `b` sends to it. */
async function routesAcross(a: { md: MessageDirector; port: number }, b: { md: MessageDirector; port: number }): Promise<void> {
  const sub = await connectParticipant(a.port, 'subscriber');
  const pub = await connectParticipant(b.port, 'sender');
  await sub.send(ctl({ kind: 'addChannel', channel: 500 }));
  await waitFor(() => b.md.meshHolders(500).includes(a.md.getStats().meshNode), { what: 'the sender’s node to see the subscriber’s interest' });
  const dg = mdDg([500], 9, 1, [1, 2, 3]);
  await pub.send(dg);
  expect(await sub.waitFrames(1)).toEqual([hex(dg)]);
}

/** `start()` of a node with `nats` options rejects with a SocketError. */
async function refused(threads: number, nats: MdNatsOptions): Promise<string> {
  const { MessageDirector } = await import('../../src/index.js');
  const md = new MessageDirector({ host: '127.0.0.1', port: 0, threads, name: 'refused', nats: { connectTimeoutMs: 2000, ...nats } });
  onTestFinished(() => md.stop());
  const err: unknown = await md.start().then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toMatchObject({ code: 'ERR_PANDANET_SOCKET' });
  return (err as Error).message;
}

describe.each(MODES)('mesh credentials and TLS ($name)', ({ threads }) => {
  it('a user and password (URL, percent-encoded, or options) and a token (URL or option) are sent; wrong or missing ones are refused', async () => {
    const withUser = await startNats({ args: ['--user', 'alice', '--pass', 'p@ss/w'] });
    const hostPort = withUser.url.slice('nats://'.length);
    const a = await startMeshMd(threads, withUser, { servers: `nats://alice:${encodeURIComponent('p@ss/w')}@${hostPort}` }, { name: 'url-creds' });
    const b = await startMeshMd(threads, withUser, { user: 'alice', pass: 'p@ss/w' }, { name: 'option-creds' });
    await routesAcross(a, b);
    expect(await refused(threads, { servers: withUser.url, user: 'alice', pass: 'wrong' })).toMatch(/authoriz/i);

    const withToken = await startNats({ args: ['--auth', 's3cret-token'] });
    const c = await startMeshMd(threads, withToken, { servers: `nats://s3cret-token@${withToken.url.slice('nats://'.length)}` }, { name: 'url-token' });
    const d = await startMeshMd(threads, withToken, { token: 's3cret-token' }, { name: 'option-token' });
    await routesAcross(d, c);
    expect(await refused(threads, { servers: withToken.url })).toMatch(/authoriz/i);
  });

  it('a .creds file (operator mode) is sent: nodes join, route and open the post-remove store; a user of an account the server does not know is refused', async () => {
    const { configFile, credsFile, unknownAccountCredsFile } = operatorSetup();
    const nats = await startNats({ args: ['-c', configFile] });
    const a = await startMeshMd(threads, nats, { credsFile }, { name: 'creds-a' });
    const b = await startMeshMd(threads, nats, { credsFile }, { name: 'creds-b' });
    await waitFor(() => a.md.getStats().meshKv === 'up', { what: 'the post-remove store to open in the creds user’s account' });
    await routesAcross(a, b);
    expect(await refused(threads, { servers: nats.url })).toMatch(/authoriz/i);
    expect(await refused(threads, { servers: nats.url, credsFile: unknownAccountCredsFile })).toMatch(/authoriz/i);
  });

  it('TLS: nodes that trust the server’s certificate (tls.caFile) join a TLS-only NATS and route; one that does not trust it is refused', async () => {
    const { certFile, keyFile } = certFor127();
    const nats = await startNats({ args: ['--tls', '--tlscert', certFile, '--tlskey', keyFile] });
    const a = await startMeshMd(threads, nats, { tls: { caFile: certFile } }, { name: 'tls-a' });
    const b = await startMeshMd(threads, nats, { tls: { caFile: certFile } }, { name: 'tls-b' });
    expect(a.md.getStats().meshKv).toBe('up');
    await routesAcross(b, a);
    // Without `tls` the client still upgrades (the server requires it), and refuses the unknown certificate.
    expect(await refused(threads, { servers: nats.url })).toMatch(/certificate/i);
  });
});
