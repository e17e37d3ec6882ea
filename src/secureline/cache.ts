/** Short-lived caches of what every delivery of an organisation reads. */
export class Cache<T> {
  private readonly entries = new Map<string, { value: Promise<T>; at: number }>();
  private readonly ttlMs: number;
  constructor(ttlMs: number) {
    this.ttlMs = ttlMs;
  }
  forget(key: string): void {
    this.entries.delete(key);
  }
  get(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.entries.get(key);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.value;
    const value = load();
    value.catch(() => this.entries.delete(key));
    this.entries.set(key, { value, at: Date.now() });
    return value;
  }
}
