/** `understudy view --etcd …` options (SPEC §12): parsed, validated, absent without --etcd. */
import { expect } from 'chai';
import { normalizeViewOptions, ConfigError } from '../../common/config';

function configError(f: () => unknown): ConfigError {
  try { f(); } catch (err) { if (err instanceof ConfigError) return err; throw err; }
  throw new Error('expected a ConfigError');
}

describe('view options for several view services on etcd (SPEC §12)', () => {
  it('without --etcd there is no etcd option at all (nothing changes)', () => {
    expect(normalizeViewOptions({}, {})).to.not.have.property('etcd');
  });

  it('--etcd takes comma-separated URLs; prefix and lease TTL default to /understudy/default and 2 s', () => {
    const o = normalizeViewOptions({ etcd: 'http://127.0.0.1:2379/, http://h2:2379' }, {});
    expect(o.etcd).to.deep.equal({ endpoints: ['http://127.0.0.1:2379', 'http://h2:2379'], prefix: '/understudy/default', leaseTtlSeconds: 2, advertiseUrl: null });
    expect(Object.isFrozen(o.etcd)).to.equal(true);
  });

  it('every option has its environment variable (--advertise-url: UNDERSTUDY_ADVERTISE_URL); a flag wins over it', () => {
    const o = normalizeViewOptions({ 'lease-ttl': '5' }, { UNDERSTUDY_ETCD: 'https://e:2379', UNDERSTUDY_ETCD_PREFIX: '/understudy/prod/', UNDERSTUDY_LEASE_TTL: '3', UNDERSTUDY_ADVERTISE_URL: 'wss://vs1.example.com/' });
    expect(o.etcd).to.deep.equal({ endpoints: ['https://e:2379'], prefix: '/understudy/prod', leaseTtlSeconds: 5, advertiseUrl: 'wss://vs1.example.com' });
    expect(normalizeViewOptions({ 'advertise-url': 'ws://a:7000' }, { UNDERSTUDY_ETCD: 'http://e:2379', UNDERSTUDY_ADVERTISE_URL: 'ws://b:7000' }).etcd?.advertiseUrl).to.equal('ws://a:7000');
  });

  it('rejects what is not an etcd URL, a relative prefix, a TTL under 2 s, an advertised URL that is not ws(s):// or without --etcd, naming the flag', () => {
    expect(configError(() => normalizeViewOptions({ etcd: 'e1:2379' }, {})).message).to.match(/^--etcd must be http:\/\/HOST:PORT URLs/);
    expect(configError(() => normalizeViewOptions({ etcd: ',' }, {})).message).to.match(/^--etcd must be/);
    expect(configError(() => normalizeViewOptions({ etcd: 'http://e:2379', 'etcd-prefix': 'understudy' }, {})).message).to.match(/^--etcd-prefix must be a key path/);
    expect(configError(() => normalizeViewOptions({ etcd: 'http://e:2379', 'lease-ttl': '1' }, {})).message).to.match(/^--lease-ttl must be an integer in 2\.\.3600/);
    expect(configError(() => normalizeViewOptions({ etcd: 'http://e:2379', 'advertise-url': 'http://a:7000' }, {})).message).to.match(/^--advertise-url must be a ws:\/\/ or wss:\/\/ URL/);
    expect(configError(() => normalizeViewOptions({ 'advertise-url': 'ws://a:7000' }, {})).message).to.match(/^--advertise-url needs --etcd/);
  });
});
