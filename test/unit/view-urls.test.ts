/**
 * Which view-service instance a replica or client uses, of several (SPEC §12, PROTOCOL §1.1):
 * common/view-urls.ts, pure.
 */
import { expect } from 'chai';
import { ViewServiceUrls, splitViewUrls, IGNORE_UNREACHABLE_HINTS } from '../../common/view-urls';

const A = 'ws://a:7000';
const B = 'ws://b:7000';
const C = 'ws://c:7000';

describe('ViewServiceUrls: which view-service instance next (SPEC §12, PROTOCOL §1.1)', () => {
  it('starts at the first URL and stays while no hint comes (at the leader, or no leader known)', () => {
    const u = new ViewServiceUrls([A, B, C]);
    expect(u.current).to.equal(A);
    expect(u.hint(undefined)).to.equal(null);
    expect(u.hint(A)).to.equal(null);
    expect(u.current).to.equal(A);
  });

  it('moves at once to the leader a follower names (PROTOCOL §1.1)', () => {
    const u = new ViewServiceUrls([A, B, C]);
    expect(u.hint(C)).to.equal(C);
    expect(u.current).to.equal(C);
    expect(u.hint(C)).to.equal(null);
  });

  it('a link that closes or cannot open (1012: lead lost; 1006: died) goes on to the next URL, round robin', () => {
    const u = new ViewServiceUrls([A, B, C]);
    expect(u.failed()).to.equal(B);
    expect(u.failed()).to.equal(C);
    expect(u.failed()).to.equal(A);
    u.opened();
    expect(u.hint(B)).to.equal(B);
    u.opened();
    expect(u.failed()).to.equal(C);
  });

  it('a hinted URL that could not open is not followed again for a while (a follower names a dead leader until its lease ends), then is', () => {
    const u = new ViewServiceUrls([A, B]);
    u.opened();
    expect(u.hint(B)).to.equal(B); // the follower A names B
    expect(u.failed()).to.equal(A); // B does not open: back to A
    u.opened();
    for (let i = 0; i < IGNORE_UNREACHABLE_HINTS; i++) expect(u.hint(B)).to.equal(null);
    expect(u.current).to.equal(A);
    expect(u.hint(B)).to.equal(B); // it may lead again by now
    u.opened();
    expect(u.failed()).to.equal(A); // it opened, then closed: not unreachable
    expect(u.hint(B)).to.equal(B);
  });

  it('a hint naming no URL of the list means "not here": the next URL, never the unlisted address', () => {
    const u = new ViewServiceUrls([A, B]);
    expect(u.hint('ws://10.0.0.9:7000')).to.equal(B);
    expect(u.current).to.equal(B);
    expect(u.hint('ws://10.0.0.9:7000')).to.equal(A);
  });

  it('one URL: always that one, whatever the hints and failures', () => {
    const u = new ViewServiceUrls([A]);
    expect(u.hint(B)).to.equal(null);
    expect(u.failed()).to.equal(A);
    expect(u.current).to.equal(A);
  });

  it('refuses an empty list; splitViewUrls reads a comma list (--view, UNDERSTUDY_VIEW)', () => {
    expect(() => new ViewServiceUrls([])).to.throw(/at least one/);
    expect(splitViewUrls(` ${A}, ${B},,`)).to.deep.equal([A, B]);
    expect(splitViewUrls(A)).to.deep.equal([A]);
  });
});
