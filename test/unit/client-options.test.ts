/**
 * client/options.ts: connect()'s defaults and eager validation (SPEC §7). Pure: the WebSocket
 * constructor and the id maker are passed in. Each bad option is refused BAD_REQUEST with a
 * message that names it.
 */
import { expect } from 'chai';
import { resolveOptions, CONNECT_DEFAULTS, randomId, ConnectOptions } from '../../client/options';
import type { WebSocketCtor } from '../../client/connection';
import { UnderstudyError } from '../../common/errors';
import { DEFAULT_BACKOFF } from '../../common/backoff';
import { DEFAULT_LIMITS } from '../../common/limits';
import { noopLogger } from '../../common/logger';

const FakeWebSocket = function FakeWebSocket() { /* never constructed here */ } as unknown as WebSocketCtor;
const VIEW = 'ws://127.0.0.1:7000';
const fixedId = (): string => 'id-1';

/** The error resolveOptions throws for `o` (fails the test if it throws none). */
function refusal(o: unknown, WebSocket: WebSocketCtor | null = FakeWebSocket): UnderstudyError {
  try {
    resolveOptions(o as ConnectOptions, WebSocket ?? undefined, fixedId);
  } catch (err) {
    expect(err).to.be.instanceOf(UnderstudyError);
    return err as UnderstudyError;
  }
  throw new Error(`resolveOptions accepted ${JSON.stringify(o)}`);
}

