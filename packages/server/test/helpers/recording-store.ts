/**
 * A RunStore decorator that remembers every commit (a deep copy of the document, in commit order), so tests can
 * say what was durable at the moment something else happened (e.g. when the external system saw the POST).
 */
import type { RunSummary } from '@tether/machine';
import type { CommitOptions, LoadedStore, RunDoc, RunFiles } from '../../src/store/types.ts';

export class RecordingStore implements RunFiles {
  readonly commits: RunDoc[] = [];
  /** Make the next commits fail (disk full…), to test that nothing is acknowledged or executed. */
  failCommits = 0;

  constructor(private readonly inner: RunFiles) {}

  get dir(): string {
    return this.inner.dir;
  }

  load(): Promise<LoadedStore> {
    return this.inner.load();
  }

  async commit(doc: RunDoc, summary: RunSummary, opts?: CommitOptions): Promise<void> {
    if (this.failCommits > 0) {
      this.failCommits--;
      throw Object.assign(new Error('ENOSPC: no space left on device (simulated)'), { code: 'ENOSPC' });
    }
    await this.inner.commit(doc, summary, opts);
    this.commits.push(JSON.parse(JSON.stringify(doc)) as RunDoc);
  }

  remove(runId: string): Promise<void> {
    return this.inner.remove(runId);
  }

  read(runId: string): Promise<RunDoc | null> {
    return this.inner.read(runId);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  commitsOf(runId: string): RunDoc[] {
    return this.commits.filter((d) => d.id === runId);
  }
}
