// Linear-to-physical translations kept while the guest stands still. A stop's views read the
// same few pages again and again (a task's fields, the stack, a string, each variable), and
// every read walks four levels of the guest's page tables. A walk holds until a vCPU runs or has
// its special registers set (each vCPU's cached Sregs object is then a new one) or the monitor
// writes guest memory (GuestMemory.monitorWrites moves): the stamp this cache is filled under.

/** The 4 KiB linear pages of each vCPU, with the guest-physical address each starts at. */
export class TranslationCache {
  private stamp: readonly unknown[] = [];
  private byVcpu: Map<bigint, number>[] = [];

  /** vCPU `index`'s pages, emptied first if anything in `stamp` differs from what they were found under. */
  pages(index: number, stamp: readonly unknown[]): Map<bigint, number> {
    if (stamp.length !== this.stamp.length || stamp.some((s, i) => s !== this.stamp[i])) {
      this.stamp = stamp;
      this.byVcpu = [];
    }
    return (this.byVcpu[index] ??= new Map());
  }
}