describe('client/options', () => {
  describe('defaults', () => {
    it('fills in every default (SPEC §7: timeoutMs 5000, attemptTimeoutMs min(1000, timeoutMs / 3))', () => {
      const r = resolveOptions({ view: VIEW }, FakeWebSocket, fixedId);
      expect(r).to.deep.equal({
        viewUrl: VIEW, viewUrls: [VIEW], timeoutMs: 5000, token: null, tokenFn: null, WebSocket: FakeWebSocket, logger: noopLogger,
        backoff: DEFAULT_BACKOFF, clientId: 'id-1', attemptTimeoutMs: 1000, sessionTtlMs: 10_000, limits: DEFAULT_LIMITS,
      });
      expect(Object.isFrozen(r)).to.equal(true);
      expect(CONNECT_DEFAULTS.timeoutMs).to.equal(5000);
    });

    it('takes several view-service URLs (SPEC §12): viewUrl is the first', () => {
      const r = resolveOptions({ view: ['ws://a:7000', 'ws://b:7000'] }, FakeWebSocket, fixedId);
      expect([r.viewUrl, r.viewUrls]).to.deep.equal(['ws://a:7000', ['ws://a:7000', 'ws://b:7000']]);
    });

    it('attemptTimeoutMs defaults to a third of a short timeoutMs', () => {
      expect(resolveOptions({ view: VIEW, timeoutMs: 600 }, FakeWebSocket, fixedId).attemptTimeoutMs).to.equal(200);
    });

    it('keeps what is given: token, clientId, attemptTimeoutMs; an empty token is no token', () => {
      const r = resolveOptions({ view: 'WSS://h:1', token: 't', clientId: 'me', attemptTimeoutMs: 50 }, FakeWebSocket, fixedId);
      expect([r.token, r.clientId, r.attemptTimeoutMs]).to.deep.equal(['t', 'me', 50]);
      expect(resolveOptions({ view: VIEW, token: '' }, FakeWebSocket, fixedId).token).to.equal(null);
    });

    it('a partial backoff keeps the default of each field left out', () => {
      const r = resolveOptions({ view: VIEW, backoff: { minMs: 10 } }, FakeWebSocket, fixedId);
      expect(r.backoff).to.deep.equal({ ...DEFAULT_BACKOFF, minMs: 10 });
    });

    it('randomId makes 21 url-safe characters, different each time', () => {
      const a = randomId();
      expect(a).to.match(/^[A-Za-z0-9_-]{21}$/);
      expect(randomId()).to.not.equal(a);
    });
  });

  describe('validation: BAD_REQUEST with a message naming the option', () => {
    const cases: [string, unknown, string][] = [
      ['no options', undefined, 'view must be the view service\'s ws:// or wss:// URL, or a non-empty array of them (got undefined)'],
      ['an http view', { view: 'http://h:7000' }, 'view must be the view service\'s ws:// or wss:// URL, or a non-empty array of them (got "http://h:7000")'],
      ['an empty list of views', { view: [] }, 'view must be the view service\'s ws:// or wss:// URL, or a non-empty array of them (got [])'],
      ['a list with an http view', { view: [VIEW, 'http://h:7000'] }, 'view must be the view service\'s ws:// or wss:// URL, or a non-empty array of them (got ["ws://127.0.0.1:7000","http://h:7000"])'],
      ['timeoutMs 0', { view: VIEW, timeoutMs: 0 }, 'timeoutMs must be a positive number of milliseconds (got 0)'],
      ['timeoutMs Infinity', { view: VIEW, timeoutMs: Infinity }, 'timeoutMs must be a positive number of milliseconds (got Infinity)'],
      ['timeoutMs as a string', { view: VIEW, timeoutMs: '5' }, 'timeoutMs must be a positive number of milliseconds (got 5)'],
      ['attemptTimeoutMs -1', { view: VIEW, attemptTimeoutMs: -1 }, 'attemptTimeoutMs must be a positive number of milliseconds (got -1)'],
      ['an empty clientId', { view: VIEW, clientId: '' }, 'clientId must be a non-empty string of at most 512 characters'],
      ['a clientId of 513 characters', { view: VIEW, clientId: 'x'.repeat(513) }, 'clientId must be a non-empty string of at most 512 characters'],
      ['a token that is a number', { view: VIEW, token: 5 }, 'token must be a string or a function returning one'],
      ['a logger without child()', { view: VIEW, logger: { debug() {}, info() {}, warn() {}, error() {} } },
        'logger must be a pino-compatible logger: an object with debug, info, warn, error and child methods'],
      ['a backoff that is a string', { view: VIEW, backoff: 'fast' }, 'backoff must be an object { minMs, maxMs, factor, jitter } (got fast)'],
      ['backoff.minMs 0', { view: VIEW, backoff: { minMs: 0 } }, 'backoff.minMs must be a positive number of milliseconds (got {"minMs":0})'],
      ['backoff.maxMs below minMs', { view: VIEW, backoff: { minMs: 100, maxMs: 10 } }, 'backoff.maxMs must be a number of milliseconds ≥ backoff.minMs (got {"minMs":100,"maxMs":10})'],
      ['backoff.factor below 1', { view: VIEW, backoff: { factor: 0.5 } }, 'backoff.factor must be a number ≥ 1 (got {"factor":0.5})'],
      ['backoff.jitter above 1', { view: VIEW, backoff: { jitter: 2 } }, 'backoff.jitter must be a number from 0 to 1 (got {"jitter":2})'],
    ];
    for (const [what, o, message] of cases) {
      it(`refuses ${what}`, () => {
        const err = refusal(o);
        expect(err.code).to.equal('BAD_REQUEST');
        expect(err.message).to.equal(message);
      });
    }

    it('refuses a missing WebSocket constructor, saying how to pass one', () => {
      const err = refusal({ view: VIEW }, null);
      expect(err.code).to.equal('BAD_REQUEST');
      expect(err.message).to.equal('no WebSocket constructor: pass `WebSocket` in the options (e.g. the `ws` package), or use the Node entry understudy/client');
    });

    it('checks eagerly, before any id is made: the first bad option is the one named', () => {
      let made = 0;
      expect(() => resolveOptions({ view: VIEW, timeoutMs: -5, token: 5 as unknown as string }, FakeWebSocket, () => `id-${++made}`))
        .to.throw(UnderstudyError, 'timeoutMs must be');
      expect(made).to.equal(0);
    });
  });
});
