/**
 * The public API names only exported types: typedoc's `notExported` validation over the three entry points
 * (typedoc.json) finds no type that a public signature uses but no entry point exports, so a user can name every
 * type they are handed. (`npm run lint:package`, in CI, runs typedoc's whole validation: every public member documented.)
 */
import { Application, Logger, LogLevel } from 'typedoc';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/package-project.js';

class Collect extends Logger {
  readonly messages: string[] = [];
  override log(message: string, level: LogLevel): void {
    if (level >= LogLevel.Warn) this.messages.push(message);
  }
}

describe('the public API', () => {
  it('exports every type its public signatures use', async () => {
    const app = await Application.bootstrap({
      options: `${ROOT}/typedoc.json`,
      validation: { notExported: true, invalidLink: false, notDocumented: false, rewrittenLink: false, unusedMergeModuleWith: false },
    });
    const logger = new Collect();
    app.logger = logger;
    const project = await app.convert();
    expect(project).toBeDefined();
    app.validate(project!);
    expect(logger.messages.filter((m) => /not included in the documentation/.test(m))).toEqual([]);
    expect(logger.messages).toEqual([]);
  }, 180_000);
});
