/**
 * Repeated spectrum ids. astrospec never uses ids as keys (every output row carries its 0-based
 * `row` in the input, and evaluate matches by row), so repeated ids are read and written as they
 * are; but a user joining predictions to a catalogue by id would silently get duplicate matches,
 * so classify and evaluate warn about them on stderr (docs/formats.md, "Hostile input").
 */
export interface DuplicateIds {
  /** Rows whose id appeared in an earlier row. */
  repeats: number;
  /** The first repeated id and the 0-based rows of its first two appearances. */
  first?: { id: string; rows: [number, number] };
  /** Rows checked (ids beyond `limit` rows are not remembered, to keep memory bounded). */
  checked: number;
}

export class DuplicateIdTracker {
  // One hash lookup per id (add, then compare sizes), where a Map's get-then-set took two on
  // classify's main thread. The rows of remembered ids, in the order added, give the earlier row
  // of the first repeat.
  private readonly seen = new Set<string>();
  private readonly ids: string[] = [];
  private readonly rows: number[] = [];
  readonly report: DuplicateIds = { repeats: 0, checked: 0 };

  /** `limit`: rows remembered; a catalogue of tens of millions of ids would otherwise cost gigabytes. */
  constructor(private readonly limit = 1_000_000) {}

  add(ids: readonly string[], firstRow: number): void {
    for (let i = 0; i < ids.length && this.report.checked < this.limit; i++) {
      const id = ids[i]!;
      const row = firstRow + i;
      this.report.checked++;
      const size = this.seen.size;
      this.seen.add(id);
      if (this.seen.size > size) {
        this.ids.push(id);
        this.rows.push(row);
        continue;
      }
      this.report.repeats++;
      this.report.first ??= { id, rows: [this.rows[this.ids.indexOf(id)]!, row] };
    }
  }
}

export function findDuplicateIds(ids: readonly string[], firstRow = 0): DuplicateIds {
  const tracker = new DuplicateIdTracker(Number.POSITIVE_INFINITY);
  tracker.add(ids, firstRow);
  return tracker.report;
}

/** One line for stderr, or undefined when no id repeats. */
export function describeDuplicateIds(file: string, d: DuplicateIds | undefined): string | undefined {
  if (!d?.first) return undefined;
  const { id, rows } = d.first;
  const shown = id.length > 60 ? `${id.slice(0, 60)}…` : id;
  return (
    `astrospec: warning: ${file}: id "${shown}" is in rows ${rows[0]} and ${rows[1]}; ${d.repeats} row${d.repeats > 1 ? 's repeat' : ' repeats'} an earlier id` +
    ` (rows are matched by position, never by id)\n`
  );
}
