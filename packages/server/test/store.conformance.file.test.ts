/**
 * The store conformance suite (test/store-conformance/suite.ts) against the embedded default store: FileRunStore over
 * LowdbRunStore, a temp directory per test (test/store-conformance/file-store.ts).
 */
import { describeStoreConformance } from './store-conformance/suite.ts';
import { fileStoreStorage } from './store-conformance/file-store.ts';

describeStoreConformance('FileRunStore', () => fileStoreStorage());
