/**
 * The import graph, checked: folders are floors, and no arrow runs back up. Every .ts file under src/ and workers/
 * is parsed (with the TypeScript compiler already in devDependencies) for each module it names: imports, `import
 * type`, `export ... from`, `import('literal')` and `typeof import('literal')`. Type-only arrows count: a type on the
 * wrong floor is how a real import starts. Then four rules:
 *   (a) no cycle anywhere in src/;
 *   (b) src/journal is storage only: node builtins, itself and src/errors.ts;
 *   (c) executor-thread code (src/executor, src/scan, src/concurrency, src/models, workers) imports no main-thread folder;
 *   (d) only what sits above the engine (src/cli, src/sim, src/cluster, src/index.ts, src/scenario.ts, src/feed/server*) imports it.
 */
import { builtinModules } from 'node:module';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;

/** File -> the modules it names: repo-relative .ts paths for relative specifiers, the specifier itself otherwise. */
type Graph = ReadonlyMap<string, readonly string[]>;

/** The module specifiers `text` names, in source order. Comments and strings are not imports (the parser knows). */
function specifiersOf(file: string, text: string): string[] {
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier !== undefined && ts.isStringLiteral(n.moduleSpecifier)) {
      out.push(n.moduleSpecifier.text);
    } else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference) && ts.isStringLiteral(n.moduleReference.expression)) {
      out.push(n.moduleReference.expression.text);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments.length > 0 && ts.isStringLiteralLike(n.arguments[0])) {
      out.push(n.arguments[0].text);
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      out.push(n.argument.literal.text);
    }
    ts.forEachChild(n, visit);
  };
  visit(ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS));
  return out;
}

/** `spec` as named from `from`: a relative one as a repo-relative path with `.js` read as `.ts` (NodeNext style). */
function resolve(from: string, spec: string): string {
  if (!spec.startsWith('./') && !spec.startsWith('../')) return spec;
  return posix.normalize(posix.join(posix.dirname(from), spec)).replace(/\.js$/, '.ts');
}

function graphOf(sources: ReadonlyMap<string, string>): Graph {
  return new Map([...sources].map(([file, text]) => [file, specifiersOf(file, text).map((s) => resolve(file, s))]));
}

/**
 * Every cycle's files, one cycle per strongly connected component (Tarjan), each as a path that returns to its
 * start: ['a', 'b', 'a']. Components are found over the files of `graph` only.
 */
function cycles(graph: Graph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const next = (v: string): string[] => (graph.get(v) ?? []).filter((w) => graph.has(w));
  const strongConnect = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next(v)) {
      if (!index.has(w)) {
        strongConnect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component = new Set<string>();
    for (let w = stack.pop()!; ; w = stack.pop()!) {
      onStack.delete(w);
      component.add(w);
      if (w === v) break;
    }
    if (component.size > 1 || next(v).includes(v)) found.push(cycleThrough(v, component, next));
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) strongConnect(v);
  return found;
}

/** A shortest path from `start` back to itself inside `component` (breadth first, so the printout is short). */
function cycleThrough(start: string, component: ReadonlySet<string>, next: (v: string) => string[]): string[] {
  const parent = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    for (const w of next(queue[i]).filter((x) => component.has(x))) {
      if (w === start) {
        const path: string[] = [];
        for (let v = queue[i]; v !== start; v = parent.get(v)!) path.unshift(v);
        return [start, ...path, start];
      }
      if (!parent.has(w)) {
        parent.set(w, queue[i]);
        queue.push(w);
      }
    }
  }
  return [start];
}

interface Rule {
  /** Files the rule applies to. */
  readonly from: (file: string) => boolean;
  /** Whether `file` may name `target`. */
  readonly allows: (target: string, file: string) => boolean;
}

/** Arrows `graph` has that `rule` refuses, as 'from -> to'. */
function violations(graph: Graph, rule: Rule): string[] {
  return [...graph].flatMap(([file, targets]) => (rule.from(file) ? targets.filter((t) => !rule.allows(t, file)).map((t) => `${file} -> ${t}`) : []));
}

const under = (...folders: string[]) => (file: string) => folders.some((f) => file.startsWith(`${f}/`));
const isBuiltin = (spec: string) => spec.startsWith('node:') || builtinModules.includes(spec);

const JOURNAL_IS_STORAGE: Rule = {
  from: under('src/journal'),
  allows: (t) => isBuiltin(t) || t.startsWith('src/journal/') || t === 'src/errors.ts',
};
const MAIN_THREAD = under('src/clearing', 'src/engine', 'src/feed', 'src/journal', 'src/oracle', 'src/cli', 'src/sim', 'src/cluster');
const EXECUTOR_THREAD_STAYS_OFF_MAIN: Rule = {
  from: under('src/executor', 'src/scan', 'src/concurrency', 'src/models', 'workers'),
  allows: (t) => !MAIN_THREAD(t),
};
const ABOVE_ENGINE = (file: string) =>
  under('src/engine', 'src/cli', 'src/sim', 'src/cluster')(file) || file === 'src/index.ts' || file === 'src/scenario.ts' || file.startsWith('src/feed/server');
const NOTHING_BELOW_IMPORTS_ENGINE: Rule = {
  from: (f) => !ABOVE_ENGINE(f),
  allows: (t) => !t.startsWith('src/engine/'),
};

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const rel = `${dir}/${name}`;
    return statSync(join(ROOT, rel)).isDirectory() ? tsFiles(rel) : rel.endsWith('.ts') ? [rel] : [];
  });
}

