/**
 * SPEC §11: `--tls-cert FILE --tls-key FILE`: the process serves wss:// and https:// itself.
 * A self-signed certificate for 127.0.0.1 is made with openssl in a temp folder; the client
 * trusts it through an injected WebSocket constructor (as a page would through its CA).
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as https from 'node:https';
import WebSocket from 'ws';
import { connect } from '../../client/node';
import type { WebSocketCtor } from '../../client/connection';
import { teardownAfterEach } from '../support/teardown';
import { inProcess } from '../support/in-process';
import { JWT_SECRET, tokenFor, rulesFile } from '../support/jwt';

const teardown = teardownAfterEach();
const cluster = inProcess(teardown);

function selfSigned(): { cert: string; key: string; ca: Buffer } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'understudy-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key, ca: fs.readFileSync(cert) };
}

describe('TLS (SPEC §11)', function () {
  this.timeout(15_000);

  it('a replica with --tls-cert/--tls-key serves wss:// (clients with JWTs) and https:// (SPEC §11)', async () => {
    const tls = selfSigned();
    const auth = { 'jwt-secret': JWT_SECRET, rules: rulesFile() };
    const vs = await cluster.startVs(auth);
    const r = await cluster.startRep(vs, { ...auth, 'tls-cert': tls.cert, 'tls-key': tls.key });
    expect(r.id).to.match(/^wss:\/\/127\.0\.0\.1:\d+$/);
    const status = await new Promise<number>((resolve, reject) => {
      https.get(`https://127.0.0.1:${r.port}/healthz`, { ca: tls.ca }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
    });
    expect(status).to.equal(200);
    class TrustingWebSocket extends WebSocket {
      constructor(url: string | URL) { super(url, { ca: tls.ca }); }
    }
    const store = await connect({ view: vs.url, timeoutMs: 5000, token: await tokenFor('alice'), WebSocket: TrustingWebSocket as unknown as WebSocketCtor });
    teardown.push(() => store.close());
    await store.put('user:alice:k', 'v');
    expect(await store.get('user:alice:k')).to.equal('v');
  });
});
