/**
 * The compiled package (dist/), which `astrospec` runs. Benchmarks that time classify run it, not
 * the TypeScript sources under tsx: tsx answers every dynamic import() through its loader thread
 * (~3 µs of main-thread CPU per spectrum in a 20 000-spectrum classify) and its workers would load
 * tsx and compile the session worker first, costs users never pay.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Fails unless every src/ file has a dist/ .js at least as new (the bench:* scripts build first). */
export function checkDistIsCurrent(): void {
  const stale: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (path.endsWith('.ts')) {
        const js = join(root, 'dist', path.slice('src/'.length).replace(/\.ts$/, '.js'));
        const built = statSync(js, { throwIfNoEntry: false });
        if (!built || built.mtimeMs < statSync(join(root, path)).mtimeMs) stale.push(path);
      }
    }
  };
  walk('src');
  if (stale.length > 0) throw new Error(`dist/ is older than ${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', …' : ''}: run npm run build:ts first`);
}