const printCycles = (cs: string[][]) => cs.map((c) => c.join(' -> '));

describe('the import graph of src/ and workers/', () => {
  const files = [...tsFiles('src'), ...tsFiles('workers')];
  const graph = graphOf(new Map(files.map((f) => [f, readFileSync(join(ROOT, f), 'utf8')])));

  it('is read from every source file and resolves every relative import to one of them', () => {
    expect(files.length).toBeGreaterThanOrEqual(50);
    expect(graph.get('workers/executor.worker.ts')).toContain('src/executor/executor.ts');
    const dangling = [...graph].flatMap(([f, targets]) => targets.filter((t) => t.startsWith('src/') || t.startsWith('workers/')).filter((t) => !graph.has(t)).map((t) => `${f} -> ${t}`));
    expect(dangling).toEqual([]);
  });

  it('has no import cycle in src/, type-only imports included', () => {
    const src = new Map([...graph].filter(([f]) => f.startsWith('src/')));
    expect(printCycles(cycles(src))).toEqual([]);
  });

  it('keeps src/journal storage only: node builtins, the journal itself and src/errors.ts', () => {
    expect(violations(graph, JOURNAL_IS_STORAGE)).toEqual([]);
  });

  it('keeps executor-thread code (executor, scan, concurrency, workers) off every main-thread folder', () => {
    expect(violations(graph, EXECUTOR_THREAD_STAYS_OFF_MAIN)).toEqual([]);
  });

  it('lets only the layers above the engine import src/engine', () => {
    expect(violations(graph, NOTHING_BELOW_IMPORTS_ENGINE)).toEqual([]);
  });
});

describe('the import-graph checker itself', () => {
  it('reads imports, import type, re-exports and literal dynamic imports, and resolves .js to .ts', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "export { c } from './c/c.js';",
      "export * from './d.js';",
      "export type { E } from './e.js';",
      "import './side-effect.js';",
      "import { readFileSync } from 'node:fs';",
      "const f = await import('./f.js');",
      "type G = typeof import('./g.js');",
      "// import { h } from './commented.js';",
      "/* import { i } from './block-commented.js'; */",
      "const s = \"import { j } from './in-a-string.js'\";",
      "const dynamic = await import(name);",
    ].join('\n');
    expect(specifiersOf('src/x/y.ts', text).map((s) => resolve('src/x/y.ts', s))).toEqual([
      'src/x/a.ts',
      'src/b.ts',
      'src/x/c/c.ts',
      'src/x/d.ts',
      'src/x/e.ts',
      'src/x/side-effect.ts',
      'node:fs',
      'src/x/f.ts',
      'src/x/g.ts',
    ]);
  });

  it('finds a cycle, type-only arrows included, and prints its files in order', () => {
    const graph = graphOf(
      new Map([
        ['src/a.ts', "import { b } from './b.js';"],
        ['src/b.ts', "import type { C } from './c.js';"],
        ['src/c.ts', "export { a } from './a.js';"],
        ['src/d.ts', "import { a } from './a.js';"],
        ['src/self.ts', "import type { Me } from './self.js';"],
      ]),
    );
    expect(printCycles(cycles(graph))).toEqual(['src/a.ts -> src/b.ts -> src/c.ts -> src/a.ts', 'src/self.ts -> src/self.ts']);
  });

  it('finds no cycle in a graph without one', () => {
    const graph = graphOf(
      new Map([
        ['src/a.ts', "import { b } from './b.js'; import { c } from './c.js';"],
        ['src/b.ts', "import { c } from './c.js';"],
        ['src/c.ts', "import { x } from 'node:fs';"],
      ]),
    );
    expect(cycles(graph)).toEqual([]);
  });

  it('flags a forbidden import for each rule and lets the allowed ones through', () => {
    const graph = graphOf(
      new Map([
        ['src/journal/writer.ts', "import { join } from 'node:path'; import 'fs'; import { e } from '../errors.js'; import { r } from './reader.js'; import type { T } from '../tables/layout.js'; import { x } from 'some-package';"],
        ['src/scan/kernels.ts', "import { t } from '../tables/layout.js'; import type { O } from '../oracle/report.js';"],
        ['workers/scan.worker.ts', "import { k } from '../src/scan/kernels.js'; const j = await import('../src/journal/writer.js');"],
        ['src/feed/ingest.ts', "import type { Engine } from '../engine/engine.js';"],
        ['src/feed/server.ts', "import type { Engine } from '../engine/engine.js';"],
        ['src/cli/main.ts', "import { Engine } from '../engine/engine.js';"],
      ]),
    );
    expect(violations(graph, JOURNAL_IS_STORAGE)).toEqual(['src/journal/writer.ts -> src/tables/layout.ts', 'src/journal/writer.ts -> some-package']);
    expect(violations(graph, EXECUTOR_THREAD_STAYS_OFF_MAIN)).toEqual(['src/scan/kernels.ts -> src/oracle/report.ts', 'workers/scan.worker.ts -> src/journal/writer.ts']);
    expect(violations(graph, NOTHING_BELOW_IMPORTS_ENGINE)).toEqual(['src/feed/ingest.ts -> src/engine/engine.ts']);
  });
});
