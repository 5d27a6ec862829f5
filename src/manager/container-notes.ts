// What the daemon keeps beside a live container, by descriptor: its annotations and the spec it was
// started from. Both go when the container goes.

export class ContainerNotes {
  readonly #annotations = new Map<number, Map<string, string>>();
  readonly #specs = new Map<number, string>();

  annotate(descriptor: number, key: string, value: string): void {
    let map = this.#annotations.get(descriptor);
    if (map === undefined) this.#annotations.set(descriptor, (map = new Map()));
    map.set(key, value);
  }

  removeAnnotation(descriptor: number, key: string): boolean {
    return this.#annotations.get(descriptor)?.delete(key) ?? false;
  }

  annotations(descriptor: number): ReadonlyMap<string, string> {
    return this.#annotations.get(descriptor) ?? new Map();
  }

  setSpec(descriptor: number, spec: string): void {
    this.#specs.set(descriptor, spec);
  }

  specOf(descriptor: number): string | undefined {
    return this.#specs.get(descriptor);
  }

  forget(descriptor: number): void {
    this.#annotations.delete(descriptor);
    this.#specs.delete(descriptor);
  }
}
