/**
 * A NATS operator setup for tests of `.creds` authentication (decentralised JWT auth): an operator, a
 * system account and an application account with JetStream limits, preloaded into a nats-server
 * config (`resolver: MEMORY`), and `.creds` files (user JWT + nkey seed) for users of that account
 * and of an account the server does not know. The JWTs are written here with `@nats-io/nkeys`
 * signatures (the claim layout of NATS JWT v2), so the tests need no `nsc` tool.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAccount, createOperator, createUser, type KeyPair } from '@nats-io/nkeys';
import { onTestFinished } from 'vitest';

/** The files of one operator setup. */
export interface OperatorSetup {
  /** nats-server config (operator, system account, resolver preload); pass as `-c FILE`. */
  configFile: string;
  /** `.creds` of a user of the preloaded application account. */
  credsFile: string;
  /** `.creds` of a user signed by an account the server was never told about. */
  unknownAccountCredsFile: string;
}

const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
const text = new TextDecoder();

/** A JWT signed by `signer` (its public key is the issuer). */
function jwt(signer: KeyPair, claims: Record<string, unknown>): string {
  const part = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = part({ typ: 'JWT', alg: 'ed25519-nkey' });
  const body = part({ jti: Buffer.from(crypto.getRandomValues(new Uint8Array(20))).toString('hex').toUpperCase(), iat: Math.floor(Date.now() / 1000), iss: signer.getPublicKey(), ...claims });
  const sig = Buffer.from(signer.sign(new TextEncoder().encode(`${head}.${body}`))).toString('base64url');
  return `${head}.${body}.${sig}`;
}

/** An account JWT, signed by `operator`; `jetStream` adds unlimited JetStream storage. */
function accountJwt(operator: KeyPair, account: KeyPair, name: string, jetStream: boolean): string {
  const limits = jetStream ? { ...UNLIMITED, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } : UNLIMITED;
  return jwt(operator, { sub: account.getPublicKey(), name, nats: { limits, default_permissions: { pub: {}, sub: {} }, type: 'account', version: 2 } });
}

/** The `.creds` text of a new user of `account`. */
function credsOf(account: KeyPair, name: string): string {
  const user = createUser();
  const userJwt = jwt(account, { sub: user.getPublicKey(), name, nats: { pub: {}, sub: {}, subs: -1, data: -1, payload: -1, type: 'user', version: 2 } });
  const seed = text.decode(user.getSeed());
  return `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`;
}

/** Writes a fresh operator setup into a temporary folder, removed when the test finishes. */
export function operatorSetup(): OperatorSetup {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pandanet-nats-creds-'));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  const operator = createOperator();
  const system = createAccount();
  const app = createAccount();
  const operatorJwt = jwt(operator, { sub: operator.getPublicKey(), name: 'test-operator', nats: { type: 'operator', version: 2 } });
  const config = [
    `operator: "${operatorJwt}"`,
    `system_account: ${system.getPublicKey()}`,
    'resolver: MEMORY',
    'resolver_preload: {',
    `  ${system.getPublicKey()}: "${accountJwt(operator, system, 'SYS', false)}"`,
    `  ${app.getPublicKey()}: "${accountJwt(operator, app, 'APP', true)}"`,
    '}',
    '',
  ].join('\n');
  const configFile = path.join(dir, 'server.conf');
  const credsFile = path.join(dir, 'app-user.creds');
  const unknownAccountCredsFile = path.join(dir, 'stranger.creds');
  fs.writeFileSync(configFile, config);
  fs.writeFileSync(credsFile, credsOf(app, 'app-user'), { mode: 0o600 });
  fs.writeFileSync(unknownAccountCredsFile, credsOf(createAccount(), 'stranger'), { mode: 0o600 });
  return { configFile, credsFile, unknownAccountCredsFile };
}
