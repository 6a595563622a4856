/**
 * common/config.ts: flag > environment > default, eager validation with messages naming
 * the flag, frozen results (STYLE §8). Pure: the environment is an argument.
 */
import { expect } from 'chai';
import { normalizeViewOptions, normalizeReplicaOptions, DEFAULTS, ConfigError } from '../../common/config';
import { DEFAULT_LIMITS } from '../../common/limits';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('common/config', () => {
  describe('#normalizeViewOptions', () => {
    it('takes --data-dir over UNDERSTUDY_DATA_DIR; none by default', () => {
      expect(normalizeViewOptions({}, {}).dataDir).to.equal(null);
      expect(normalizeViewOptions({}, { UNDERSTUDY_DATA_DIR: '/var/lib/understudy' }).dataDir).to.equal('/var/lib/understudy');
      expect(normalizeViewOptions({ 'data-dir': 'here' }, { UNDERSTUDY_DATA_DIR: '/elsewhere' }).dataDir).to.equal('here');
      expect(configError(() => normalizeViewOptions({ 'data-dir': ' ' }, {})).message).to.equal('--data-dir must be a directory path (got " ")');
    });

    it('uses the defaults with no flags and an empty environment', () => {
      expect(normalizeViewOptions({}, {})).to.deep.equal({
        port: 7000,
        host: '0.0.0.0',
        pingIntervalMs: 100,
        deadPings: 5,
        clusterToken: null,
        clientToken: null,
        logLevel: 'info',
        maxConnections: 10000,
        maxSubscribers: 8000,
        limits: DEFAULT_LIMITS,
        dataDir: null,
        keepaliveMs: 15000,
      });
    });

    it('returns a frozen object', () => {
      const o = normalizeViewOptions({}, {});
      expect(Object.isFrozen(o)).to.equal(true);
      expect(() => { (o as { port: number }).port = 1; }).to.throw(TypeError);
    });

    const env = {
      PORT: '7100', HOST: '127.0.0.2', UNDERSTUDY_PING_INTERVAL: '40', UNDERSTUDY_DEAD_PINGS: '7',
      UNDERSTUDY_CLUSTER_TOKEN: 'envc', UNDERSTUDY_CLIENT_TOKEN: 'envk', LOG_LEVEL: 'debug', UNDERSTUDY_MAX_CONNECTIONS: '50',
    };

    it('takes every option from the environment when no flag is given', () => {
      expect(normalizeViewOptions({}, env)).to.include({
        port: 7100, host: '127.0.0.2', pingIntervalMs: 40, deadPings: 7, clusterToken: 'envc', clientToken: 'envk', logLevel: 'debug', maxConnections: 50,
      });
    });

    it('prefers a flag over the environment (flag > env > default)', () => {
      const flags = {
        port: 0, host: '::1', 'ping-interval': '20', 'dead-pings': 3, 'cluster-token': 'flagc', 'client-token': 'flagk', 'log-level': 'warn', 'max-connections': '9',
      };
      expect(normalizeViewOptions(flags, env)).to.include({
        port: 0, host: '::1', pingIntervalMs: 20, deadPings: 3, clusterToken: 'flagc', clientToken: 'flagk', logLevel: 'warn', maxConnections: 9,
      });
    });

    it('treats an empty environment variable as unset', () => {
      expect(normalizeViewOptions({}, { PORT: '', UNDERSTUDY_DEAD_PINGS: '', UNDERSTUDY_CLUSTER_TOKEN: '' })).to.include({ port: 7000, deadPings: 5, clusterToken: null });
    });

    it('treats an empty token flag as no token', () => {
      expect(normalizeViewOptions({ 'client-token': '' }, { UNDERSTUDY_CLIENT_TOKEN: 'x' }).clientToken).to.equal(null);
    });

    it('accepts integers as strings with surrounding spaces, or as numbers', () => {
      expect(normalizeViewOptions({ 'dead-pings': ' 8 ', 'ping-interval': 25 }, {})).to.include({ deadPings: 8, pingIntervalMs: 25 });
    });

    const rejected: [Record<string, string | number>, Record<string, string>, string][] = [
      [{ 'dead-pings': 'abc' }, {}, '--dead-pings must be a positive integer (got "abc")'],
      [{ 'dead-pings': '0' }, {}, '--dead-pings must be a positive integer (got "0")'],
      [{ 'dead-pings': '2.5' }, {}, '--dead-pings must be a positive integer (got "2.5")'],
      [{ 'dead-pings': '' }, {}, '--dead-pings must be a positive integer (got "")'],
      [{ 'dead-pings': '20000' }, {}, '--dead-pings must be an integer in 1..10000 (got "20000")'],
      [{}, { UNDERSTUDY_DEAD_PINGS: 'five' }, '--dead-pings must be a positive integer (got "five")'],
      [{ 'ping-interval': '-5' }, {}, '--ping-interval must be a positive integer (got "-5")'],
      [{ 'ping-interval': 1.5 }, {}, '--ping-interval must be a positive integer (got "1.5")'],
      [{}, { UNDERSTUDY_PING_INTERVAL: '10ms' }, '--ping-interval must be a positive integer (got "10ms")'],
      [{ port: 'http' }, {}, '--port must be a non-negative integer (got "http")'],
      [{ port: 70000 }, {}, '--port must be an integer in 0..65535 (got "70000")'],
      [{}, { PORT: '-1' }, '--port must be a non-negative integer (got "-1")'],
      [{ 'max-connections': '2000000' }, {}, '--max-connections must be an integer in 1..1000000 (got "2000000")'],
      [{ 'log-level': 'loud' }, {}, '--log-level must be one of fatal, error, warn, info, debug, trace, silent (got "loud")'],
      [{}, { LOG_LEVEL: 'verbose' }, '--log-level must be one of fatal, error, warn, info, debug, trace, silent (got "verbose")'],
    ];
    for (const [flags, environment, message] of rejected) {
      it(`rejects ${JSON.stringify({ ...flags, ...environment })}: ${message}`, () => {
        expect(configError(() => normalizeViewOptions(flags, environment)).message).to.equal(message);
      });
    }

    it('names the flag even when the bad value came from the environment', () => {
      expect(configError(() => normalizeViewOptions({}, { PORT: 'x' })).message).to.match(/^--port /);
    });

    it('bounds subscriptions at 80% of maxConnections by default, leaving room for replica links (issue #5)', () => {
      expect(normalizeViewOptions({ 'max-connections': 100 }, {}).maxSubscribers).to.equal(80);
      expect(normalizeViewOptions({ 'max-connections': 1 }, {}).maxSubscribers).to.equal(1);
      expect(normalizeViewOptions({}, { UNDERSTUDY_MAX_SUBSCRIBERS: '12' }).maxSubscribers).to.equal(12);
      expect(normalizeViewOptions({ 'max-subscribers': '7' }, { UNDERSTUDY_MAX_SUBSCRIBERS: '12' }).maxSubscribers).to.equal(7);
    });

    it('rejects --max-subscribers above --max-connections, naming both', () => {
      expect(configError(() => normalizeViewOptions({ 'max-connections': 10, 'max-subscribers': 11 }, {})).message)
        .to.equal('--max-subscribers must be at most --max-connections (10) (got "11")');
      expect(configError(() => normalizeViewOptions({}, { UNDERSTUDY_MAX_SUBSCRIBERS: '0' })).message)
        .to.equal('--max-subscribers must be a positive integer (got "0")');
    });
  });

  describe('#normalizeReplicaOptions', () => {
    it('uses the defaults: port 7101, the local view service, url from the port', () => {
      expect(normalizeReplicaOptions({}, {})).to.deep.equal({
        port: 7101,
        host: '0.0.0.0',
        viewUrl: DEFAULTS.viewUrl,
        viewUrls: [DEFAULTS.viewUrl],
        url: 'ws://127.0.0.1:7101',
        pingIntervalMs: 100,
        clusterToken: null,
        clientToken: null,
        logLevel: 'info',
        maxConnections: 10000,
        limits: DEFAULT_LIMITS,
        keepaliveMs: 15000,
        dataDir: null,
        fsync: 'always',
        resetData: false,
        snapshotLogBytes: 8 * 1024 * 1024,
        standby: 'hot',
      });
    });

    it('returns a frozen object', () => {
      expect(Object.isFrozen(normalizeReplicaOptions({}, {}))).to.equal(true);
    });

    it('takes --data-dir over UNDERSTUDY_DATA_DIR and --fsync over UNDERSTUDY_FSYNC; --fsync is always, everysec or no (SPEC §9)', () => {
      const o = normalizeReplicaOptions({ 'data-dir': 'd1', fsync: 'everysec', 'reset-data': true }, { UNDERSTUDY_DATA_DIR: 'd2', UNDERSTUDY_FSYNC: 'no' });
      expect([o.dataDir, o.fsync, o.resetData]).to.deep.equal(['d1', 'everysec', true]);
      const e = normalizeReplicaOptions({}, { UNDERSTUDY_DATA_DIR: 'd2', UNDERSTUDY_FSYNC: 'no' });
      expect([e.dataDir, e.fsync, e.resetData]).to.deep.equal(['d2', 'no', false]);
      expect(() => normalizeReplicaOptions({ fsync: 'sometimes' }, {})).to.throw('--fsync must be always, everysec or no (got "sometimes")');
    });

    it('takes --keepalive-interval over UNDERSTUDY_KEEPALIVE_INTERVAL; 0 turns keepalive off', () => {
      expect(normalizeReplicaOptions({ 'keepalive-interval': '0' }, { UNDERSTUDY_KEEPALIVE_INTERVAL: '5000' }).keepaliveMs).to.equal(0);
      expect(normalizeReplicaOptions({}, { UNDERSTUDY_KEEPALIVE_INTERVAL: '5000' }).keepaliveMs).to.equal(5000);
      expect(configError(() => normalizeReplicaOptions({ 'keepalive-interval': '-1' }, {})).message)
        .to.equal('--keepalive-interval must be a non-negative integer (got "-1")');
    });

    it('leaves url null with --port 0 (known only once bound)', () => {
      expect(normalizeReplicaOptions({ port: 0 }, {}).url).to.equal(null);
    });

    it('derives url from the port, unless --url / UNDERSTUDY_URL is given', () => {
      expect(normalizeReplicaOptions({ port: '7201' }, {}).url).to.equal('ws://127.0.0.1:7201');
      expect(normalizeReplicaOptions({ port: 0 }, { UNDERSTUDY_URL: 'ws://public:80' }).url).to.equal('ws://public:80');
      expect(normalizeReplicaOptions({ url: 'wss://flag:443/' }, { UNDERSTUDY_URL: 'ws://env:1' }).url).to.equal('wss://flag:443');
    });

    it('takes the view URL flag > UNDERSTUDY_VIEW > default, without trailing slashes', () => {
      expect(normalizeReplicaOptions({}, { UNDERSTUDY_VIEW: 'ws://vs:7000/' }).viewUrl).to.equal('ws://vs:7000');
      expect(normalizeReplicaOptions({ view: 'wss://flag:1' }, { UNDERSTUDY_VIEW: 'ws://vs:7000' }).viewUrl).to.equal('wss://flag:1');
    });

    it('takes several view-service URLs, comma-separated, each checked (SPEC §12)', () => {
      const o = normalizeReplicaOptions({}, { UNDERSTUDY_VIEW: 'ws://a:7000/, ws://b:7000' });
      expect(o.viewUrls).to.deep.equal(['ws://a:7000', 'ws://b:7000']);
      expect(o.viewUrl).to.equal('ws://a:7000');
      expect(configError(() => normalizeReplicaOptions({ view: 'ws://a:7000,http://b' }, {})).message).to.equal('--view must be a ws:// or wss:// URL (got "http://b")');
    });

    it('takes tokens and ping interval from flags over the environment', () => {
      const o = normalizeReplicaOptions({ 'ping-interval': 20, 'cluster-token': 'f' }, { UNDERSTUDY_PING_INTERVAL: '30', UNDERSTUDY_CLUSTER_TOKEN: 'e', UNDERSTUDY_CLIENT_TOKEN: 'k' });
      expect(o).to.include({ pingIntervalMs: 20, clusterToken: 'f', clientToken: 'k' });
    });

    const rejected: [Record<string, string | number>, Record<string, string>, string][] = [
      [{ view: 'http://vs:7000' }, {}, '--view must be a ws:// or wss:// URL (got "http://vs:7000")'],
      [{ view: 'not a url' }, {}, '--view must be a ws:// or wss:// URL (got "not a url")'],
      [{}, { UNDERSTUDY_VIEW: 'vs:7000' }, '--view must be a ws:// or wss:// URL (got "vs:7000")'],
      [{ url: 'tcp://x:1' }, {}, '--url must be a ws:// or wss:// URL (got "tcp://x:1")'],
      [{ port: '71o1' }, {}, '--port must be a non-negative integer (got "71o1")'],
      [{ 'ping-interval': '0' }, {}, '--ping-interval must be a positive integer (got "0")'],
    ];
    for (const [flags, environment, message] of rejected) {
      it(`rejects ${JSON.stringify({ ...flags, ...environment })}: ${message}`, () => {
        expect(configError(() => normalizeReplicaOptions(flags, environment)).message).to.equal(message);
      });
    }
  });

  it('DEFAULTS is frozen and matches SPEC §4/§8', () => {
    expect(Object.isFrozen(DEFAULTS)).to.equal(true);
    expect(DEFAULTS).to.include({ viewPort: 7000, replicaPort: 7101, pingIntervalMs: 100, deadPings: 5, viewUrl: 'ws://127.0.0.1:7000', timeoutMs: 5000 });
    expect(DEFAULTS.limits).to.deep.equal({ maxKeyBytes: 1024, maxValueBytes: 1024 * 1024, maxMessageBytes: 2 * 1024 * 1024 });
  });
});
