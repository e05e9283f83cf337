/**
 * `node:path` and `node:util` in the page's bundle (scripts/build-web.ts; other `node:*` modules get
 * generated stubs). The project modules the page reuses (src/io/fits.ts, src/io/columns.ts) import
 * them for their file-system entry points, which the page never calls; `basename` is real because
 * LAMOST DR1–8 ids are made from file names, and fits.ts calls `promisify` when it loads.
 */

export function basename(path: string): string {
  return path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
}

export function dirname(path: string): string {
  const at = path.lastIndexOf('/');
  return at < 0 ? '.' : at === 0 ? '/' : path.slice(0, at);
}

export function join(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('/').replace(/\/+/g, '/');
}

export const promisify = (f: { name?: string }) => () => Promise.reject(new Error(`${f.name ?? 'a Node function'} is not available in the browser`));
export default {};
