/** `--standby hot|cold` (SPEC §9): parsed, checked, and cold only with a data dir. */
import { expect } from 'chai';
import { normalizeReplicaOptions } from '../../common/config';

describe('--standby (SPEC §9)', () => {
  it('defaults to hot; cold with --data-dir; an unknown value or cold without a data dir is a usage error (SPEC §9)', () => {
    expect(normalizeReplicaOptions({}, {}).standby).to.equal('hot');
    expect(normalizeReplicaOptions({ standby: 'cold', 'data-dir': '/tmp/x' }, {}).standby).to.equal('cold');
    expect(normalizeReplicaOptions({}, { UNDERSTUDY_STANDBY: 'cold', UNDERSTUDY_DATA_DIR: '/tmp/x' }).standby).to.equal('cold');
    expect(() => normalizeReplicaOptions({ standby: 'warm', 'data-dir': '/tmp/x' }, {})).to.throw(/--standby must be hot or cold/);
    expect(() => normalizeReplicaOptions({ standby: 'cold' }, {})).to.throw(/needs --data-dir/);
  });
});
