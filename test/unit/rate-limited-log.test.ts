/**
 * server/rate-limited-log.ts: a flood of bad frames logs a bounded number of lines, and the
 * next line says how many were held back (issue #5). Time is a manual clock.
 */
import { expect } from 'chai';
import { RateLimitedLog } from '../../server/rate-limited-log';
import type { Logger } from '../../common/logger';

function recorder(): { log: Logger; lines: { obj: Record<string, unknown>; msg: string }[] } {
  const lines: { obj: Record<string, unknown>; msg: string }[] = [];
  const log: Logger = {
    debug() {}, info() {}, error() {},
    warn(obj: object | string, msg?: string) { lines.push({ obj: obj as Record<string, unknown>, msg: msg ?? '' }); },
    child() { return log; },
  };
  return { log, lines };
}

describe('server/rate-limited-log', () => {
  describe('#warn', () => {
    it('writes at most `burst` lines per interval and key, counting the rest', () => {
      let now = 0;
      const { log, lines } = recorder();
      const rl = new RateLimitedLog(log, { burst: 3, intervalMs: 1000, now: () => now });
      const written = Array.from({ length: 1000 }, () => rl.warn('bad-message', { remote: 'x' }, 'bad message'));
      expect(written.filter(Boolean)).to.have.length(3);
      expect(lines).to.have.length(3);
      expect(rl.suppressed('bad-message')).to.equal(997);
    });

    it('reports the suppressed count on the first line of the next interval', () => {
      let now = 0;
      const { log, lines } = recorder();
      const rl = new RateLimitedLog(log, { burst: 2, intervalMs: 1000, now: () => now });
      for (let i = 0; i < 10; i++) rl.warn('k', { i }, 'flood');
      now = 999;
      expect(rl.warn('k', {}, 'flood')).to.equal(false);
      now = 1000;
      expect(rl.warn('k', { i: 'next' }, 'flood')).to.equal(true);
      expect(lines[2].obj).to.deep.equal({ i: 'next', suppressed: 9 });
      expect(lines[2].msg).to.equal('flood (9 similar lines suppressed)');
      expect(rl.suppressed('k')).to.equal(0);
    });

    it('keeps a separate budget per key', () => {
      const { log, lines } = recorder();
      const rl = new RateLimitedLog(log, { burst: 1, intervalMs: 1000, now: () => 0 });
      rl.warn('a', {}, 'a');
      rl.warn('a', {}, 'a');
      rl.warn('b', {}, 'b');
      expect(lines.map((l) => l.msg)).to.deep.equal(['a', 'b']);
    });
  });
});
