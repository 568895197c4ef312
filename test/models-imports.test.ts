/**
 * src/models runs on the executor thread and in snapshots, so it stays low: it may import itself, the domain math
 * (src/domain) and the leaves (src/errors.ts, src/validate.ts, src/config-types.ts), and no package or builtin.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;
const LEAVES = ['src/errors.ts', 'src/validate.ts', 'src/config-types.ts'];

function specifiers(file: string, text: string): string[] {
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier !== undefined && ts.isStringLiteral(n.moduleSpecifier)) out.push(n.moduleSpecifier.text);
    else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments.length > 0) out.push(ts.isStringLiteralLike(n.arguments[0]) ? n.arguments[0].text : '<dynamic>');
    else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) out.push(n.argument.literal.text);
    ts.forEachChild(n, visit);
  };
  visit(ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS));
  return out;
}

describe('the imports of src/models', () => {
  const files = readdirSync(join(ROOT, 'src/models'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `src/models/${f}`);

  it('are read from every file of the folder', () => {
    expect(files).toEqual(expect.arrayContaining(['src/models/index.ts', 'src/models/garch.ts', 'src/models/impact.ts']));
  });

  it('name only the folder itself, src/domain and the leaves', () => {
    const bad = files.flatMap((file) =>
      specifiers(file, readFileSync(join(ROOT, file), 'utf8'))
        .map((s) => (s.startsWith('.') ? posix.normalize(posix.join(posix.dirname(file), s)).replace(/\.js$/, '.ts') : s))
        .filter((t) => !(t.startsWith('src/models/') || t.startsWith('src/domain/') || LEAVES.includes(t)))
        .map((t) => `${file} -> ${t}`),
    );
    expect(bad).toEqual([]);
  });
});
