import { afterEach, expect, it } from 'vitest';
import { Engine } from '../src/index.js';
import { journaled, loadBook, playSteps, removeTempDirs, tempDir, segmentsOf, recordsOf, snapshotsOf } from './support/journal.js';
afterEach(removeTempDirs);
it('explores', async () => {
  const dir = tempDir();
  const log: string[] = [];
  const t0 = Date.now();
  const e = await Engine.start(journaled(dir, log, { snapshotEveryRecords: 100 }));
  loadBook(e, 7);
  const p = await playSteps(e, 7, 0, 30);
  console.log(p, e.outputCounts, e.inputCount, e.epochs, e.outputDigest());
  await e.close();
  console.log(Date.now() - t0, segmentsOf(dir), snapshotsOf(dir), recordsOf(segmentsOf(dir)[0]!).length, log);
});
