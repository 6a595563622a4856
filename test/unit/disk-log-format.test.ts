import { expect } from 'chai';
import { crc32 as zlibCrc32 } from 'node:zlib';
import {
  crc32, encodeRecords, scan, RecordType, LogRecord, HEADER_BYTES, SECTOR_BYTES, recordBytes,
} from '../../server/replica/disk/log-format';

function ops(index: number, text: string): LogRecord {
  return { type: RecordType.Ops, index, count: 1, payload: text };
}

const RECORDS: LogRecord[] = [
  { type: RecordType.Identity, index: 0, count: 0, payload: '{"id":"ws://a","incarnation":"x1"}' },
  { type: RecordType.View, index: 3, count: 0, payload: '{"viewnum":3,"primary":"ws://a","backup":"ws://b"}' },
  ops(1, '{"type":"fwd","viewnum":3,"index":1,"ops":[{"op":"put","key":"k","value":"v"}]}'),
  { type: RecordType.Ops, index: 2, count: 2, payload: Buffer.from('{"type":"fwd","index":2,"ops":[1,2]}') },
  ops(4, 'é'.repeat(300) + '✓'),
];

describe('log-format', () => {
  describe('#crc32', () => {
    it('equals zlib.crc32 for every length from 0 to 600 (table below 256 bytes, native above)', () => {
      const buf = Buffer.alloc(700);
      for (let i = 0; i < buf.length; i++) buf[i] = (i * 131 + 7) & 0xff;
      for (let n = 0; n <= 600; n++) expect(crc32(buf, 50, 50 + n), `length ${n}`).to.equal(zlibCrc32(buf.subarray(50, 50 + n)));
    });
  });

  describe('#encodeRecords / #scan', () => {
    it('round-trips every field and keeps the payload bytes as given (SPEC §9: frames not re-encoded)', () => {
      const buf = encodeRecords(RECORDS);
      const { records, end, validBytes } = scan(buf);
      expect(end).to.deep.equal({ kind: 'clean' });
      expect(validBytes).to.equal(buf.length);
      expect(records.map((r) => [r.type, r.index, r.count, r.payload.toString()])).to.deep.equal(
        RECORDS.map((r) => [r.type, r.index, r.count, Buffer.from(r.payload).toString()]));
    });

    it('aligns every record to 8 bytes', () => {
      const { records } = scan(encodeRecords(RECORDS));
      for (const r of records) expect(r.offset % 8).to.equal(0);
      expect(encodeRecords([ops(1, 'abc')]).length).to.equal(recordBytes(3)).and.to.equal(HEADER_BYTES + 8);
    });

    it('keeps indexes above 2^32 exact', () => {
      const big = 2 ** 40 + 12345;
      expect(scan(encodeRecords([ops(big, 'x')])).records[0].index).to.equal(big);
    });

    it('refuses an index that is not a non-negative safe integer', () => {
      expect(() => encodeRecords([ops(-1, 'x')])).to.throw(RangeError);
      expect(() => encodeRecords([ops(1.5, 'x')])).to.throw(RangeError);
    });
  });

  describe('torn tail (SPEC §9: a short last record was never acknowledged)', () => {
    it('returns every complete record when the buffer is cut at any byte of the last record', () => {
      const buf = encodeRecords(RECORDS);
      const last = scan(buf).records[RECORDS.length - 1].offset;
      for (let cut = last; cut < buf.length; cut++) {
        const r = scan(buf.subarray(0, cut));
        expect(r.records, `cut at ${cut}`).to.have.length(RECORDS.length - 1);
        expect(r.validBytes).to.equal(last);
        if (cut === last) expect(r.end).to.deep.equal({ kind: 'clean' });
        else expect(r.end, `cut at ${cut}`).to.include({ kind: 'torn', offset: last });
      }
    });

    it('treats a zero-filled sector in the last record as torn (a page that never reached the disk)', () => {
      const head = encodeRecords([ops(1, 'a')]);
      const big = encodeRecords([ops(2, 'y'.repeat(3 * SECTOR_BYTES))]);
      const buf = Buffer.concat([head, big]);
      buf.fill(0, SECTOR_BYTES, 2 * SECTOR_BYTES); // the second sector of the big record is lost
      const r = scan(buf);
      expect(r.records).to.have.length(1);
      expect(r.end).to.include({ kind: 'torn', offset: head.length });
    });

    it('treats zeros after the last record (the file grew, the data did not land) as torn', () => {
      const buf = Buffer.concat([encodeRecords([ops(1, 'a')]), Buffer.alloc(100)]);
      expect(scan(buf).end).to.include({ kind: 'torn', offset: 40 });
    });
  });

  describe('damage (SPEC §9: anything but a torn tail refuses to start)', () => {
    it('reports a flipped bit in any byte of an earlier record as damage at that record', () => {
      const buf = encodeRecords(RECORDS);
      const { records } = scan(buf);
      const victim = records[2];
      const size = records[3].offset - victim.offset;
      for (let i = 0; i < size; i++) {
        const copy = Buffer.from(buf);
        copy[victim.offset + i] ^= 0x10;
        const r = scan(copy);
        expect(r.records, `byte ${i}`).to.have.length(2);
        expect(r.end, `byte ${i}`).to.include({ kind: 'damage', offset: victim.offset });
      }
    });

    it('reports a damaged length (header checksum) as damage, not as a record running past the end', () => {
      const buf = encodeRecords([ops(1, 'a'), ops(2, 'b')]);
      buf.writeUInt32LE(1_000_000, 40); // the last record's length now runs past the end
      expect(scan(buf).end).to.deep.include({ kind: 'damage', offset: 40, reason: 'header checksum mismatch' });
    });

    it('reports an unknown record type with a valid checksum as damage', () => {
      const buf = encodeRecords([{ type: 9 as never, index: 0, count: 0, payload: 'x' }]);
      expect(scan(buf).end).to.include({ kind: 'damage', offset: 0 });
    });
  });
});
