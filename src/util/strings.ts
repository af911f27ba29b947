// Strings that the heap keeps once: long-lived copies and an interning table.
//
// V8 makes a substring of 13 characters or more a view of its parent, and JSON.parse gives every
// string value its own copy. So an oid cut from a packed-refs file keeps the whole file alive, and
// 10,000 decoded objects hold 10,000 copies of "pkg.pkgserver.dev/v1alpha1", of the same
// timestamps and the same author: half the bytes of the strings in a heap snapshot at 10,000
// revisions were such duplicates.

/** A copy of `s` that does not keep the string it was cut from alive. */
export function own(s: string): string {
  return s.length < 13 ? s : Buffer.from(s, 'utf8').toString('utf8');
}

/**
 * An interning table: the first instance of each short string is kept and handed out for every
 * equal one. Bounded: when full it starts over (what was shared stays shared; later strings are
 * shared among themselves), so strings of deleted objects are not kept forever.
 */
export class Interner {
  private table = new Map<string, string>();

  constructor(
    private readonly maxEntries = 100_000,
    private readonly maxLength = 64,
  ) {}

  get size(): number {
    return this.table.size;
  }

  intern(s: string): string {
    if (s.length > this.maxLength || s.length < 2) return s;
    const known = this.table.get(s);
    if (known !== undefined) return known;
    if (this.table.size >= this.maxEntries) this.table = new Map();
    this.table.set(s, s);
    return s;
  }
}
